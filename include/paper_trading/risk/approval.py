"""What a person sees before money moves: the risk gate's verdicts as a short Markdown page (Airflow's
approval step shows it in the UI). Pure: the gate's report in, text out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

#: The largest orders shown, and the rejections: the decision fits Airflow's approval panel without
#: scrolling past the buttons; every order, with its take-profit and stop-loss, is in the risk report.
LARGEST = 10
REJECTED_SHOWN = 5


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _cell(value: object) -> str:
    """A table cell: Markdown's own characters neutralized (symbols and reasons come from files)."""
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def approval_markdown(report: pd.DataFrame, *, trade_date: dt.date, equity: float | None, mode: str = "real",
                      report_path: str | None = None) -> str:
    """The decision first: what Approve sends (count, buys and sells, turnover of equity) and what the
    gate rejected; then the largest orders in four narrow columns and the rejections with their
    reason, a few each, so the panel's Approve and Reject stay in view; every order in the report.
    `report`: the gate's report (risk.REPORT_COLUMNS)."""
    approved = report[report["verdict"] == "approved"]
    rejected = report[report["verdict"] != "approved"]
    notional = pd.to_numeric(approved["notional"], errors="coerce").fillna(0.0).abs()
    is_buy = approved["side"] == "buy"
    buys, sells = float(notional[is_buy].sum()), float(notional[~is_buy].sum())
    turnover = f"{(buys + sells) / equity:.1%} of equity {_money(equity)}" if equity else "equity unknown"
    lines = [
        f"**Approve sends {len(approved)} order(s) now** ({mode}, {trade_date}): {int(is_buy.sum())} buys "
        f"{_money(buys)}, {int((~is_buy).sum())} sells {_money(sells)}; turnover {turnover}. "
        f"**Reject** (or no answer by the deadline) sends nothing.",
        "",
        f"{len(rejected)} order(s) rejected by the risk gate" + (":" if len(rejected) else "."),
    ]
    r: Any  # pandas-stubs types a row's fields as any scalar at all
    if len(rejected):
        lines += ["", "| side | symbol | qty | why |", "|---|---|---:|---|"]
        for r in rejected.head(REJECTED_SHOWN).itertuples():
            lines.append(f"| {_cell(r.side)} | {_cell(r.symbol)} | {r.qty:g} | {_cell(r.reasons)} |")
        if len(rejected) > REJECTED_SHOWN:
            lines.append(f"\n… and {len(rejected) - REJECTED_SHOWN} more.")
    if len(approved):
        shown = min(LARGEST, len(approved))
        lines += ["", f"The {shown} largest of the {len(approved)}:" if len(approved) > shown else "The orders:", "",
                  "| side | symbol | qty | notional |", "|---|---|---:|---:|"]
        top = approved.assign(order_notional=notional).sort_values("order_notional", ascending=False).head(LARGEST)
        for r in top.itertuples():
            lines.append(f"| {_cell(r.side)} | {_cell(r.symbol)} | {r.qty:g} | {_money(float(r.order_notional))} |")
        if len(approved) > shown:
            lines.append(f"\n… and {len(approved) - shown} smaller order(s).")
    where = f"`{report_path}`" if report_path else "the risk report"
    lines += ["", f"Every order, with its type, reference price, take-profit and stop-loss: {where}."]
    return "\n".join(lines)
