"""Small input files of M2 and the gate: the instrument map, and the offline prices / positions.

Each reader checks what it reads and fails with one line naming the file, the row and what was
expected, so a typo in a hand-made CSV never becomes a silent zero.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .errors import InputError
from .paths import display_path


def _read_csv(path: Path, required: list[str], what: str) -> pd.DataFrame:
    shown = display_path(path)
    if not path.is_file():
        raise InputError(f"{shown}: {what} file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{shown}: cannot read {what} CSV ({str(exc).splitlines()[0]})") from None
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"{shown}: missing column(s) {', '.join(missing)}; the file has {', '.join(frame.columns)}")
    return frame


def _numbers(frame: pd.DataFrame, column: str, path: Path, positive: bool) -> pd.Series:
    values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
    bad = values.isna() | (values <= 0 if positive else values < 0)
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        expected = "a positive number" if positive else "a number >= 0"
        raise InputError(f"{display_path(path)} row {i + 2}: {column} expected {expected}, got {frame[column].iloc[i]!r}")
    return values


def _symbols(frame: pd.DataFrame, path: Path) -> pd.Series:
    symbols = frame["symbol"].str.strip().str.upper()
    empty = symbols.eq("")
    if empty.any():
        raise InputError(f"{display_path(path)} row {int(empty.to_numpy().nonzero()[0][0]) + 2}: symbol is empty")
    dupes = symbols.duplicated()
    if dupes.any():
        i = int(dupes.to_numpy().nonzero()[0][0])
        raise InputError(f"{display_path(path)} row {i + 2}: symbol {symbols.iloc[i]} appears twice")
    return symbols


def read_instrument_map(path: Path) -> pd.DataFrame:
    """gvkey (6-digit string) -> symbol, plus whatever else the map has."""
    frame = _read_csv(path, ["gvkey", "symbol"], "instrument map")
    frame["gvkey"] = frame["gvkey"].str.strip().str.zfill(6)
    bad = ~frame["gvkey"].str.fullmatch(r"\d{6}")
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(f"{display_path(path)} row {i + 2}: gvkey expected up to 6 digits, got {frame['gvkey'].iloc[i]!r}")
    frame["symbol"] = frame["symbol"].str.strip().str.upper()
    dupes = frame["gvkey"].duplicated()
    if dupes.any():
        i = int(dupes.to_numpy().nonzero()[0][0])
        raise InputError(f"{display_path(path)} row {i + 2}: gvkey {frame['gvkey'].iloc[i]} is mapped twice")
    return frame


def read_prices(path: Path) -> dict[str, float]:
    """CSV `symbol,price` (the spec's price_source=file)."""
    frame = _read_csv(path, ["symbol", "price"], "prices")
    return dict(zip(_symbols(frame, path), _numbers(frame, "price", path, positive=True)))


def read_positions(path: Path) -> dict[str, float]:
    """CSV `symbol,qty` of the current holdings, for an offline plan."""
    frame = _read_csv(path, ["symbol", "qty"], "positions")
    return dict(zip(_symbols(frame, path), _numbers(frame, "qty", path, positive=False)))
