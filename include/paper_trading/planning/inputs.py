"""Small input files of M2, the gate and execution: the instrument map, the offline prices /
positions, and the orders files (planned, approved).

Each reader checks what it reads and fails with one line naming the file (relative to the project
root), the row as a spreadsheet shows it (the header is row 1) and what was expected, so a typo
in a hand-made CSV never becomes a silent zero, a symbol the broker does not know, or a crash.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd

from paper_trading.errors import InputError
from paper_trading.logging_setup import get_logger
from paper_trading.orders import ORDER_SIDES, ORDER_TYPES, TIMES_IN_FORCE
from paper_trading.paths import display_path
from paper_trading.symbols import is_symbol

log = get_logger("inputs")

#: Alpaca's smallest price increment: a price below it is not a price a broker quotes.
MIN_PRICE = 0.0001
#: More shares than any listed company has: a quantity above it is a typo.
MAX_QTY = 1e12


class _Csv:
    """One CSV file read as text, with the helpers that name its rows in errors."""

    def __init__(self, path: Path, required: list[str], what: str, root: Path | None) -> None:
        self.path = Path(path)
        self.shown = display_path(self.path, root)
        self.what = what
        if not self.path.exists():
            raise InputError(f"{self.shown}: {what} file not found")
        if not self.path.is_file():
            raise InputError(f"{self.shown}: not a regular file; expected the {what} CSV")
        try:
            frame = pd.read_csv(self.path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except pd.errors.EmptyDataError:
            raise InputError(
                f"{self.shown}: {what} file is empty; expected a header with {', '.join(required)}"
            ) from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{self.shown}: cannot read {what} CSV ({reason})") from None
        header = self._header()
        dupes = sorted({c for c in header if header.count(c) > 1})
        if dupes:  # pandas would rename the second one `price.1` and read the first
            raise InputError(f"{self.shown}: column(s) {', '.join(dupes)} appear more than once in the header")
        frame.columns = [str(c).strip() for c in frame.columns]
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise InputError(
                f"{self.shown}: missing column(s) {', '.join(missing)}; the file has "
                f"{', '.join(frame.columns) or 'no columns'}"
            )
        self.frame = frame.reset_index(drop=True)
        self.rows = np.arange(len(frame)) + 2  # each row as a spreadsheet numbers it (the header is row 1)

    def keep(self, mask: np.ndarray) -> None:
        """Go on with the rows where `mask` holds; errors still name each row as the file numbers it."""
        self.frame = self.frame[mask].reset_index(drop=True)
        self.rows = self.rows[mask]

    def drop_non_positive(self, column: str, *, signed: bool = False) -> None:
        """Go on without the rows whose `column` is a number <= 0 (`signed`: whose size is 0, the
        sign saying the side, as a plan's delta_qty), each reported in the log (the spec, M4 §2.1:
        such rows are filtered out, not a failure of the file); a cell that is not a number is left
        for the column's own check to name."""
        values = pd.to_numeric(self.text(column), errors="coerce")
        dropped = ((values.abs() if signed else values) <= 0).to_numpy()
        if dropped.any():
            rows = np.flatnonzero(dropped)
            log.warning(
                "%s: %d row(s) with %s <= 0 filtered out (%s)",
                self.shown,
                len(rows),
                column,
                ", ".join(
                    f"row {self.rows[i]}: {self.frame['symbol'].iloc[i]} {self.frame[column].iloc[i]}"
                    for i in rows[:10]
                ),
            )
            self.keep(~dropped)

    def _header(self) -> list[str]:
        with open(self.path, encoding="utf-8-sig", newline="") as fh:
            return [c.strip() for c in next(csv.reader(fh), [])]

    def fail(self, mask: np.ndarray | pd.Series, column: str, message: str) -> None:
        """Raise for the first row where `mask` holds: `<file> row N: <column> <message>`, where
        `{value}` in the message is that row's cell as written."""
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            value = self.frame[column].iloc[i] if column in self.frame.columns else ""
            raise InputError(f"{self.shown} row {self.rows[i]}: {column} {message.format(value=repr(value))}")

    def text(self, column: str) -> pd.Series:
        return self.frame[column].astype(str).str.strip()

    def numbers(
        self, column: str, *, positive: bool = False, optional: bool = False, minimum: float | None = None
    ) -> pd.Series:
        """Finite numbers (> 0 if `positive`, >= `minimum` if given); empty cells are NaN when
        `optional`, an error otherwise."""
        raw = self.text(column)
        empty = raw.eq("").to_numpy()
        values = pd.to_numeric(raw.where(~empty), errors="coerce").astype("float64").to_numpy()
        if not optional:
            self.fail(empty, column, "is empty; expected a number")
        expected = "a finite number > 0" if positive else "a finite number"
        self.fail(~empty & ~np.isfinite(values), column, f"expected {expected}, got {{value}}")
        if positive:
            self.fail(~empty & (values <= 0), column, f"expected {expected}, got {{value}}")
        if minimum is not None:
            self.fail(~empty & (values < minimum), column, f"expected at least {minimum:g}, got {{value}}")
        return pd.Series(values, index=self.frame.index)

    def symbols(self, column: str = "symbol", *, unique: bool = True) -> pd.Series:
        """Trimmed, upper-cased symbols in Alpaca's syntax (letters, digits, '.' or '/' inside)."""
        symbols = self.text(column).str.upper()
        self.fail(symbols.eq(""), column, "is empty")
        self.fail(
            ~symbols.map(is_symbol).to_numpy(dtype=bool),
            column,
            "expected letters and digits (with '.' or '/' inside, e.g. BRK.B), got {value}",
        )
        if unique:
            self.fail(symbols.duplicated().to_numpy(), column, "{value} appears twice")
        return symbols

    def choice(self, column: str, allowed: tuple[str, ...]) -> pd.Series:
        values = self.text(column).str.lower()
        self.fail(~values.isin(allowed).to_numpy(), column, f"expected one of {', '.join(allowed)}, got {{value}}")
        return values


