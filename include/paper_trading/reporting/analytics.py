"""M6 analytics: performance, trading and risk figures from the ledger's books and the benchmark's
daily closes. Pure functions on DataFrames and plain rows; `steps/report.py` reads and writes.

Every series is indexed by exchange date. The standard statistics are empyrical-reloaded's own
functions (risk-free rate 0, 252 periods a year), called on the two return columns of the daily P&L
table, so `metrics_YYYYMMDD.json` carries them under empyrical's names. A statistic that is
undefined on the history at hand (too few days, zero variance, no losing day, no drawdown, a
benchmark that never moved) is None with an entry in `reasons` saying why: never an exception, a
NaN or an infinity.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from typing import Any, cast

import numpy as np
import pandas as pd

#: Trading days a year (empyrical's APPROX_BDAYS_PER_YEAR).
PERIODS_PER_YEAR = 252
#: Cash activities that are money put in or taken out, not performance: daily returns exclude them.
FLOW_TYPES = frozenset({"CSD", "CSW", "JNLC", "JNLS", "ACATC", "ACATS"})
#: Cash activities that are fees.
FEE_TYPES = frozenset({"FEE", "CFEE", "PTC"})
PNL_COLUMNS = ["date", "equity", "cash", "external_flow", "daily_return", "benchmark_close", "benchmark_return",
               "cumulative_return", "benchmark_cumulative_return", "drawdown"]
RISK_COLUMNS = ["date", "kind", "name", "sector", "qty", "close_price", "market_value", "weight"]
TOP_N = 10
#: Order rows of the reconciliation that were never meant to reach the broker: rejected by the risk
#: gate, or a dry run. The fill rate is what was filled of the approved orders of real runs.
NOT_TRADED = frozenset({"not_submitted", "dry_run"})


class Stats:
    """Named values with the reason of each one that is None."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}  # numbers, and dicts of them (weights by name), JSON as they are
        self.reasons: dict[str, str] = {}

    def put(self, name: str, value, reason: str | None = None) -> None:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            value = int(value)
        elif isinstance(value, (float, np.floating)):
            value = float(value)
            if not math.isfinite(value):
                reason, value = reason or "undefined on this history (not a finite number)", None
        if value is None:
            self.reasons[name] = reason or "undefined on this history"
        self.values[name] = value

    def compute(
        self, name: str, fn: Callable[[], float], unless: str | None = None, why_not_finite: str | None = None
    ) -> None:
        """`fn()` unless a precondition failed (`unless` is its reason); a non-finite result is None
        with `why_not_finite`."""
        if unless:
            self.put(name, None, unless)
            return
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            value = fn()
        self.put(name, value, why_not_finite)


# ------------------------------------------------------------------------------ performance


def daily_pnl(equity: pd.DataFrame, benchmark: pd.Series, flows: pd.Series | None = None) -> pd.DataFrame:
    """One row per reconciled session: equity, cash, the day's external cash flow, the day's return
    net of that flow ((equity - flow) / previous equity - 1), the benchmark's close of the same
    exchange date and its return, the cumulative returns (compounded from the first session) and
    the drawdown from the running peak of the compounded return.

    `equity`: columns trade_date, equity, cash (the ledger's equity_daily); `benchmark`: closes by
    date; `flows`: net external cash flow by date (deposits positive)."""
    frame = equity.sort_values("trade_date").reset_index(drop=True)
    dates = pd.to_datetime(pd.Series([pd.Timestamp(d) for d in frame["trade_date"]]))
    out = pd.DataFrame({"date": dates, "equity": frame["equity"].astype(float), "cash": frame["cash"].astype(float)})
    flow_by_date = {} if flows is None else {pd.Timestamp(d): float(v) for d, v in zip(flows.index, flows)}
    out["external_flow"] = [flow_by_date.get(d, 0.0) for d in out["date"]]
    previous = out["equity"].shift(1)
    with np.errstate(all="ignore"):
        ret = (out["equity"] - out["external_flow"]) / previous - 1.0
    out["daily_return"] = ret.where(previous > 0)  # no return on the first day, nor after a non-positive equity
    closes = {pd.Timestamp(d): float(c) for d, c in zip(benchmark.index, benchmark)}
    out["benchmark_close"] = [closes.get(d, np.nan) for d in out["date"]]
    prev_close = out["benchmark_close"].shift(1)
    out["benchmark_return"] = (out["benchmark_close"] / prev_close - 1.0).where(prev_close > 0)
    wealth = (1.0 + out["daily_return"].fillna(0.0)).cumprod()
    out["cumulative_return"] = wealth - 1.0
    out["benchmark_cumulative_return"] = (1.0 + out["benchmark_return"].fillna(0.0)).cumprod() - 1.0
    out["drawdown"] = wealth / wealth.cummax() - 1.0
    return out[PNL_COLUMNS]


