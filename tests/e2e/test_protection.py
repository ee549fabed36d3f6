"""Protection per lot (the spec: 新开仓/加仓使用 Bracket), against the simulator over real HTTP.

Every buy is a bracket over the shares it buys; a reduction cancels the name's exits, sells at
market and protects the rest with one OCO; after every run, each protected long position is
covered exactly — its working take-profit legs sell exactly its shares, and so do its stop-loss
legs. The held day: a prior book with brackets working, then a day with new names, an increase,
a partial reduction and a full exit."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from paper_trading import steps
from paper_trading.broker.types import OrderRequest
from paper_trading.errors import OutcomeUnknown
from paper_trading.execution import REPROTECT_REASON
from tests.e2e.test_execute import (
    DAY,
    OPEN,
    approved,
    assert_exactly_the_approved_orders,
    broker_orders,
    fast,  # noqa: F401 - a fixture
    gate,
    ledger,
)

YESTERDAY = "2025-12-30T15:00:00Z"
WORKING = ("new", "accepted", "held", "partially_filled", "pending_new")


def place_bracket(broker, symbol: str, qty: int, cid: str) -> str:
    """A GTC bracket far from the price (its exits do not trigger on the bars in between)."""
    price = float(broker.latest_prices([symbol])[0][symbol].price)
    return broker.submit_order(OrderRequest(symbol=symbol, side="buy", qty=qty, client_order_id=cid,
                                            time_in_force="gtc", take_profit=round(price * 1.5, 2),
                                            stop_loss=round(price * 0.5, 2))).id


def held_book(sim, broker) -> None:
    """Yesterday: AAPL in two lots (the plan reduces it), KO (the plan increases it), SPY (not in
    today's targets: a full exit)."""
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": YESTERDAY})
    place_bracket(broker, "AAPL", 120, "pt-20251230-AAPL-buy-r1")
    place_bracket(broker, "AAPL", 80, "pt-20251230-AAPL-buy-r2")
    place_bracket(broker, "KO", 5, "pt-20251230-KO-buy-r1")
    place_bracket(broker, "SPY", 10, "pt-20251230-SPY-buy-r1")
    sim.admin("POST", "/sim/clock", {"to": OPEN})


def edit_config(project, *changes: tuple[str, str]) -> None:
    config = project / "config" / "config.yaml"
    text = config.read_text()
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    config.write_text(text)


def coverage(sim) -> dict[str, tuple[float, float]]:
    """What the working exits at the broker may sell, per symbol: (take-profit legs, stop-loss legs)."""
    out: dict[str, list[float]] = {}
    for order in broker_orders(sim):
        group = [order, *(order.get("legs") or [])] if order["order_class"] == "oco" else order.get("legs") or []
        if order["order_class"] == "bracket" and order["status"] not in ("filled",):
            continue  # an entry not done: its legs are not working yet
        for leg in group:
            if leg["side"] != "sell" or leg["status"] not in WORKING:
                continue
            left = float(leg["qty"]) - float(leg["filled_qty"])
            tp_sl = out.setdefault(leg["symbol"], [0.0, 0.0])
            tp_sl[0 if leg["type"] == "limit" else 1] += left
    return {s: (tp, sl) for s, (tp, sl) in out.items()}


def assert_covered_exactly(sim, broker) -> None:
    held = {p.symbol: float(math.floor(float(p.qty))) for p in broker.positions() if float(p.qty) > 0}
    cover = coverage(sim)
    assert {s: cover.get(s, (0.0, 0.0)) for s in held} == {s: (q, q) for s, q in held.items()}
    assert not {s for s, (tp, sl) in cover.items() if s not in held and (tp or sl)}


def our_entries(sim) -> dict[str, dict]:
    return {o["client_order_id"]: o for o in broker_orders(sim) if o["client_order_id"].startswith("pt-20251231-")
            and "-oco-" not in o["client_order_id"]}


def test_every_buy_is_a_bracket_over_exactly_the_approved_shares(fast, sim, broker):
    held_book(sim, broker)
    gate(fast, broker)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert_exactly_the_approved_orders(fast, sim)
    buys = {r.symbol: r.qty for r in approved(fast).itertuples() if r.side == "buy"}
    sent = {o["symbol"]: o for o in our_entries(sim).values() if o["side"] == "buy"}
    assert {s: (o["order_class"], float(o["qty"])) for s, o in sent.items()} == \
        {s: ("bracket", float(q)) for s, q in buys.items()}


def test_an_increase_leaves_the_earlier_exits_working_untouched(fast, sim, broker):
    held_book(sim, broker)
    before = {o["id"]: [(leg["id"], leg["status"], leg["qty"]) for leg in o["legs"]]
              for o in broker_orders(sim) if o["symbol"] == "KO"}
    gate(fast, broker)
    assert approved(fast).set_index("symbol").loc["KO", "side"] == "buy"
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    after = {o["id"]: [(leg["id"], leg["status"], leg["qty"]) for leg in o["legs"]]
             for o in broker_orders(sim) if o["symbol"] == "KO"}
    assert {k: after[k] for k in before} == before  # the same legs, still working, the same quantity
    assert not [o for o in broker_orders(sim) if o["symbol"] == "KO" and o["order_class"] == "oco"]
    with ledger(fast) as book:
        reason = book.order("pt-20251231-KO-buy-r1")["reason"]
    assert "a bracket over the added shares" in reason
    assert_covered_exactly(sim, broker)


def test_a_reduction_of_a_name_with_several_lots_ends_with_one_oco_over_the_remainder(fast, sim, broker):
    held_book(sim, broker)
    place_bracket(broker, "AAPL", 50, "pt-20251231-AAPL-buy-manual")  # a third lot, this morning
    gate(fast, broker)
    assert approved(fast).set_index("symbol").loc["AAPL", "side"] == "sell"
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    aapl = [o for o in broker_orders(sim) if o["symbol"] == "AAPL"]
    lots = [o for o in aapl if o["order_class"] == "bracket"]
    assert len(lots) == 3 and {leg["status"] for o in lots for leg in o["legs"]} == {"canceled"}
    [oco] = [o for o in aapl if o["order_class"] == "oco"]
    held = float(next(p.qty for p in broker.positions() if p.symbol == "AAPL"))
    assert (oco["status"], float(oco["qty"]), oco["legs"][0]["status"], float(oco["legs"][0]["qty"])) == \
        ("new", held, "held", held)
    with ledger(fast) as book:
        assert book.order("pt-20251231-AAPL-oco-r1")["reason"] == REPROTECT_REASON
        old = book.order("pt-20251230-AAPL-buy-r1")
    assert old is None or old["status"] == "filled"  # placed by hand here: the ledger may not know it
    assert_covered_exactly(sim, broker)


def test_a_full_exit_leaves_no_exit_working(fast, sim, broker):
    held_book(sim, broker)
    gate(fast, broker)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert "SPY" not in {p.symbol for p in broker.positions()}
    assert "SPY" not in coverage(sim)


def test_a_rerun_of_the_held_day_sends_nothing(fast, sim, broker):
    held_book(sim, broker)
    gate(fast, broker)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    orders = broker_orders(sim)
    with ledger(fast) as book:
        rows = book.orders(DAY, mode="real")
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert broker_orders(sim) == orders
    with ledger(fast) as book:
        again = book.orders(DAY, mode="real")
    key = "client_order_id"
    before = {r[key]: r for r in rows}
    changed = {r[key]: {f: v for f, v in r.items() if f != "updated_at" and before.get(r[key], {}).get(f) != v}
               for r in again}
    assert {k: v for k, v in changed.items() if v} == {}  # the same rows, the same content
    assert_covered_exactly(sim, broker)


@pytest.mark.parametrize("fault", [
    {"kind": "ambiguous", "status": 504, "method": "POST", "path": "/v2/orders", "probability": 0.4, "seed": 3},
    {"kind": "ambiguous", "status": 0, "method": "POST", "path": "/v2/orders", "probability": 0.4, "seed": 5},
    {"kind": "error", "status": 500, "method": "GET", "path": "/v2/orders*", "probability": 0.3, "seed": 7},
], ids=["504-after-accepting", "dropped-after-accepting", "5xx-on-reads"])
def test_the_held_day_through_faults_sends_each_order_once_and_ends_covered(fast, sim, broker, fault):
    held_book(sim, broker)
    gate(fast, broker)
    sim.admin("POST", "/sim/faults", fault)
    for _ in range(8):  # Airflow's retries
        try:
            steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
            break
        except OutcomeUnknown:
            continue
    sim.admin("DELETE", "/sim/faults")
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert_exactly_the_approved_orders(fast, sim)
    ocos = [o["client_order_id"] for o in broker_orders(sim) if o["order_class"] == "oco"]
    assert len(ocos) == len(set(ocos))
    assert_covered_exactly(sim, broker)


def test_a_partly_filled_bracket_entry_ends_covered_exactly(fast, sim, broker):
    edit_config(fast, ("buy_timeout_s: 120", "buy_timeout_s: 0.2"))
    gate(fast, broker)
    sim.admin("POST", "/sim/config", {"partial_fill_probability": 1.0, "seed": 11})
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    entries = [o for o in our_entries(sim).values() if o["side"] == "buy"]
    partial = [o for o in entries if 0 < float(o["filled_qty"]) < float(o["qty"])]
    assert partial and {o["status"] for o in partial} == {"canceled"}
    with ledger(fast) as book:
        assert all("the rest cancelled" in book.order(o["client_order_id"])["reason"] for o in partial)
    assert_covered_exactly(sim, broker)


def test_exits_about_to_lapse_are_replaced_before_alpacas_90_days(fast, sim, broker):
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-10-03T15:00:00Z"})  # 89 days before DAY
    old = place_bracket(broker, "KO", 7, "pt-20251003-KO-buy-r1")
    sim.admin("POST", "/sim/clock", {"to": OPEN})
    lapses = dt.datetime.fromisoformat(broker.get_order(old).legs[0].expires_at.isoformat())
    assert lapses.date() <= DAY + dt.timedelta(days=1)
    gate(fast, broker)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    ko = {o["client_order_id"]: o for o in broker_orders(sim) if o["symbol"] == "KO"}
    assert {leg["status"] for leg in ko["pt-20251003-KO-buy-r1"]["legs"]} == {"canceled"}
    oco = ko["pt-20251231-KO-oco-r1"]
    assert float(oco["qty"]) == 7 and dt.datetime.fromisoformat(oco["expires_at"]).date() > DAY + dt.timedelta(days=80)
    with ledger(fast) as book:
        assert book.order(oco["client_order_id"])["reason"].startswith("renew: the earlier exits lapse within 7 days")
    assert_covered_exactly(sim, broker)


def test_whole_position_rebases_one_oco_over_the_whole_position(fast, sim, broker):
    edit_config(fast, ("protection: per_lot", "protection: whole_position"))
    held_book(sim, broker)
    gate(fast, broker)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    ko = [o for o in broker_orders(sim) if o["symbol"] == "KO"]
    [buy] = [o for o in ko if o["client_order_id"] == "pt-20251231-KO-buy-r1"]
    assert (buy["order_class"], buy["type"]) in {("", "market"), ("simple", "market")}
    assert {leg["status"] for o in ko if o["order_class"] == "bracket" for leg in o["legs"]} == {"canceled"}
    [oco] = [o for o in ko if o["order_class"] == "oco"]
    assert float(oco["qty"]) == float(next(p.qty for p in broker.positions() if p.symbol == "KO"))
    assert_covered_exactly(sim, broker)


def test_a_limit_entry_is_a_limit_bracket_at_the_price_now_plus_the_offset(fast, sim, broker):
    """The spec §2.4: the bracket's entry MARKET by default, or LIMIT; its legs around the limit
    (Alpaca's base price of a limit bracket)."""
    edit_config(fast, ("entry_type: market", "entry_type: limit"),
                ("entry_limit_offset_pct: 0", "entry_limit_offset_pct: 0.001"))
    gate(fast, broker)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert_exactly_the_approved_orders(fast, sim)
    buys = [o for o in our_entries(sim).values() if o["side"] == "buy"]
    assert buys and {(o["order_class"], o["type"], o["time_in_force"]) for o in buys} == {("bracket", "limit", "gtc")}
    for order in buys:
        limit = float(order["limit_price"])
        tp = next(float(leg["limit_price"]) for leg in order["legs"] if leg["type"] == "limit")
        sl = next(float(leg["stop_price"]) for leg in order["legs"] if leg["type"] == "stop")
        assert tp >= round(limit * 1.05, 2) - 0.01 and sl <= round(limit * 0.97, 2) + 0.01
    with ledger(fast) as book:
        assert "limit entry at" in book.order(buys[0]["client_order_id"])["reason"]


def test_simple_orders_take_the_configured_time_in_force(fast, sim, broker):
    edit_config(fast, ("time_in_force: day        # simple", "time_in_force: gtc  # simple"))
    held_book(sim, broker)
    gate(fast, broker)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    sells = [o for o in our_entries(sim).values() if o["side"] == "sell"]
    assert sells and {(o["type"], o["time_in_force"]) for o in sells} == {("market", "gtc")}
