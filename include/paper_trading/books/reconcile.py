"""M5 — reconciliation: what really happened at the broker, matched to the plan, in words.

The broker is the truth (NautilusTrader's rule): fills come from the account activities, positions
and cash from the account, and our ledger is checked against them, never the other way round. Pure
functions on plain rows; the step (`steps/reconcile.py`) reads the broker and writes the ledger.

- **Fills** are the FILL activities, keyed by their activity id (paged by id, never by time alone:
  several fills can share a timestamp while `after` is exclusive).
- **Cash ledger**: every activity that moves cash — a fill (−qty × price for a buy, + for a sell),
  a dividend, a fee, a journal, a deposit — keyed by activity id.
- **Classification** of every order the day had: each planned order (filled; partially filled,
  with what was left and why; rejected with the broker's message — a refused submit never exists at
  the broker, it lives only in our ledger; cancelled; expired; still open; not sent, with the
  reason); each order the gate refused (not submitted, with the gate's reasons); each order at the
  broker that nobody planned (a manual trade); each bracket / OCO leg (filled, or still open).
- **Drift**: the positions the ledger implies (the previous end-of-day positions plus the day's
  fills) against the broker's; the cash the ledger implies against the broker's. Any difference
  is a row with `alert = true`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import SupportsFloat

from paper_trading.orders import FINAL
from paper_trading.trading_calendar import exchange_date

#: Activity types that are not fills but move cash (Alpaca's non-trade activities).
CASH_TYPES = frozenset({"DIV", "DIVCGL", "DIVCGS", "DIVNRA", "DIVROC", "DIVTXEX", "DIVTAX", "FEE", "INT", "JNLC",
                        "JNLS", "CSD", "CSW", "CFEE", "PTC", "REORG", "SPIN", "SPLIT", "MA", "NC", "OPASN", "OPEXP",
                        "OPXRC", "ACATC", "ACATS", "CIL"})
QTY_EPS = 1e-9


def _num(value) -> float:
    return float(value) if value not in (None, "") else 0.0


def activity_date(activity: dict) -> dt.date:
    """The exchange date of an activity: a fill's transaction time in New York, else its `date`."""
    if activity.get("transaction_time"):
        return exchange_date(dt.datetime.fromisoformat(str(activity["transaction_time"]).replace("Z", "+00:00")))
    return dt.date.fromisoformat(str(activity["date"])[:10])


@dataclass(frozen=True)
class Fill:
    activity_id: str
    trade_date: dt.date
    transaction_time: dt.datetime
    order_id: str
    symbol: str
    side: str
    qty: float
    price: float
    fill_type: str

    @property
    def signed_qty(self) -> float:
        return self.qty if self.side == "buy" else -self.qty

    @property
    def cash(self) -> float:
        return -self.signed_qty * self.price


def fills_of(activities: Iterable[dict]) -> list[Fill]:
    """The FILL activities as fills (one per activity id; a page repeated by the broker is not
    counted twice)."""
    seen: dict[str, Fill] = {}
    for a in activities:
        if a.get("activity_type") != "FILL" or a["id"] in seen:
            continue
        when = dt.datetime.fromisoformat(str(a["transaction_time"]).replace("Z", "+00:00"))
        seen[a["id"]] = Fill(a["id"], exchange_date(when), when, str(a.get("order_id") or ""), a["symbol"],
                             a["side"], _num(a["qty"]), _num(a["price"]), a.get("type") or "fill")
    return list(seen.values())


def cash_rows(activities: Iterable[dict]) -> list[dict]:
    """Every activity that moves cash, as a cash-ledger row keyed by its activity id."""
    out: dict[str, dict] = {}
    for a in activities:
        kind = a.get("activity_type")
        if a["id"] in out:
            continue
        if kind == "FILL":
            fill = fills_of([a])[0]
            out[a["id"]] = {
                "activity_id": a["id"],
                "date": fill.trade_date,
                "activity_type": "FILL",
                "symbol": fill.symbol,
                "qty": fill.signed_qty,
                "price": fill.price,
                "net_amount": round(fill.cash, 6),
                "description": f"{fill.side} {fill.qty:g} @ {fill.price:g}",
            }
        elif kind in CASH_TYPES or a.get("net_amount") not in (None, ""):
            out[a["id"]] = {
                "activity_id": a["id"],
                "date": activity_date(a),
                "activity_type": kind,
                "symbol": a.get("symbol") or None,
                "qty": _num(a.get("qty")) or None,
                "price": _num(a.get("per_share_amount")) or None,
                "net_amount": _num(a.get("net_amount")),
                "description": a.get("description") or a.get("activity_sub_type") or kind,
            }
    return list(out.values())