#: A standard deviation of daily returns below this is zero (rounding noise of a constant series).
FLAT_STD = 1e-12


def _flat(returns: pd.Series) -> bool:
    return float(np.std(returns.to_numpy(dtype=float))) < FLAT_STD


def _returns(pnl: pd.DataFrame, column: str) -> pd.Series:
    return pd.Series(pnl[column].to_numpy(dtype=float), index=pd.DatetimeIndex(pnl["date"]), name=column).dropna()


def _dates(returns: pd.Series) -> pd.DatetimeIndex:
    """The index of a `_returns` series: its dates (pandas-stubs cannot tell a Series' index type)."""
    return cast(pd.DatetimeIndex, returns.index)


def drawdown_dates(pnl: pd.DataFrame) -> dict[str, str | None]:
    """The deepest drawdown: its peak (the last high before it), trough and recovery (the first
    session back at the peak; None while still under water) dates."""
    if pnl.empty or not (pnl["drawdown"] < 0).any():
        return {"peak": None, "trough": None, "recovery": None}
    trough = int(pnl["drawdown"].to_numpy().argmin())
    wealth = (1.0 + pnl["cumulative_return"]).to_numpy()
    peak = int(np.flatnonzero(wealth[: trough + 1] >= wealth[: trough + 1].max())[-1])
    after = np.flatnonzero(wealth[trough:] >= wealth[peak])
    recovery = trough + int(after[0]) if len(after) else None
    day = lambda i: pnl["date"].iloc[i].date().isoformat()  # noqa: E731
    return {"peak": day(peak), "trough": day(trough), "recovery": day(recovery) if recovery is not None else None}


def performance(pnl: pd.DataFrame) -> Stats:
    """The standard statistics of the `daily_return` column (and against `benchmark_return`), under
    empyrical's function names, plus tracking error, information ratio, correlation and excess return."""
    import empyrical as ep

    s = Stats()
    r = _returns(pnl, "daily_return")
    n = len(r)
    few = f"needs at least 1 daily return (2 sessions); have {len(pnl)} session(s)" if n < 1 else None
    few2 = f"needs at least 2 daily returns; have {n}" if n < 2 else None
    flat = "zero volatility: every daily return is the same" if not few2 and _flat(r) else None
    s.put("sessions", len(pnl))
    s.put("daily_returns", n)
    s.compute("cum_returns_final", lambda: ep.cum_returns_final(r), few)
    s.compute("annual_return", lambda: ep.annual_return(r), few)
    s.compute("cagr", lambda: ep.cagr(r), few)
    s.compute("annual_volatility", lambda: ep.annual_volatility(r), few2)
    s.compute("sharpe_ratio", lambda: ep.sharpe_ratio(r), few2 or flat)
    s.compute("downside_risk", lambda: ep.downside_risk(r), few2)
    no_loss = (
        "no daily return below zero: the downside risk is zero" if not (few2 or flat) and not (r < 0).any() else None
    )
    s.compute("sortino_ratio", lambda: ep.sortino_ratio(r), few2 or flat or no_loss)
    s.compute("max_drawdown", lambda: ep.max_drawdown(r), few)
    no_dd = (
        "no drawdown yet (the return never fell below its running peak)"
        if not few and float(ep.max_drawdown(r)) >= 0
        else None
    )
    s.compute("calmar_ratio", lambda: ep.calmar_ratio(r), few or no_dd)
    tails = None
    if not few2 and float(np.abs(np.percentile(r, 5))) == 0:
        tails = "the 5th percentile of the daily returns is zero"
    s.compute("tail_ratio", lambda: ep.tail_ratio(r), few2 or flat or tails)
    s.compute(
        "stability_of_timeseries",
        lambda: ep.stability_of_timeseries(r),
        few2 or flat,
        "undefined: the cumulative log return has no variance",
    )
    s.compute("value_at_risk", lambda: ep.value_at_risk(r), few2)
    dates = drawdown_dates(pnl)
    for key, value in dates.items():
        s.put(
            f"max_drawdown_{key}",
            value,
            None
            if value
            else ("still under water" if key == "recovery" and dates["trough"] else few or "no drawdown yet"),
        )

    # against the benchmark: the sessions where both returns exist
    both = pd.DataFrame({"r": _returns(pnl, "daily_return"), "b": _returns(pnl, "benchmark_return")}).dropna()
    pr, pb = both["r"], both["b"]
    m = len(both)
    missing = pnl["benchmark_close"].isna().sum()
    bfew = (
        f"needs at least 2 sessions with both returns; have {m}"
        + (f" ({missing} session(s) without a benchmark close)" if missing else "")
        if m < 2
        else None
    )
    bflat = "the benchmark's daily returns have zero variance" if not bfew and _flat(pb) else None
    pflat = "the portfolio's daily returns have zero variance" if not bfew and _flat(pr) else None
    active = pr - pb
    aflat = "the daily excess returns have zero variance" if not bfew and _flat(active) else None
    bone = f"needs at least 1 session with both returns; have {m}" if m < 1 else None
    s.compute("benchmark_cum_returns_final", lambda: ep.cum_returns_final(pb), bone)
    s.compute("benchmark_annual_return", lambda: ep.annual_return(pb), bone)
    s.compute("excess_return", lambda: ep.cum_returns_final(pr) - ep.cum_returns_final(pb), bone)
    s.compute("alpha", lambda: ep.alpha(pr, pb), bfew or bflat)
    s.compute("beta", lambda: ep.beta(pr, pb), bfew or bflat)
    s.compute("correlation", lambda: float(np.corrcoef(pr.to_numpy(), pb.to_numpy())[0, 1]), bfew or bflat or pflat)
    s.compute("tracking_error", lambda: float(np.std(active.to_numpy(), ddof=1)) * math.sqrt(PERIODS_PER_YEAR), bfew)
    s.compute("excess_sharpe", lambda: ep.excess_sharpe(pr, pb), bfew or aflat)
    s.compute("information_ratio", lambda: ep.excess_sharpe(pr, pb) * math.sqrt(PERIODS_PER_YEAR), bfew or aflat)
    return s