def read_instrument_map(path: Path, root: Path | None = None) -> pd.DataFrame:
    """gvkey (6-digit string) -> symbol, plus whatever else the map has (sector, ...)."""
    table = _Csv(path, ["gvkey", "symbol"], "instrument map", root)
    if table.frame.empty:
        raise InputError(f"{table.shown}: instrument map has no rows; expected gvkey,symbol rows")
    raw = table.text("gvkey")
    table.fail(raw.eq("").to_numpy(), "gvkey", "is empty; expected up to 6 digits")
    ok = raw.str.fullmatch(r"[0-9]{1,6}(\.0+)?").to_numpy(dtype=bool)
    table.fail(~ok, "gvkey", "expected up to 6 digits, got {value}")
    frame = table.frame.copy()
    frame["gvkey"] = raw.str.replace(r"\.0+$", "", regex=True).str.zfill(6)
    frame["symbol"] = table.symbols(unique=False)
    dupes = frame["gvkey"].duplicated().to_numpy()
    if dupes.any():
        i = int(np.flatnonzero(dupes)[0])
        raise InputError(f"{table.shown} row {i + 2}: gvkey {frame['gvkey'].iloc[i]} is mapped twice")
    shared = frame[frame["symbol"].duplicated(keep=False)]
    for symbol, group in shared.groupby("symbol"):
        log.warning(
            "%s: symbol %s is mapped from %d gvkeys (%s): their target weights add up",
            table.shown,
            symbol,
            len(group),
            ", ".join(group["gvkey"]),
        )
    return frame


def read_prices(path: Path, root: Path | None = None) -> dict[str, float]:
    """CSV `symbol,price` (the spec's price_source=file): finite prices > 0, one row per symbol."""
    table = _Csv(path, ["symbol", "price"], "prices", root)
    if table.frame.empty:
        raise InputError(f"{table.shown}: prices file has no rows; expected symbol,price rows")
    symbols = table.symbols()
    prices = table.numbers("price", positive=True, minimum=MIN_PRICE)
    return dict(zip(symbols, prices.astype(float)))


def read_positions(path: Path, root: Path | None = None) -> dict[str, float]:
    """CSV `symbol,qty` of the current holdings, for an offline plan.

    A negative quantity is a short position: accepted with a warning, as the broker path accepts
    a short it finds (the planner covers it), so an offline dry run reproduces what a real one does.
    """
    table = _Csv(path, ["symbol", "qty"], "positions", root)
    symbols = table.symbols()
    qty = table.numbers("qty")
    table.fail(qty.abs().to_numpy() > MAX_QTY, "qty", f"expected at most {MAX_QTY:g} shares, got {{value}}")
    out = dict(zip(symbols, qty.astype(float)))
    shorts = {s: q for s, q in out.items() if q < 0}
    if shorts:
        log.warning(
            "%s: short position(s) %s; the plan covers them",
            table.shown,
            ", ".join(f"{s} {q:g}" for s, q in sorted(shorts.items())),
        )
    return out


