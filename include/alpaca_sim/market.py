"""The simulator's market: daily bars, an intraday price path, quotes and trades at any instant.

Alpaca's paper trading fills against the live NBBO. Here the NBBO is derived from daily bars:
within a session the mid price moves linearly through four points — open at the open, the bar's
low and high (low first on an up day, high first on a down day) at one and two thirds of the
session, close at the close — so every bar's open, high, low and close are really traded, limit
and stop triggers have a well-defined time, and nothing after the simulated clock is visible.
Before a session opens the price is the previous close. The quote is the mid ± half the
configured spread, rounded to Alpaca's price increments.

A symbol without a bar on a session on which other symbols have bars is halted that session: its
price stays at its last close and nothing fills (`halted`). A symbol whose bars end before the
others' is delisted once the clock is past the close of its last bar's session (`delisted`).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

from .sessions import Session, latest_started_session, session, session_on_or_before

CENT = Decimal("0.01")
SUB_CENT = Decimal("0.0001")


@dataclass(frozen=True)
class Bar:
    date: dt.date
    o: Decimal
    h: Decimal
    l: Decimal  # noqa: E741 - Alpaca's own field name
    c: Decimal
    v: int
    n: int | None = None
    vw: Decimal | None = None


def price_increment(price: Decimal) -> Decimal:
    """Alpaca's minimum increment: a cent at $1 and above, $0.0001 below."""
    return CENT if price >= 1 else SUB_CENT


def round_price(price: Decimal, up: bool | None = None) -> Decimal:
    inc = price_increment(price)
    rounding = ROUND_CEILING if up else ROUND_FLOOR if up is False else None
    return price.quantize(inc, rounding=rounding) if rounding else price.quantize(inc)


@dataclass(frozen=True)
class Dividend:
    """A cash dividend: holders at the close before `ex_date` are paid `amount` a share on `pay_date`."""

    symbol: str
    ex_date: dt.date
    pay_date: dt.date
    amount: Decimal


#: The optional dividends file, read from the folder of the bars file.
DIVIDENDS_FILE = "dividends.csv"


class BarsFile(dict):
    """A bars file's bars by symbol, and `dividends`: those of the DIVIDENDS_FILE next to it (None
    when there is none)."""

    dividends: list[Dividend] | None = None


def load_dividends_file(path: str | Path) -> list[Dividend]:
    """Read dividends (CSV): symbol, ex_date, pay_date (YYYY-MM-DD), amount (cash per share, > 0).
    A bad cell is a ValueError naming the file, the row (1 = the first under the header) and the field."""
    import csv
    from decimal import InvalidOperation

    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"symbol", "ex_date", "pay_date", "amount"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        out = []
        for row_number, row in enumerate(reader, 1):
            def bad(field: str, expected: str, row_number: int = row_number, row: dict = row) -> ValueError:
                return ValueError(f"{path} row {row_number}: {field} expected {expected}, got {row[field]!r}")

            symbol = (row["symbol"] or "").strip()
            if not symbol:
                raise bad("symbol", "a symbol")
            dates = {}
            for field in ("ex_date", "pay_date"):
                try:
                    dates[field] = dt.date.fromisoformat((row[field] or "").strip())
                except ValueError:
                    raise bad(field, "a date YYYY-MM-DD") from None
            if dates["pay_date"] < dates["ex_date"]:
                raise bad("pay_date", f"a date on or after the ex_date {dates['ex_date']}")
            try:
                amount = Decimal((row["amount"] or "").strip())
            except InvalidOperation:
                amount = None
            if amount is None or not amount.is_finite() or amount <= 0:
                raise bad("amount", "a cash amount per share > 0")
            out.append(Dividend(symbol, dates["ex_date"], dates["pay_date"], amount))
    return out