def positions_at_end_of(day: dt.date, broker_now: dict[str, float], later_fills: Iterable[Fill]) -> dict[str, float]:
    """The positions at the end of `day`, from the broker's positions now minus the fills after it
    (so a reconcile run on a later day still gets that day's close right)."""
    out = defaultdict(float, broker_now)
    for fill in later_fills:
        if fill.trade_date > day:
            out[fill.symbol] -= fill.signed_qty
    return {s: q for s, q in out.items() if abs(q) > QTY_EPS}


def implied_positions(previous: dict[str, float], fills: Iterable[Fill]) -> dict[str, float]:
    """What the ledger says is held: the previous end-of-day positions plus the day's fills."""
    out = defaultdict(float, previous)
    for fill in fills:
        out[fill.symbol] += fill.signed_qty
    return {s: q for s, q in out.items() if abs(q) > QTY_EPS}


def slippage_bps(side: str, ref_price: float | None, avg_price: float | None) -> float | None:
    """Fill price against the reference price, in basis points; positive = worse for us (paid more
    on a buy, got less on a sell)."""
    if not ref_price or not avg_price:
        return None
    sign = 1.0 if side == "buy" else -1.0
    return round(sign * (avg_price - ref_price) / ref_price * 1e4, 3)


def _q(value: float | None) -> str:
    return "0" if not value else f"{value:g}"


def _order_row(day: dt.date, key: str, **fields) -> dict:
    row = {
        "trade_date": day,
        "key": key,
        "kind": "order",
        "symbol": None,
        "side": None,
        "planned_qty": None,
        "sent_qty": None,
        "filled_qty": None,
        "remaining_qty": None,
        "status": None,
        "classification": None,
        "ref_price": None,
        "avg_fill_price": None,
        "slippage_bps": None,
        "message": "",
        "alert": False,
    }
    row.update(fields)
    return row