def read_orders(path: Path, columns: list[str], root: Path | None = None, what: str = "orders") -> pd.DataFrame:
    """A planned or approved orders CSV, every row checked.

    Sides, order types and times in force from their lists; quantities and reference prices finite
    and > 0; bracket prices empty or finite and > 0; one order per symbol and side (execution derives
    each order's client_order_id from them, so a repeated row would be one order, not two).
    """
    table = _Csv(path, columns, what, root)
    table.drop_non_positive("qty")
    frame = table.frame.copy()
    frame["symbol"] = table.symbols(unique=False)
    frame["side"] = table.choice("side", ORDER_SIDES)
    frame["qty"] = table.numbers("qty", positive=True)
    table.fail(frame["qty"].to_numpy() > MAX_QTY, "qty", f"expected at most {MAX_QTY:g} shares, got {{value}}")
    frame["ref_price"] = table.numbers("ref_price", positive=True, minimum=MIN_PRICE)
    frame["notional"] = table.numbers("notional", optional=True)
    value = (frame["qty"] * frame["ref_price"]).to_numpy()
    off = frame["notional"].notna().to_numpy() & (
        np.abs(frame["notional"].fillna(0).to_numpy() - value) > np.maximum(0.01, 1e-6 * value)
    )
    table.fail(off, "notional", "{value} is not qty × ref_price")
    frame["order_type"] = table.choice("order_type", ORDER_TYPES)
    frame["time_in_force"] = table.choice("time_in_force", TIMES_IN_FORCE)
    for column in ("tp_price", "sl_price"):
        if column in frame.columns:
            frame[column] = table.numbers(column, positive=True, optional=True)
            legs = frame[column].notna().to_numpy() & (frame["order_type"] != "bracket").to_numpy()
            table.fail(legs, column, "is set on an order that is not a bracket: {value}")
    twice = frame.duplicated(subset=["symbol", "side"]).to_numpy()
    if twice.any():
        i = int(np.flatnonzero(twice)[0])
        raise InputError(
            f"{table.shown} row {table.rows[i]}: a second {frame['side'].iloc[i]} order for "
            f"{frame['symbol'].iloc[i]}; expected one order per symbol and side"
        )
    return frame


def read_plan_as_orders(path: Path, settings, root: Path | None = None) -> pd.DataFrame:
    """Orders derived from a rebalance plan CSV (the spec's fallback when no planned_orders.csv
    exists): each row whose `action` is buy or sell becomes an order of its `planned_qty` (or our
    `delta_qty`) shares, shaped as M2 shapes them (a whole-share buy a bracket on `ref_price`, a
    sell at market). Rows with a quantity <= 0 are filtered out and reported."""
    from paper_trading.planning.rebalance import orders_from_plan

    table = _Csv(path, ["symbol", "action", "ref_price"], "rebalance plan", root)
    qty_column = "planned_qty" if "planned_qty" in table.frame.columns else "delta_qty"
    if qty_column not in table.frame.columns:
        raise InputError(
            f"{table.shown}: missing column planned_qty (or delta_qty); the file has {', '.join(table.frame.columns)}"
        )
    table.keep(table.text("action").str.lower().isin(["buy", "sell"]).to_numpy())
    table.drop_non_positive(qty_column, signed=True)
    frame = pd.DataFrame(
        {
            "symbol": table.symbols(),
            "action": table.text("action").str.lower(),
            "delta_qty": table.numbers(qty_column).abs(),
            "ref_price": table.numbers("ref_price", positive=True, minimum=MIN_PRICE),
            "reason": table.text("reason") if "reason" in table.frame.columns else "rebalance_plan",
        }
    )
    return orders_from_plan(frame, settings)


def check_price(value: float | None, option: str) -> float | None:
    """A price given on the command line: None, or a finite number > 0 (else InputError naming the option)."""
    if value is None:
        return None
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise InputError(f"{option}: expected a finite price > 0, got {value!r}")
    if value < MIN_PRICE:
        raise InputError(
            f"{option}: expected a price of at least {MIN_PRICE:g} (Alpaca's smallest tick), got {value!r}"
        )
    return float(value)


def targets_trade_date(path: Path, root: Path | None = None):
    """The trade date of a targets file given without `--date` (the spec's one-click dry run): its
    `trade_date` column when it has exactly one date, else the YYYYMMDD in its name."""
    import re

    import pyarrow as pa
    import pyarrow.parquet as pq

    shown = display_path(Path(path), root)
    if not Path(path).is_file():
        raise InputError(f"{shown}: targets file not found (run signal-bus first)")
    try:
        column = pq.read_table(path, columns=["trade_date"]).column("trade_date").to_pylist()
    except (pa.ArrowException, OSError, KeyError):
        column = []
    dates = set(pd.to_datetime(pd.Series(column), errors="coerce").dropna().dt.date)
    if len(dates) == 1:
        return dates.pop()
    if len(dates) > 1:
        raise InputError(
            f"{shown}: trade_date holds {len(dates)} dates ({', '.join(map(str, sorted(dates)[:3]))}, ...); give --date"
        )
    found = re.search(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)", Path(path).name)
    if found:
        import datetime as dt

        try:
            return dt.date(*map(int, found.groups()))
        except ValueError:
            pass
    raise InputError(f"{shown}: no trade date in the file (trade_date column) or its name (YYYYMMDD); give --date")