def load_bars_file(path: str | Path) -> BarsFile:
    """Read daily bars (CSV or Parquet): symbol, date, open, high, low, close, volume[, trade_count, vwap];
    and the dividends of a DIVIDENDS_FILE in the same folder, if there is one."""
    import pandas as pd

    path = Path(path)
    frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path, dtype={"symbol": str})
    missing = {"symbol", "date", "open", "high", "low", "close", "volume"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    out = BarsFile()
    if (path.parent / DIVIDENDS_FILE).is_file():
        out.dividends = load_dividends_file(path.parent / DIVIDENDS_FILE)
    row: Any  # pandas-stubs types a row's fields as any scalar at all
    for row in frame.sort_values(["symbol", "date"]).itertuples(index=False):
        n = getattr(row, "trade_count", None)
        vw = getattr(row, "vwap", None)
        out.setdefault(row.symbol, []).append(
            Bar(
                row.date,
                Decimal(str(row.open)),
                Decimal(str(row.high)),
                Decimal(str(row.low)),
                Decimal(str(row.close)),
                int(row.volume),
                None if n is None or pd.isna(n) else int(n),
                None if vw is None or pd.isna(vw) else Decimal(str(vw)),
            )
        )
    return out


class Market:
    """Bars by symbol, and the prices they imply at any simulated instant."""

    def __init__(self, bars: dict[str, list[Bar]], spread_bps: Decimal = Decimal("2")) -> None:
        self.bars = {sym: sorted(rows, key=lambda b: b.date) for sym, rows in bars.items()}
        self._dates = {sym: [b.date for b in rows] for sym, rows in self.bars.items()}
        self._mids: dict[tuple[str, dt.datetime], Decimal | None] = {}
        self._trading_days = {d for dates in self._dates.values() for d in dates}
        self._end = max(self._trading_days, default=None)
        self.spread_bps = Decimal(spread_bps)

    def symbols(self) -> list[str]:
        return sorted(self.bars)

    def halted(self, symbol: str, day: dt.date) -> bool:
        """Whether `symbol` does not trade on `day` although the market does (other symbols have a
        bar that day): a trading halt, or a delisted symbol after its last bar. Past the end of the
        bars loaded nobody has a bar, and the symbol is not halted (priced at its last close)."""
        return day in self._trading_days and self.bar_on(symbol, day) is None

    def delisted(self, symbol: str, at: dt.datetime) -> bool:
        """Whether `symbol`'s last bar is before the last bars of others and `at` is past the close
        of that bar's session: it no longer trades, as a delisted asset."""
        dates = self._dates.get(symbol)
        if not dates or self._end is None or dates[-1] >= self._end:
            return False
        return at >= session_on_or_before(dates[-1]).close

    def bar_on_or_before(self, symbol: str, day: dt.date) -> Bar | None:
        dates = self._dates.get(symbol)
        if not dates:
            return None
        i = bisect_right(dates, day)
        return self.bars[symbol][i - 1] if i else None

    def bar_on(self, symbol: str, day: dt.date) -> Bar | None:
        bar = self.bar_on_or_before(symbol, day)
        return bar if bar is not None and bar.date == day else None

    # ------------------------------------------------------------------------------ price path

    @staticmethod
    def path(bar: Bar, s: Session) -> list[tuple[dt.datetime, Decimal]]:
        """The session's mid-price path: (time, price) breakpoints, linear in between."""
        span = s.close - s.open
        t1, t2 = s.open + span / 3, s.open + 2 * span / 3
        first, second = (bar.l, bar.h) if bar.c >= bar.o else (bar.h, bar.l)
        return [(s.open, bar.o), (t1, first), (t2, second), (s.close, bar.c)]

    @staticmethod
    def event_times(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        """Every session's path breakpoints (open, 1/3, 2/3, close) in (start, end], in order.

        Prices are linear between them, so checking orders at these instants (and at `end`) sees
        every extreme the path reaches.
        """
        out: list[dt.datetime] = []
        s: Session | None = latest_started_session(start)
        while s is not None and s.open <= end:
            span = s.close - s.open
            out.extend(t for t in (s.open, s.open + span / 3, s.open + 2 * span / 3, s.close) if start < t <= end)
            s = _next_session(s)
        return out

    def mid(self, symbol: str, at: dt.datetime) -> Decimal | None:
        """The mid price at `at`, or None if the symbol has no bar on or before that session.

        Kept once computed: every submit values the whole book at the same instant (buying power,
        reservations), and the bars never change after loading."""
        key = (symbol, at)
        if key in self._mids:
            return self._mids[key]
        if len(self._mids) >= 50_000:
            self._mids.clear()
        self._mids[key] = price = self._mid(symbol, at)
        return price

    def _mid(self, symbol: str, at: dt.datetime) -> Decimal | None:
        s = latest_started_session(at)
        bar = self.bar_on(symbol, s.date)
        if bar is None:
            prev = self.bar_on_or_before(symbol, s.date)
            return None if prev is None else prev.c
        if at >= s.close:
            return bar.c
        points = self.path(bar, s)
        for (t0, p0), (t1, p1) in zip(points, points[1:]):
            if t0 <= at <= t1:
                frac = Decimal((at - t0) / (t1 - t0)) if t1 > t0 else Decimal(0)
                return p0 + (p1 - p0) * frac
        return bar.c

    def quote(self, symbol: str, at: dt.datetime) -> tuple[Decimal, Decimal] | None:
        """(bid, ask) at `at`: the mid ± half the spread, rounded outwards to valid increments."""
        mid = self.mid(symbol, at)
        if mid is None:
            return None
        half = mid * self.spread_bps / Decimal(20000)
        bid, ask = round_price(mid - half, up=False), round_price(mid + half, up=True)
        if ask <= bid:
            ask = bid + price_increment(bid)
        return bid, ask

    def last_trade(self, symbol: str, at: dt.datetime) -> Decimal | None:
        mid = self.mid(symbol, at)
        return None if mid is None else round_price(mid)

    def partial_bar(self, symbol: str, at: dt.datetime) -> Bar | None:
        """The bar of the latest session started by `at`, as far as it has traded (no look-ahead).
        A halted symbol's is its last bar (as a snapshot's `dailyBar` is its latest daily bar)."""
        s = latest_started_session(at)
        bar = self.bar_on(symbol, s.date)
        if bar is None:
            return self.bar_on_or_before(symbol, s.date) if self.halted(symbol, s.date) else None
        if at >= s.close:
            return bar
        mid = self.mid(symbol, at)
        assert mid is not None  # the symbol has a bar this session
        seen = [p for t, p in self.path(bar, s) if t <= at] + [mid]
        frac = Decimal((at - s.open) / (s.close - s.open))
        close = round_price(seen[-1])
        return Bar(bar.date, bar.o, max(seen).quantize(CENT), min(seen).quantize(CENT), close,
                   int(bar.v * frac), None if bar.n is None else int(bar.n * frac), bar.vw)

    def bars_until(self, symbol: str, at: dt.datetime, start: dt.date | None, end: dt.date | None) -> list[Bar]:
        """Daily bars visible at `at`: closed sessions, plus today's partial bar once it opened."""
        s = latest_started_session(at)
        out = []
        for bar in self.bars.get(symbol, []):
            if bar.date > s.date or (start and bar.date < start) or (end and bar.date > end):
                continue
            if bar.date == s.date:
                partial = self.partial_bar(symbol, at)
                assert partial is not None  # the symbol has a bar this session
                out.append(partial)
            else:
                out.append(bar)
        return out


def _next_session(s: Session) -> Session | None:
    day = s.date + dt.timedelta(days=1)
    for _ in range(10):
        nxt = session(day)
        if nxt is not None:
            return nxt
        day += dt.timedelta(days=1)
    return None
