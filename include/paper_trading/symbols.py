"""Ticker symbols as Alpaca writes them: letters, digits, and `.` or `/` between them (`BRK.B`, `BTC/USD`).

Every symbol that comes from a person's file (instrument map, prices, positions, orders, the
blacklist) passes here after trimming and upper-casing, so `aa pl` or `AAPL;` is refused with the
row named instead of becoming an order for a symbol the broker does not know.
"""

from __future__ import annotations

import re

SYMBOL_PATTERN = r"[A-Z0-9]+(?:[./][A-Z0-9]+)*"
MAX_SYMBOL_LENGTH = 21
_SYMBOL = re.compile(SYMBOL_PATTERN)


def normalize_symbol(value: object) -> str:
    """Trimmed and upper-cased text of `value` (empty for None)."""
    return "" if value is None else str(value).strip().upper()


def is_symbol(text: str) -> bool:
    """True if `text` (already normalized) is a valid Alpaca symbol."""
    return len(text) <= MAX_SYMBOL_LENGTH and _SYMBOL.fullmatch(text) is not None


def checked_symbol(value: object) -> str:
    """The normalized symbol, or ValueError saying what a symbol looks like."""
    text = normalize_symbol(value)
    if not is_symbol(text):
        raise ValueError(f"expected a symbol of letters and digits (with '.' or '/' inside, e.g. BRK.B), got {value!r}")
    return text
