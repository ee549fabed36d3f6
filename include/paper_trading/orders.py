"""The order contract: what an order is from the plan to the books, in one place.

The plan writes orders with these columns, the gate approves them with two more, execution sends
them under a deterministic `client_order_id` and records their statuses, and the books and the
alerts classify them by those statuses. Each of those modules imports its part of the contract
from here, so a column, a side or a status is spelled once.
"""

from __future__ import annotations

import datetime as dt

#: `rebalance_plan_YYYYMMDD.csv`: one row per symbol, from the current to the target position.
PLAN_COLUMNS = [
    "symbol", "asset_id", "ref_price", "current_qty", "current_value", "current_weight", "target_weight",
    "target_value", "target_qty", "delta_qty", "action", "reason",
]
#: `planned_orders_YYYYMMDD.csv`: one row per order (the spec's M2 output, M4's input).
ORDER_COLUMNS = [
    "symbol", "side", "qty", "ref_price", "notional", "order_type", "time_in_force", "tp_price", "sl_price", "reason",
]
#: The approved orders file: the orders, and which gate approved them (its mode and run id).
APPROVED_COLUMNS = ORDER_COLUMNS + ["mode", "run_id"]
#: Share quantities are rounded to this many decimals (Alpaca's fractional shares take 9).
QTY_DECIMALS = 9

ORDER_SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "bracket", "limit")
TIMES_IN_FORCE = ("day", "gtc")

#: Order classes whose sell legs are exits (a bracket's take-profit and stop-loss, an OCO).
EXIT_CLASSES = frozenset({"bracket", "oco"})

#: Statuses after which an order changes no more.
TERMINAL = frozenset({"filled", "canceled", "expired", "rejected", "replaced"})
#: What the runner waits for: terminal, or done for today (a DAY order gets no more fills today).
DONE_TODAY = TERMINAL | {"done_for_day"}
#: Outcomes that exist only in our ledger (the broker refused or never got the order): final for
#: the round, recorded again by a re-run and never sent again.
NOT_SENT_AGAIN = frozenset({"rejected", "not_sent"})
#: Ledger states of an order whose fate must still be found out at the broker.
UNRESOLVED = frozenset({"submitting", "unknown"})
#: Statuses of an order, at the broker or only in our ledger, that will not change any more.
FINAL = TERMINAL | {"not_sent", "dry_run"}

#: The books' order classifications that mean the order failed (each row has `alert = true`).
FAILED = frozenset({"not_sent", "rejected", "unknown", "expired"})
#: Classifications whose filled quantity is compared with the planned one. Not the gate's
#: rejections (a decision, reported by the risk step), dry runs (nothing sent) or failures (above).
COMPARED = frozenset({"filled", "partially_filled", "canceled", "open"})


def client_order_id(prefix: str, trade_date: dt.date, symbol: str, side: str, round_no: int, mode: str) -> str:
    """`pt-20250303-AAPL-buy-r1` (<= 48 characters); dry runs get `dry-...`, never sent.

    Deterministic per trade date, symbol, side and round: the same order always has the same id, so
    a retried run looks it up at the broker instead of sending it twice."""
    head = "dry" if mode == "dry" else prefix
    return f"{head}-{trade_date:%Y%m%d}-{symbol.replace('/', '_')}-{side}-r{round_no}"[:48]
