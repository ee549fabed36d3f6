"""What a person sees before money moves: the risk gate's verdicts as a short Markdown page (Airflow's
approval step shows it in the UI). Pure: the gate's report in, text out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

#: Rows of each table shown; the rest are counted (the full report is in risk_report_YYYYMMDD.csv).
MAX_ROWS = 30


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _cell(value: object) -> str:
    """A table cell: Markdown's own characters neutralized (symbols and reasons come from files)."""
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def approval_markdown(report: pd.DataFrame, *, trade_date: dt.date, equity: float | None, mode: str = "real",
                      report_path: str | None = None) -> str:
    """The approved batch (count, buy and sell notional, turnover of equity, the orders by size) and
    what the gate rejected and why. `report`: the gate's report (risk.REPORT_COLUMNS)."""
    approved = report[report["verdict"] == "approved"]
    rejected = report[report["verdict"] != "approved"]
    notional = pd.to_numeric(approved["notional"], errors="coerce").fillna(0.0).abs()
    buys = float(notional[approved["side"] == "buy"].sum())
    sells = float(notional[approved["side"] == "sell"].sum())
    turnover = f"{(buys + sells) / equity:.1%} of equity {_money(equity)}" if equity else "equity unknown"
    lines = [
        f"**{len(approved)} order(s) to send** on {trade_date} ({mode}): buys {_money(buys)}, sells {_money(sells)}, "
        f"turnover {turnover}. **{len(rejected)} rejected** by the risk gate.",
        "",
        "Approve sends them now; Reject (or no answer by the deadline) sends nothing and is recorded.",
    ]
    if len(approved):
        lines += ["", "| side | symbol | qty | type | ref. price | notional | take-profit | stop-loss |",
                  "|---|---|---:|---|---:|---:|---:|---:|"]
        top = approved.assign(order_notional=notional).sort_values("order_notional", ascending=False).head(MAX_ROWS)
        r: Any  # pandas-stubs types a row's fields as any scalar at all
        for r in top.itertuples():
            lines.append(
                f"| {_cell(r.side)} | {_cell(r.symbol)} | {r.qty:g} | {_cell(r.order_type)} | "
                f"{_cell(r.ref_price)} | {_money(float(r.order_notional))} | {_cell(r.tp_price)} "
                f"| {_cell(r.sl_price)} |"
            )
        if len(approved) > MAX_ROWS:
            lines.append(f"\n… and {len(approved) - MAX_ROWS} smaller order(s).")
    if len(rejected):
        lines += ["", "**Rejected by the gate:**", "", "| side | symbol | qty | why |", "|---|---|---:|---|"]
        for r in rejected.head(MAX_ROWS).itertuples():
            lines.append(f"| {_cell(r.side)} | {_cell(r.symbol)} | {r.qty:g} | {_cell(r.reasons)} |")
        if len(rejected) > MAX_ROWS:
            lines.append(f"\n… and {len(rejected) - MAX_ROWS} more.")
    if report_path:
        lines += ["", f"Full report: `{report_path}`."]
    return "\n".join(lines)
