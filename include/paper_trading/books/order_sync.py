"""Our orders in the ledger kept equal to the broker's: what finished there on its own.

Orders change at the broker with nobody asking: a stop-loss triggers days after its entry, a
take-profit fills, the other leg of the pair is cancelled with it, a DAY order resting on a halted
symbol expires at the close. Execution records what it sends and waits for; this records the rest,
once a day (reconcile calls it), so `execution_log.csv` never shows an order `new` that expired
weeks ago.

It costs the same after a year as on the first day: one `status=open` listing without nesting (each
working order and leg on its own) answers for every group still working — a held stop-loss is
never "open", but it lives exactly as long as the take-profit beside it, since Alpaca cancels the
other leg when one fills or is cancelled — and only a group with no member working any more is read
again, by its root (nested: the root and its legs), which are the few that finished since the last
call — unless the broker's order updates stream (`broker/trade_updates.py`) announced how each of
its unfinished members ended: then nothing is read. A replay listens for the whole year.
"""

from __future__ import annotations

from paper_trading.broker.trade_updates import CATCH_UP_S
from paper_trading.broker.types import Broker, OrderInfo, group_states
from paper_trading.execution import changed_rows
from paper_trading.ledger import Ledger
from paper_trading.logging_setup import get_logger
from paper_trading.orders import NOT_SENT_AGAIN, TERMINAL

log = get_logger("order_sync")

#: What changes no more: final at the broker, or an outcome only our ledger has.
FINISHED = TERMINAL | NOT_SENT_AGAIN | {"dry_run"}


def sync_orders(broker: Broker, ledger: Ledger) -> int:
    """Update the ledger rows of our unfinished real orders that the broker reports differently.
    Returns the number of rows updated."""
    rows = ledger.unfinished_orders(FINISHED)
    if not rows:
        return 0
    working = {o.id: o for o in broker.list_orders(status="open", nested=False)}
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["parent_client_order_id"] or row["client_order_id"], []).append(row)
    roots = ledger.orders_by_id(sorted(groups))
    seen: dict[str, OrderInfo] = {}
    finished: dict[str, list[dict]] = {}
    for root_cid, members in groups.items():
        listed = [working[m["broker_order_id"]] for m in members if m["broker_order_id"] in working]
        root_listed = (roots.get(root_cid) or {}).get("broker_order_id") in working
        if listed or root_listed:  # the group still works: what is listed says how; a held leg stays held
            seen.update({o.client_order_id: o for o in listed})
        else:
            finished[root_cid] = members
    root_ids = {root_cid: (roots.get(root_cid) or {}).get("broker_order_id") or members[0]["broker_order_id"]
                for root_cid, members in finished.items()}
    # the listing just said these finished: a stream that listens announces it, if it has not yet
    # (the frames of a clock move or a fill may still be on their way), within CATCH_UP_S
    states, gone = group_states(broker, {root_ids[cid]: {m["broker_order_id"] for m in members}
                                         for cid, members in finished.items()}, CATCH_UP_S)
    seen.update(states)
    for root_cid, root_id in root_ids.items():
        if root_id in gone:
            log.warning("order %s (%s) is not at the broker any more; its ledger row is left as it is", root_cid,
                        root_id)
    changed = changed_rows({row["client_order_id"]: row for row in rows}, seen)
    if changed:
        ledger.upsert_orders(changed)
        log.info("%d order(s) changed at the broker since the ledger last heard of them: %s", len(changed),
                 ", ".join(f"{r['client_order_id']} {r['status']}" for r in changed[:10]) +
                 (", ..." if len(changed) > 10 else ""))
    return len(changed)
