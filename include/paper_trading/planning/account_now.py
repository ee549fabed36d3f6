"""The account as it is now — equity, cash, positions, latest prices, flags — from the broker or
from offline inputs, gathered in one place so that no step branches on where they come from.

Offline is the spec's one-click dry run without Alpaca: a person types the equity, gives a
positions CSV and prices (a CSV or one price for every symbol). Those values are checked as input
(finite, prices > 0) here; what the broker says is taken as it is, an unfunded account included
(equity 0 is an outcome the planner reports, not an error).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from paper_trading.errors import InputError
from paper_trading.paths import display_path
from paper_trading.planning.inputs import (
    check_price,
    read_last_closes,
    read_positions,
    read_prices,
)

if TYPE_CHECKING:
    from paper_trading.broker.types import Broker

#: Larger than any account: a typed amount above it is a typo (and would overflow share counts).
MAX_AMOUNT = 1e15
ACCOUNT_FLAGS = ("trading_blocked", "account_blocked", "trade_suspended_by_user")


@dataclass(frozen=True)
class AccountNow:
    equity: float
    cash: float
    positions: dict[str, float]
    prices: dict[str, float]
    source: str  # broker | offline
    flags: dict[str, bool] = field(default_factory=dict)
    missing_prices: tuple[str, ...] = ()


def from_broker(broker: Broker, symbols: Iterable[str], *, include_held: bool = True,
                prices_file: Path | None = None, root: Path | None = None) -> AccountNow:
    """Account, positions and latest prices (of `symbols`, and of every held symbol if
    `include_held`) from the broker; prices from `prices_file` instead when one is given."""
    account = broker.account()
    held = {p.symbol: float(p.qty) for p in broker.positions()}
    wanted = set(symbols) | (set(held) if include_held else set())
    missing: Sequence[str]
    if prices_file is not None:
        prices, missing = read_prices(prices_file, root), ()
    else:
        quotes, missing = broker.latest_prices(wanted)
        prices = {s: float(q.price) for s, q in quotes.items()}
    flags = {flag: bool(getattr(account, flag)) for flag in ACCOUNT_FLAGS}
    return AccountNow(float(account.equity), float(account.cash), held, prices, "broker", flags, tuple(missing))


def offline(equity: float, symbols: Iterable[str], *, cash: float | None = None, positions: Path | None = None,
            prices: Path | None = None, fill_price: float | None = None, root: Path | None = None,
            bars: Path | None = None, trade_date=None) -> AccountNow:
    """What a person typed: `--equity`, `--cash` (default: equity minus the positions' value),
    `--positions` CSV, and `--prices` CSV or one `--fill-price` for `symbols` and the held ones —
    or, with neither, the last close on or before `trade_date` in the local daily `bars`. `source`
    says which prices were used."""
    equity = _amount(equity, "--equity", positive=True)
    held = read_positions(positions, root) if positions is not None else {}
    wanted = set(symbols) | set(held)
    if prices is None and fill_price is None and bars is not None and trade_date is not None:
        price_map = read_last_closes(bars, wanted, trade_date, root)
        source = f"offline (prices: the last close on or before {trade_date} in {display_path(Path(bars), root)})"
    else:
        price_map = offline_prices(wanted, prices=prices, fill_price=fill_price, root=root)
        # offline_prices took exactly one of the two
        source = "offline (prices: " + (display_path(Path(prices), root) if prices is not None
                                        else f"--fill-price {fill_price:g} for every symbol") + ")"
    if cash is None:
        unpriced = sorted(s for s in held if s not in price_map)
        if unpriced:
            raise InputError(f"{', '.join(unpriced)} held but without a price, so the cash cannot be derived from "
                             "--equity: give their prices, or --cash")
        cash = equity - math.fsum(q * price_map[s] for s, q in held.items())
    else:
        cash = _amount(cash, "--cash", positive=False)
    return AccountNow(equity, cash, held, price_map, source)


def offline_prices(symbols: Iterable[str], *, prices: Path | None = None, fill_price: float | None = None,
                   root: Path | None = None) -> dict[str, float]:
    """Prices typed by a person: one `--fill-price` (finite, > 0) for every symbol, or a `--prices` CSV."""
    fill_price = check_price(fill_price, "--fill-price")
    if fill_price is not None and prices is not None:
        raise InputError("give --prices or --fill-price, not both: which one is meant?")
    if fill_price is not None:
        return {s: fill_price for s in symbols}
    if prices is not None:
        return read_prices(prices, root)
    raise InputError("an offline run needs --prices CSV or --fill-price")


def _amount(value: float, option: str, *, positive: bool) -> float:
    """A dollar amount typed by a person: a finite number (> 0 for equity)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError(f"{option}: expected a finite amount, got {value!r}")
    if positive and value <= 0:
        raise InputError(f"{option}: expected an amount > 0, got {value:g}")
    if abs(value) > MAX_AMOUNT:
        raise InputError(f"{option}: expected an amount of at most {MAX_AMOUNT:g}, got {value:g}")
    return float(value)