def period_returns(pnl: pd.DataFrame, as_of: dt.date) -> dict:
    """Compounded returns of the portfolio and the benchmark per week (ISO), month and year to date."""
    import empyrical as ep

    out: dict = {}
    for column, key in (("daily_return", "portfolio"), ("benchmark_return", "benchmark")):
        r = _returns(pnl, column)
        views: dict = {"daily": {d.date().isoformat(): float(v) for d, v in zip(_dates(r), r)}}
        if len(r):
            weekly = ep.aggregate_returns(r, "weekly")
            monthly = ep.aggregate_returns(r, "monthly")
            views["weekly"] = {f"{y}-W{w:02d}": float(v) for (y, w), v in weekly.items()}
            views["monthly"] = {f"{y}-{mo:02d}": float(v) for (y, mo), v in monthly.items()}
        else:
            views["weekly"], views["monthly"] = {}, {}
        ytd = r[_dates(r).year == as_of.year]
        views["ytd"] = float(ep.cum_returns_final(ytd)) if len(ytd) else None
        out[key] = views
    return out


# ------------------------------------------------------------------------------ trading


def trading(
    fills: list[dict],
    cash: list[dict],
    recon: list[dict],
    equity: pd.DataFrame,
    as_of: dt.date,
    daily: pd.DataFrame | None = None,
) -> Stats:
    """Fees (cash ledger), slippage and fill rate (the reconciliation's order rows), turnover and
    round trips (the fills, matched first in first out per symbol). `daily`: `daily_trading` of the
    same books, when the caller has it already (the report does, for the dashboard)."""
    s = Stats()
    fees = [c for c in cash if c["activity_type"] in FEE_TYPES]
    s.put("fees_total", -sum(float(c["net_amount"]) for c in fees))
    s.put("fees_day", -sum(float(c["net_amount"]) for c in fees if c["date"] == as_of))

    orders = [r for r in recon if r["kind"] == "order"]
    for scope, rows in (("day", [r for r in orders if r["trade_date"] == as_of]), ("total", orders)):
        approved = [r for r in rows if (r["planned_qty"] or 0) > 0 and r.get("classification") not in NOT_TRADED]
        planned = sum(float(r["planned_qty"]) for r in approved)
        filled = sum(float(r["filled_qty"] or 0) for r in approved)
        s.put(
            f"fill_rate_{scope}",
            filled / planned if planned else None,
            None
            if planned
            else "no approved order was to be sent (none planned, all rejected by the gate, or a dry run)",
        )
        slipped = [
            r for r in rows if r["slippage_bps"] is not None and (r["filled_qty"] or 0) > 0 and r["avg_fill_price"]
        ]
        notional = sum(float(r["filled_qty"]) * float(r["avg_fill_price"]) for r in slipped)
        s.put(
            f"slippage_bps_{scope}",
            sum(float(r["slippage_bps"]) * float(r["filled_qty"]) * float(r["avg_fill_price"]) for r in slipped)
            / notional
            if notional
            else None,
            None if notional else "no filled order with a reference price",
        )
        s.put(
            f"implementation_shortfall_usd_{scope}",
            sum(
                float(r["slippage_bps"]) / 1e4 * float(r["filled_qty"]) * float(r["ref_price"])
                for r in slipped
                if r["ref_price"]
            ),
            None,
        )

    per_day = daily if daily is not None else daily_trading(fills, recon, equity)
    turnover = per_day["turnover"]
    today = turnover[per_day["date"] == pd.Timestamp(as_of)].dropna()
    s.put("turnover_day", float(today.iloc[0]) if len(today) else None, None if len(today) else "no equity for the day")
    valid = turnover.dropna()
    s.put("turnover_daily_mean", float(valid.mean()) if len(valid) else None, None if len(valid) else "no equity")

    trips = round_trips(fills)
    pnl = [t["pnl"] for t in trips]
    wins, losses = [p for p in pnl if p > 0], [p for p in pnl if p < 0]
    s.put("round_trips", len(trips))
    s.put("realized_pnl", sum(pnl))
    s.put("hit_rate", len(wins) / len(pnl) if pnl else None, None if pnl else "no closed round trip yet")
    ratio_why = (
        "no closed round trip yet"
        if not pnl
        else "no losing round trip"
        if not losses
        else "no winning round trip"
        if not wins
        else None
    )
    s.put(
        "profit_loss_ratio",
        (sum(wins) / len(wins)) / (-sum(losses) / len(losses)) if not ratio_why else None,
        ratio_why,
    )
    return s


