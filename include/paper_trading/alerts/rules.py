"""The alert rules that judge numbers (see delivery.RULES for every rule): pure functions returning
alert dicts `{rule, key, severity, message}` that `delivery.raise_alerts` writes and sends.

- `evaluate_books`: after reconciliation (M5) — what reconcile flagged, named by rule (orders that
  failed, manual or duplicate trades, drift, stale prices), plus plan vs actual deviation of each
  order and the end-of-day cash against the buffer.
- `evaluate_daily`: after the report (M6) — the day's return against the drawdown threshold.

Kept apart from the steps so the thresholds can be tested on plain rows, without a broker.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from paper_trading.orders import COMPARED, FAILED

if TYPE_CHECKING:
    import pandas as pd



def _alert(rule: str, key: str, message: str, severity: str = "error") -> dict:
    return {"rule": rule, "key": key, "severity": severity, "message": message}


def evaluate_books(rows: list[dict], *, equity: float, cash: float, min_cash_buffer_pct: float,
                   plan_deviation_pct: float, exposure: Sequence[tuple[str, float, float]] = ()) -> list[dict]:
    """The alerts of a reconciled day.

    `rows`: reconcile's rows (reconcile.classify_orders, position_rows, cash_row, ...: kind, key,
    symbol, side, planned_qty, filled_qty, classification, alert, message); `equity`, `cash`: the
    end-of-day figures. Each reconcile row with `alert = true` gives one alert under its rule; an
    order row without one is compared with its plan (|filled - planned| / planned above
    `plan_deviation_pct`), so no order is alerted twice. Cash: negative is `cash_short`, below
    `min_cash_buffer_pct` of equity is `cash_buffer`. `exposure`: the bounds the end-of-day book
    crosses (`risk.exposure_breaches`), each an `exposure_limit` alert."""
    out: list[dict] = []
    ours = {(r["symbol"], r["side"]) for r in rows if r["kind"] == "order" and r["classification"] != "dry_run"
            and r["classification"] != "not_submitted"}
    for r in rows:
        kind, label = r["kind"], r["classification"]
        if r["alert"]:
            if kind == "position":
                out.append(_alert("position_drift", r["symbol"], r["message"]))
            elif kind == "cash":
                out.append(_alert("cash_drift", "cash", r["message"]))
            elif kind == "price":
                out.append(_alert("price_missing", r["symbol"], r["message"], "warning"))
            elif kind == "manual":
                duplicate = (r["symbol"], r["side"]) in ours
                out.append(_alert("order_duplicate" if duplicate else "manual_trade", r["key"],
                                  r["message"] + ("; our own order traded the same symbol and side today: a duplicate?"
                                                  if duplicate else "")))
            elif kind == "order" and label in FAILED:
                out.append(_alert("order_failed", r["key"], r["message"]))
            else:
                out.append(_alert("other", r["key"], r["message"]))
        elif kind == "order" and label in COMPARED:
            planned, filled = r.get("planned_qty") or 0.0, r.get("filled_qty") or 0.0
            if planned > 0 and abs(filled - planned) / planned > plan_deviation_pct + 1e-12:
                out.append(_alert("plan_deviation", r["key"],
                                  f"{r['side']} {r['symbol']}: filled {filled:g} of the {planned:g} planned "
                                  f"({(filled - planned) / planned:+.1%}, more than {plan_deviation_pct:.1%} off): "
                                  f"{r['message']}", "warning"))
    if math.isfinite(cash) and cash < 0:
        out.append(_alert("cash_short", "cash", f"cash is {cash:,.2f} at the end of the day (equity {equity:,.2f}): "
                                                "the account is borrowing on margin"))
    elif math.isfinite(cash) and equity > 0 and cash < min_cash_buffer_pct * equity:
        out.append(_alert("cash_buffer", "cash",
                          f"cash {cash:,.2f} is {cash / equity:.2%} of equity {equity:,.2f} at the end of the day, "
                          f"below the buffer risk.min_cash_buffer_pct = {min_cash_buffer_pct:.2%}", "warning"))
    for name, value, bound in exposure:
        out.append(_alert("exposure_limit", name, f"the end-of-day book's {name.removeprefix('max_')} is {value:.4f} "
                                                  f"of equity, above risk.{name} = {bound:g}"))
    return out


def evaluate_daily(pnl: pd.DataFrame, trade_date: dt.date, *, daily_drawdown: float = -0.03) -> list[dict]:
    """The alerts of the report of `trade_date`: the day's return at or below `daily_drawdown`
    (alerts.daily_drawdown, e.g. -0.03).

    `pnl`: analytics.daily_pnl's frame (columns date, equity, daily_return, drawdown, ...). Only
    the row of `trade_date` is judged — earlier days had their own report — and a day without a
    return (the first one, or after a non-positive equity) raises nothing."""
    import pandas as pd

    if pnl is None or pnl.empty:
        return []
    rows = pnl[pd.to_datetime(pnl["date"]).dt.date == trade_date]
    if rows.empty:
        return []
    row = rows.iloc[-1]
    ret = row["daily_return"]
    if ret is None or pd.isna(ret) or float(ret) > daily_drawdown:
        return []
    drawdown = row.get("drawdown")
    since_peak = f"; {float(drawdown):.2%} from the peak" if drawdown is not None and not pd.isna(drawdown) else ""
    return [_alert("daily_drawdown", "daily_return",
                   f"the portfolio returned {float(ret):.2%} on {trade_date} (equity {float(row['equity']):,.2f}), "
                   f"at or below the threshold {daily_drawdown:.2%}{since_peak}")]