def read_last_closes(path: Path, symbols, on_or_before, root: Path | None = None) -> dict[str, float]:
    """The last daily close of each of `symbols` on or before a date, from a bars CSV
    (`symbol,date,...,close`, the simulator's format): the offline plan's prices when no price file
    or `--fill-price` is given. Symbols without a bar by then are left out (the plan skips them)."""
    table = _Csv(path, ["symbol", "date", "close"], "daily bars", root)
    dates = pd.to_datetime(table.text("date"), errors="coerce", format="%Y-%m-%d")
    table.fail(dates.isna().to_numpy(), "date", "expected YYYY-MM-DD, got {value}")
    closes = table.numbers("close", positive=True)
    frame = pd.DataFrame({"symbol": table.text("symbol").str.upper(), "date": dates.dt.date, "close": closes})
    frame = frame[frame["symbol"].isin(set(symbols)) & (frame["date"] <= on_or_before)]
    last = frame.sort_values("date").groupby("symbol").tail(1)
    return dict(zip(last["symbol"], last["close"].astype(float)))


def read_daily_closes(path: Path, symbol: str, root: Path | None = None) -> list[tuple]:
    """A benchmark's daily closes from a CSV (`date,close`, and if it has a `symbol` column, the rows of
    `symbol`): [(date, close)] in date order, one close per date."""
    table = _Csv(path, ["date", "close"], "benchmark closes", root)
    if "symbol" in table.frame.columns:
        table.keep(table.text("symbol").str.upper().eq(symbol).to_numpy())
    if table.frame.empty:
        raise InputError(f"{table.shown}: no {symbol} closes; expected date,close rows")
    dates = pd.to_datetime(table.text("date"), errors="coerce", format="%Y-%m-%d")
    table.fail(dates.isna().to_numpy(), "date", "expected YYYY-MM-DD, got {value}")
    table.fail(dates.duplicated().to_numpy(), "date", "{value} appears twice")
    closes = table.numbers("close", positive=True)
    return sorted(zip(dates.dt.date, closes.astype(float)))


def read_targets(path: Path, trade_date, root: Path | None = None) -> pd.DataFrame:
    """The day's target weights (M1's Parquet, or one given with `--targets`), checked as input.

    It must be the targets of `trade_date` (a file of another day is refused, not traded), with one
    row per 6-digit gvkey and finite weights >= 0 summing to at most 1.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    shown = display_path(Path(path), root)
    if not Path(path).exists():
        raise InputError(f"{shown}: targets file not found (run signal-bus first)")
    if not Path(path).is_file():
        raise InputError(f"{shown}: not a regular file; expected the targets Parquet")
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        reason = str(exc).splitlines()[0].replace(str(Path(path).resolve()), shown).replace(str(path), shown)
        raise InputError(f"{shown}: cannot read the targets as Parquet ({reason})") from None
    missing = [c for c in ("trade_date", "asset_id", "target_weight") if c not in frame.columns]
    if missing:
        raise InputError(
            f"{shown}: missing column(s) {', '.join(missing)}; the file has {', '.join(map(str, frame.columns))}"
        )
    if frame.empty:
        raise InputError(f"{shown}: no target weights")

    def fail(mask, message: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            cell = frame.iloc[i][message.split()[0]]
            cell = cell.item() if hasattr(cell, "item") else cell  # numpy scalars as plain values
            raise InputError(f"{shown} row {i + 1}: {message.format(value=repr(str(cell)))}")

    dates = pd.to_datetime(frame["trade_date"], errors="coerce").dt.date
    fail(dates.ne(trade_date).to_numpy(), f"trade_date {{value}} is not the trade date {trade_date}")
    ids = frame["asset_id"].astype("string")
    fail(
        ~ids.str.fullmatch(r"\d{6}").fillna(False).to_numpy(dtype=bool),
        "asset_id expected a 6-digit gvkey, got {value}",
    )
    fail(ids.duplicated().to_numpy(), "asset_id {value} appears twice")
    weights = pd.to_numeric(frame["target_weight"], errors="coerce").astype("float64").to_numpy()
    fail(~np.isfinite(weights) | (weights < 0), "target_weight expected a finite weight >= 0, got {value}")
    total = math.fsum(weights)
    if total > 1 + 1e-6:
        raise InputError(f"{shown}: target weights sum to {total:.9g}; expected at most 1")
    return frame.assign(asset_id=ids.astype(str), target_weight=weights)