def classify_orders(
    day: dt.date,
    ledger_orders: list[dict],
    broker_orders: dict[str, dict],
    fills_by_order: dict[str, list[Fill]],
    gate_rejected: list[dict],
    later_fills_by_order: dict[str, list[Fill]] | None = None,
    known_elsewhere: set[str] | None = None,
) -> list[dict]:
    """One reconciliation row per order of the day (see the module docstring), keyed by client_order_id.

    The rows say how things stood at the end of `day`: an order with fills after the day was still
    open then, whatever the broker says of it now (so reconciling an older day again gives the same
    report). `known_elsewhere`: client_order_ids the ledger has under another date or mode — never
    reported as manual trades."""
    rows = []
    later_fills_by_order = later_fills_by_order or {}
    ours = {r["client_order_id"] for r in ledger_orders} | (known_elsewhere or set())
    # a pair of exit legs one of which filled after the day: both were still open at its end
    pairs_later = {
        r["parent_client_order_id"]
        for r in ledger_orders
        if r["parent_client_order_id"] and later_fills_by_order.get(r["broker_order_id"] or "")
    }
    for r in ledger_orders:
        cid = r["client_order_id"]
        at_broker = broker_orders.get(cid)
        status = (at_broker or {}).get("status") or r["status"]
        fills = fills_by_order.get(r["broker_order_id"] or "", [])
        if later_fills_by_order.get(r["broker_order_id"] or "") or r["parent_client_order_id"] in pairs_later:
            status = "open"  # it filled (further) after the day: at the end of the day it was open
            filled = sum(f.qty for f in fills)
        else:
            filled = (
                sum(f.qty for f in fills)
                if fills
                else float((at_broker or {}).get("filled_qty") or r["filled_qty"] or 0)
            )
        avg = (
            (sum(f.qty * f.price for f in fills) / filled)
            if fills and filled
            else (
                float(at_broker["filled_avg_price"])
                if at_broker and at_broker.get("filled_avg_price")
                else r["filled_avg_price"]
            )
        )
        if status not in FINAL and status not in ("unknown", "submitting"):
            status = "open"  # new, held, accepted, partially_filled, ...: one word, whenever it is asked
        sent, planned = r["qty"], r["planned_qty"] or r["qty"]
        left = max(sent - filled, 0.0)
        # exits that protect a position: the legs of a bracket, and the OCO pair that re-protects a
        # traded name (its take-profit is the order, its stop-loss the leg) — open by design, no plan
        kind = "leg" if r["parent_client_order_id"] or r.get("order_class") == "oco" else "order"
        what = f"{r['side']} {r['symbol']}"
        scaled = f" (sent {_q(sent)} after {r['reason']})" if planned and sent != planned and r["reason"] else ""
        alert = False
        if kind == "leg":
            label = f"leg_{status}" if status in FINAL else "leg_open"
            owner = (
                f"leg of {r['parent_client_order_id']}"
                if r["parent_client_order_id"]
                else f"OCO re-protecting {r['symbol']} ({_q(sent)})"
            )
            message = f"{r['order_type'].replace('_', '-')} {owner}: " + (
                f"filled {_q(filled)} at {avg:g}" if status == "filled" and avg else status
            )
        elif status == "dry_run":
            label, message = "dry_run", f"{what}: dry run, planned {_q(planned)}, nothing sent"
        elif status == "not_sent":
            label, message, alert = "not_sent", f"{what}: planned {_q(planned)}, not sent: {r['reason']}", True
        elif status == "rejected":
            label, alert = "rejected", True
            message = f"{what}: planned {_q(planned)}, rejected by the broker: {r['last_error'] or 'no message'}"
        elif status in ("unknown", "submitting"):
            label, alert = "unknown", True
            message = f"{what}: planned {_q(planned)}, outcome unknown at the broker ({r['last_error'] or 'no answer'})"
        elif filled >= sent - QTY_EPS and filled > 0:
            label, message = "filled", f"{what}: planned {_q(planned)}{scaled}, filled {_q(filled)} at {avg:g}"
        elif filled > 0:
            why = {"expired": "when the DAY order expired", "canceled": "when the order was cancelled"}.get(
                status, "still open at the broker"
            )
            label = "partially_filled"
            message = f"{what}: planned {_q(planned)}{scaled}, filled {_q(filled)}, {_q(left)} left {why}"
        elif status == "expired":
            label, alert = "expired", True
            message = f"{what}: planned {_q(planned)}{scaled}, nothing filled before the DAY order expired"
        elif status == "canceled":
            label, message = "canceled", f"{what}: planned {_q(planned)}{scaled}, cancelled unfilled"
        else:
            label, message = (
                "open",
                f"{what}: planned {_q(planned)}{scaled}, {status} at the broker, nothing filled yet",
            )
        slip = slippage_bps(r["side"], r["ref_price"], avg) if filled and kind == "order" else None
        if slip is not None:
            message += f" ({slip:+.1f} bps vs the reference {r['ref_price']:g})"
        rows.append(
            _order_row(
                day,
                cid,
                kind=kind,
                symbol=r["symbol"],
                side=r["side"],
                planned_qty=planned,
                sent_qty=sent,
                filled_qty=filled,
                remaining_qty=left if kind == "order" else None,
                status=status,
                classification=label,
                ref_price=r["ref_price"],
                avg_fill_price=avg,
                slippage_bps=slip,
                message=message,
                alert=alert,
            )
        )
    for g in gate_rejected:
        key = f"gate:{g['side']}:{g['symbol']}"
        rows.append(
            _order_row(
                day,
                key,
                symbol=g["symbol"],
                side=g["side"],
                planned_qty=g["qty"],
                sent_qty=0.0,
                filled_qty=0.0,
                remaining_qty=g["qty"],
                status="rejected_by_gate",
                classification="not_submitted",
                ref_price=g.get("ref_price"),
                message=f"{g['side']} {g['symbol']}: planned {_q(g['qty'])}, not submitted: the risk "
                f"gate rejected it ({g.get('reasons') or 'no reason given'})",
            )
        )
    legs_of_ours = {
        leg.get("client_order_id")
        for o in broker_orders.values()
        if o.get("client_order_id") in ours
        for leg in (o.get("legs") or [])
    }
    for cid, o in broker_orders.items():
        if cid in ours or cid in legs_of_ours:
            continue
        filled = float(o.get("filled_qty") or 0)
        rows.append(
            _order_row(
                day,
                cid,
                kind="manual",
                symbol=o["symbol"],
                side=o["side"],
                planned_qty=0.0,
                sent_qty=float(o.get("qty") or 0),
                filled_qty=filled,
                status=o["status"],
                classification="manual",
                alert=True,
                message=f"{o['side']} {o['symbol']} {_q(float(o.get('qty') or 0))}: at the broker but "
                f"never planned (a manual trade?), {o['status']}, filled {_q(filled)}",
            )
        )
    return rows