DAILY_TRADING_COLUMNS = ["date", "traded_notional", "turnover", "filled_notional", "slippage_bps"]


def daily_trading(fills: list[dict], recon: list[dict], equity: pd.DataFrame) -> pd.DataFrame:
    """Per reconciled session: the traded notional and the turnover (over the equity at the previous
    close; the day's own on the first session), and the notional-weighted slippage of the day's
    filled orders (NaN on a day without one). The series behind `trading`'s day figures, in one
    vectorized pass so ten years of fills stay cheap."""
    sessions = equity.sort_values("trade_date")
    dates = pd.DatetimeIndex(pd.to_datetime(sessions["trade_date"]))
    eq = sessions["equity"].to_numpy(dtype=float)
    base = np.concatenate([eq[:1], eq[:-1]])
    traded = pd.Series(0.0, index=dates)
    if fills:
        f = pd.DataFrame.from_records(fills, columns=["trade_date", "qty", "price"])
        notional = np.abs(f["qty"].to_numpy(dtype=float) * f["price"].to_numpy(dtype=float))
        traded = _by_day(f["trade_date"], {"n": notional})["n"].reindex(dates, fill_value=0.0)
    with np.errstate(all="ignore"):
        turnover = np.where(base > 0, traded.to_numpy() / base, np.nan)
    filled = weighted = pd.Series(np.nan, index=dates)
    if recon:
        r = pd.DataFrame.from_records(
            recon, columns=["trade_date", "kind", "filled_qty", "avg_fill_price", "slippage_bps"]
        )
        qty, price = r["filled_qty"].to_numpy(dtype=float), r["avg_fill_price"].to_numpy(dtype=float)
        slip = r["slippage_bps"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            keep = (r["kind"] == "order").to_numpy() & ~np.isnan(slip) & (qty > 0) & ~np.isnan(price) & (price != 0)
        notional = qty[keep] * price[keep]
        sums = _by_day(r["trade_date"][keep], {"n": notional, "ns": notional * slip[keep]})
        filled, weighted = sums["n"].reindex(dates), sums["ns"].reindex(dates)
    with np.errstate(all="ignore"):
        slippage = np.where(filled.to_numpy() > 0, weighted.to_numpy() / filled.to_numpy(), np.nan)
    return pd.DataFrame(
        {
            "date": dates,
            "traded_notional": traded.to_numpy(),
            "turnover": turnover,
            "filled_notional": filled.fillna(0.0).to_numpy(),
            "slippage_bps": slippage,
        },
        columns=DAILY_TRADING_COLUMNS,
    )


def _by_day(days: pd.Series, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Sums per day, grouped on the date objects as they are (converting a million of them to
    timestamps costs more than the sums); the few distinct days are converted after."""
    sums = pd.DataFrame(columns, index=days.index).groupby(days.to_numpy(dtype=object)).sum()
    sums.index = pd.DatetimeIndex(pd.to_datetime(sums.index))
    return sums


def monthly_returns(pnl: pd.DataFrame, column: str = "daily_return") -> pd.DataFrame:
    """The daily returns compounded per calendar month: one row per year, columns 1..12 (NaN for a
    month without a return), the grid of the dashboard's heatmap."""
    r = _returns(pnl, column)
    if r.empty:
        return pd.DataFrame(columns=range(1, 13), dtype=float)
    grown = (1.0 + r).groupby([_dates(r).year, _dates(r).month]).prod() - 1.0
    return grown.unstack().reindex(columns=range(1, 13)).rename_axis(index="year", columns="month")


def round_trips(fills: Iterable[dict]) -> list[dict]:
    """Closed round trips from the fills: per symbol, each fill first closes the open lots of the
    other side (first in, first out), the rest opens a lot. One trip per closed piece, with its P&L."""
    lots: dict[str, deque] = defaultdict(deque)  # symbol -> [signed qty, price]
    trips = []
    for f in sorted(fills, key=lambda f: (f["transaction_time"], f["activity_id"])):
        qty = float(f["qty"]) * (1.0 if f["side"] == "buy" else -1.0)
        book = lots[f["symbol"]]
        while qty and book and (book[0][0] > 0) != (qty > 0):
            lot = book[0]
            closed = min(abs(qty), abs(lot[0]))
            direction = 1.0 if lot[0] > 0 else -1.0
            trips.append(
                {
                    "symbol": f["symbol"],
                    "qty": closed,
                    "open_price": lot[1],
                    "close_price": float(f["price"]),
                    "closed_on": f["trade_date"],
                    "pnl": direction * closed * (float(f["price"]) - lot[1]),
                }
            )
            lot[0] -= direction * closed
            qty += direction * closed
            if abs(lot[0]) < 1e-9:
                book.popleft()
        if abs(qty) > 1e-9:
            book.append([qty, float(f["price"])])
    return trips


# ------------------------------------------------------------------------------ risk


def risk_snapshot(
    as_of: dt.date,
    positions: list[dict],
    equity: dict | None,
    sectors: dict[str, str] | None,
    styles: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, Stats]:
    """The end-of-day book of `as_of`: each position's weight (market value over equity) and sector,
    the sector weights, the style weights (the spec's 行业/风格 concentration; when the instrument map
    has a style column), cash; and top-N weights, HHI (of the gross weights), cash %, gross and net
    exposure."""
    s = Stats()
    rows = []
    eq = float(equity["equity"]) if equity else None
    ok = eq is not None and eq > 0
    why = None if ok else ("no equity for the day in the ledger" if eq is None else f"equity is {eq:.2f}, not positive")

    def weight(value: float | None) -> float | None:
        """`value` as a share of the equity; None without a value or a positive equity."""
        return value / eq if value is not None and eq is not None and eq > 0 else None
    sector_of = sectors or {}
    for p in sorted(positions, key=lambda p: -abs(p["market_value"] or 0.0)):
        mv = p["market_value"]
        rows.append(
            {
                "date": as_of,
                "kind": "position",
                "name": p["symbol"],
                "sector": sector_of.get(p["symbol"], "unknown"),
                "qty": p["qty"],
                "close_price": p["close_price"],
                "market_value": mv,
                "weight": weight(mv),
            }
        )
    by_sector: dict[str, float] = defaultdict(float)
    for r in rows:
        if r["market_value"] is not None:
            by_sector[r["sector"]] += r["market_value"]
    for sector, mv in sorted(by_sector.items(), key=lambda kv: -abs(kv[1])):
        rows.append(
            {
                "date": as_of,
                "kind": "sector",
                "name": sector,
                "sector": sector,
                "qty": None,
                "close_price": None,
                "market_value": mv,
                "weight": weight(mv),
            }
        )
    if styles is not None:
        by_style: dict[str, float] = defaultdict(float)
        for r in [r for r in rows if r["kind"] == "position" and r["market_value"] is not None]:
            by_style[styles.get(r["name"], "unknown")] += r["market_value"]
        for style, mv in sorted(by_style.items(), key=lambda kv: -abs(kv[1])):
            rows.append(
                {
                    "date": as_of,
                    "kind": "style",
                    "name": style,
                    "sector": None,
                    "qty": None,
                    "close_price": None,
                    "market_value": mv,
                    "weight": weight(mv),
                }
            )
    cash = float(equity["cash"]) if equity else None
    rows.append(
        {
            "date": as_of,
            "kind": "cash",
            "name": "cash",
            "sector": None,
            "qty": None,
            "close_price": None,
            "market_value": cash,
            "weight": weight(cash),
        }
    )
    frame = pd.DataFrame(rows, columns=RISK_COLUMNS)

    values = [r["market_value"] for r in rows if r["kind"] == "position" and r["market_value"] is not None]
    unpriced = [r["name"] for r in rows if r["kind"] == "position" and r["market_value"] is None]
    gross = sum(abs(v) for v in values)
    s.put("equity", eq, why)
    s.put("positions", len([r for r in rows if r["kind"] == "position"]))
    s.put("cash_pct", weight(cash), why)
    s.put("gross_exposure", weight(gross), why)
    s.put("net_exposure", weight(sum(values)), why)
    s.put("hhi", sum((abs(v) / gross) ** 2 for v in values) if gross else None, None if gross else "no priced position")
    s.put("top_weights", {r["name"]: r["weight"] for r in rows if r["kind"] == "position"} if ok else None, why)
    top = dict(list((s.values["top_weights"] or {}).items())[:TOP_N])
    s.values["top_weights"] = top if ok else None
    s.put("sector_weights", {r["name"]: r["weight"] for r in rows if r["kind"] == "sector"} if ok else None, why)
    if styles is not None:
        s.put("style_weights", {r["name"]: r["weight"] for r in rows if r["kind"] == "style"} if ok else None, why)
    if unpriced:
        s.reasons["unpriced_positions"] = f"no close for {', '.join(unpriced)}: left out of the weights"
    return frame, s


WEIGHT_COLUMNS = ["symbol", "weight", "target_weight", "target_of_equity", "difference"]


def weights_vs_targets(
    risk: pd.DataFrame, targets: pd.DataFrame | None, symbols: dict[str, str] | None, cash_buffer_pct: float = 0.0
) -> pd.DataFrame:
    """The end-of-day weight of each name against the day's target: every name held or targeted
    (0 where one side has none). `target_of_equity` is the target as a weight of equity — the plan
    invests `target_weight` x equity x (1 - cash buffer) — so `difference` (weight minus it) is the
    drift the next rebalance would trade, not the cash buffer. `targets`: M1's asset_id,
    target_weight; `symbols`: gvkey -> symbol (a target without one keeps its gvkey)."""
    positions = risk.loc[risk["kind"] == "position", ["name", "weight"]]
    held = positions.astype({"weight": float}).groupby("name")["weight"].sum(min_count=1)
    if targets is not None and len(targets):
        ids = targets["asset_id"].astype(str)
        names = ids.map(symbols or {}).fillna("gvkey " + ids)
        goal = pd.Series(targets["target_weight"].to_numpy(dtype=float), index=names).groupby(level=0).sum()
    else:
        goal = pd.Series(dtype=float)
    out = pd.DataFrame({"weight": held, "target_weight": goal}).fillna({"target_weight": 0.0})
    out.loc[~out.index.isin(held.index), "weight"] = 0.0  # not held; a held name without a close stays NaN
    out = out.rename_axis("symbol").reset_index()
    out["target_of_equity"] = out["target_weight"] * (1.0 - cash_buffer_pct)
    out["difference"] = out["weight"] - out["target_of_equity"]
    larger = cast(pd.Series, np.maximum(out["weight"].abs(), out["target_of_equity"].abs()))  # (a ufunc of Series)
    order = larger.sort_values(ascending=False, kind="stable")
    return out.loc[order.index, WEIGHT_COLUMNS].reset_index(drop=True)