def earlier_order_fill_rows(
    day: dt.date, fills: Iterable[Fill], orders_of_day: set[str], our_orders: dict[str, dict]
) -> list[dict]:
    """A row per order filling on `day` that was placed on an earlier day: one of ours (a GTC
    bracket leg, an OCO, a GTC entry's remainder) or, if the ledger does not know it, a manual trade."""
    rows = []
    for order_id, group in group_fills(f for f in fills if f.order_id not in orders_of_day).items():
        qty = sum(f.qty for f in group)
        avg = sum(f.qty * f.price for f in group) / qty if qty else 0.0
        first = group[0]
        row = our_orders.get(order_id)
        if row is not None:
            what = row["order_type"].replace("_", "-")
            parent = f" of {row['parent_client_order_id']}" if row["parent_client_order_id"] else ""
            rows.append(
                _order_row(
                    day,
                    row["client_order_id"],
                    kind="leg" if row["parent_client_order_id"] else "order",
                    symbol=first.symbol,
                    side=first.side,
                    filled_qty=qty,
                    status="filled",
                    classification="earlier_order_filled",
                    avg_fill_price=round(avg, 6),
                    message=f"{what}{parent} (placed {row['trade_date']}): {first.side} {first.symbol} "
                    f"filled {_q(qty)} at {avg:g}",
                )
            )
        else:
            rows.append(
                _order_row(
                    day,
                    f"order:{order_id}",
                    kind="manual",
                    symbol=first.symbol,
                    side=first.side,
                    filled_qty=qty,
                    status="filled",
                    classification="manual",
                    alert=True,
                    avg_fill_price=round(avg, 6),
                    message=f"{first.side} {first.symbol} filled {_q(qty)} at {avg:g}: an order placed "
                    "before the day that the ledger does not know (a manual trade?)",
                )
            )
    return rows


def position_rows(day: dt.date, implied: dict[str, float], actual: dict[str, float], baseline: bool) -> list[dict]:
    """A row per symbol held (or implied): the drift between the ledger and the broker, if any."""
    rows = []
    for symbol in sorted(set(implied) | set(actual)):
        have, want = actual.get(symbol, 0.0), implied.get(symbol, 0.0)
        drift = have - want
        off = not baseline and abs(drift) > QTY_EPS
        message = (
            f"{symbol}: the broker holds {_q(have)}, the ledger implies {_q(want)} (drift {drift:+g})"
            if off
            else f"{symbol}: {_q(have)} held, as the ledger implies"
            if not baseline
            else f"{symbol}: {_q(have)} held (first reconciliation: the baseline)"
        )
        rows.append(
            _order_row(
                day,
                f"position:{symbol}",
                kind="position",
                symbol=symbol,
                planned_qty=want,
                filled_qty=have,
                remaining_qty=drift,
                status="drift" if off else "ok",
                classification="position_drift" if off else "position_ok",
                message=message,
                alert=off,
            )
        )
    return rows


def closes_of_day(
    day: dt.date, symbols: Iterable[str], closes: Mapping[str, Sequence[tuple[dt.date, SupportsFloat]]]
) -> tuple[dict[str, float], list[dict]]:
    """Each symbol's close of `day`, else its latest close before it with an alert row (a halted
    symbol or a late bar must not value a position at zero unnoticed)."""
    out, rows = {}, []
    for symbol in symbols:
        series = [(d, float(c)) for d, c in closes.get(symbol, []) if d <= day]
        if series:
            out[symbol] = series[-1][1]
        if not series or series[-1][0] < day:
            seen = f"its latest close is from {series[-1][0]}" if series else "no close in the last 10 days"
            rows.append(
                _order_row(
                    day,
                    f"price:{symbol}",
                    kind="price",
                    symbol=symbol,
                    status="stale",
                    classification="price_missing",
                    alert=True,
                    message=f"{symbol}: no close for {day} ({seen}); equity values it "
                    + ("at that close" if series else "at nothing"),
                )
            )
    return out, rows


def cash_row(day: dt.date, implied: float | None, actual: float) -> dict:
    if implied is None:
        return _order_row(
            day,
            "cash",
            kind="cash",
            filled_qty=actual,
            status="ok",
            classification="cash_baseline",
            message=f"cash {actual:,.2f} at the end of the day (first reconciliation: the baseline)",
        )
    drift = actual - implied
    off = abs(drift) > 0.01
    return _order_row(
        day,
        "cash",
        kind="cash",
        planned_qty=round(implied, 2),
        filled_qty=actual,
        remaining_qty=round(drift, 2),
        status="drift" if off else "ok",
        classification="cash_drift" if off else "cash_ok",
        alert=off,
        message=(
            f"cash: the broker has {actual:,.2f}, the ledger implies {implied:,.2f} (drift {drift:+,.2f})"
            if off
            else f"cash {actual:,.2f}, as the ledger implies"
        ),
    )


def group_fills(fills: Iterable[Fill]) -> dict[str, list[Fill]]:
    out: dict[str, list[Fill]] = defaultdict(list)
    for fill in fills:
        out[fill.order_id].append(fill)
    return out


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
