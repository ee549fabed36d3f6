"""Alpaca's wash-trade protection, row by row [docs.alpaca.markets "User Protection" → "Preventing Wash
Trades"; notes "User protections, held shares, complex orders"].

A new order is refused (403, 40310000, "potential wash trade detected. use complex orders") when an
open order of the other side on the same symbol could trade with it:

| existing (open)     | new, opposite side        | outcome                        |
|---------------------|---------------------------|--------------------------------|
| market              | any                       | refused                        |
| stop                | market, limit, stop, stop_limit | refused                  |
| limit buy           | market or stop sell       | refused                        |
| limit buy           | limit or stop_limit sell  | refused if buy limit ≥ sell limit |
| limit sell          | market or stop buy        | refused                        |
| limit sell          | limit or stop_limit buy   | refused if buy limit ≥ sell limit |
| stop_limit          | market or stop            | refused                        |
| stop_limit          | limit or stop_limit       | refused if buy limit ≥ sell limit |

Complex orders (bracket, OCO) and trailing stops are the exceptions, on either side: a new one is
never refused, and an open one (an entry, a leg, `held` or not) never refuses anything.

Every test holds 10 MSFT (bid/ask 238.44/238.50 at the fixture's clock), so sells are closing sales.
Open orders rest far from the market (buys at 200, sells at 300, stops beyond), except where a case
says otherwise; an open market order is one placed after the close.
"""

from __future__ import annotations

import json

import pytest
from alpaca.common.exceptions import APIError

WASH = "potential wash trade detected. use complex orders"
AFTER_CLOSE = "2025-12-30T22:00:00Z"
OTHER = {"buy": "sell", "sell": "buy"}

#: an open order of each type and side that neither fills nor triggers at the fixture's prices
RESTING = {
    ("market", "buy"): {}, ("market", "sell"): {},
    ("limit", "buy"): {"limit_price": "200"}, ("limit", "sell"): {"limit_price": "300"},
    ("stop", "buy"): {"stop_price": "300"}, ("stop", "sell"): {"stop_price": "200"},
    ("stop_limit", "buy"): {"stop_price": "300", "limit_price": "305"},
    ("stop_limit", "sell"): {"stop_price": "200", "limit_price": "195"},
}
#: a new order of each type and side, whose prices cross no order in RESTING of the other side
NEW = {
    ("market", "buy"): {}, ("market", "sell"): {},
    ("limit", "buy"): {"limit_price": "150"}, ("limit", "sell"): {"limit_price": "350"},
    ("stop", "buy"): {"stop_price": "310"}, ("stop", "sell"): {"stop_price": "190"},
    ("stop_limit", "buy"): {"stop_price": "310", "limit_price": "150"},
    ("stop_limit", "sell"): {"stop_price": "190", "limit_price": "350"},
}
PLAIN_TYPES = ["market", "limit", "stop", "stop_limit"]


def rejected(call) -> tuple[int, dict]:
    with pytest.raises(APIError) as err:
        call()
    return err.value.status_code, json.loads(str(err.value))


def place(trading, side: str, otype: str, qty: int = 1, symbol: str = "MSFT", **fields) -> dict:
    body = {"symbol": symbol, "qty": str(qty), "side": side, "type": otype, "time_in_force": "gtc"} | fields
    return trading.post("/orders", body)


@pytest.fixture
def long_msft(trading):
    place(trading, "buy", "market", qty=10, time_in_force="day")


def existing(trading, sim, otype: str, side: str) -> dict:
    if otype == "market":
        sim.admin("POST", "/sim/clock", {"to": AFTER_CLOSE})  # an open market order: queued for the next open
    order = place(trading, side, otype, **RESTING[(otype, side)])
    assert order["status"] in ("new", "accepted")
    return order


def refused(trading, side: str, otype: str, **fields) -> None:
    status, body = rejected(lambda: place(trading, side, otype, **fields))
    assert status == 403 and body["code"] == 40310000 and body["message"] == WASH


def accepted(trading, side: str, otype: str, **fields) -> dict:
    order = place(trading, side, otype, **fields)
    assert order["status"] in ("new", "accepted")
    return order


# ---------------------------------------------------------------------------- the table


@pytest.mark.parametrize("new_type", PLAIN_TYPES)
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_an_existing_market_order_refuses_any_opposite_order(trading, sim, long_msft, side, new_type):
    existing(trading, sim, "market", side)
    refused(trading, OTHER[side], new_type, **NEW[(new_type, OTHER[side])])


@pytest.mark.parametrize("new_type", PLAIN_TYPES)
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_an_existing_stop_order_refuses_any_opposite_order(trading, sim, long_msft, side, new_type):
    """Among them the bots' report: a plain market buy refused while a plain sell stop rests."""
    existing(trading, sim, "stop", side)
    refused(trading, OTHER[side], new_type, **NEW[(new_type, OTHER[side])])


@pytest.mark.parametrize("new_type", ["market", "stop"])
def test_an_existing_limit_buy_refuses_a_market_or_stop_sell(trading, sim, long_msft, new_type):
    existing(trading, sim, "limit", "buy")
    refused(trading, "sell", new_type, **NEW[(new_type, "sell")])


@pytest.mark.parametrize("new_type,prices", [
    ("limit", {"limit_price": "200"}),  # equal limits cross
    ("limit", {"limit_price": "180"}),
    ("stop_limit", {"stop_price": "210", "limit_price": "200"}),
    ("stop_limit", {"stop_price": "190", "limit_price": "185"}),
])
def test_an_existing_limit_buy_refuses_a_crossing_limit_or_stop_limit_sell(trading, sim, long_msft, new_type, prices):
    existing(trading, sim, "limit", "buy")
    refused(trading, "sell", new_type, **prices)


@pytest.mark.parametrize("new_type,prices", [
    ("limit", {"limit_price": "200.01"}),
    ("stop_limit", {"stop_price": "210", "limit_price": "205"}),
])
def test_an_existing_limit_buy_accepts_a_limit_or_stop_limit_sell_above_its_limit(trading, sim, long_msft, new_type,
                                                                                  prices):
    existing(trading, sim, "limit", "buy")
    accepted(trading, "sell", new_type, **prices)


@pytest.mark.parametrize("new_type", ["market", "stop"])
def test_an_existing_limit_sell_refuses_a_market_or_stop_buy(trading, sim, long_msft, new_type):
    existing(trading, sim, "limit", "sell")
    refused(trading, "buy", new_type, **NEW[(new_type, "buy")])


@pytest.mark.parametrize("new_type,prices", [
    ("limit", {"limit_price": "300"}),  # equal limits cross
    ("limit", {"limit_price": "320"}),
    ("stop_limit", {"stop_price": "310", "limit_price": "300"}),
    ("stop_limit", {"stop_price": "280", "limit_price": "315"}),
])
def test_an_existing_limit_sell_refuses_a_crossing_limit_buy(trading, sim, long_msft, new_type, prices):
    existing(trading, sim, "limit", "sell")
    refused(trading, "buy", new_type, **prices)


@pytest.mark.parametrize("new_type,prices", [
    ("limit", {"limit_price": "299.99"}),  # marketable: it fills at once, beside the resting sell
    ("stop_limit", {"stop_price": "280", "limit_price": "299.99"}),
])
def test_an_existing_limit_sell_accepts_a_limit_or_stop_limit_buy_below_its_limit(trading, sim, long_msft, new_type,
                                                                                 prices):
    existing(trading, sim, "limit", "sell")
    accepted(trading, "buy", new_type, **prices)


@pytest.mark.parametrize("new_type", ["market", "stop"])
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_an_existing_stop_limit_refuses_an_opposite_market_or_stop_order(trading, sim, long_msft, side, new_type):
    existing(trading, sim, "stop_limit", side)
    refused(trading, OTHER[side], new_type, **NEW[(new_type, OTHER[side])])


@pytest.mark.parametrize("side,new_type,prices", [
    ("buy", "limit", {"limit_price": "305"}),  # the buy stop-limit's limit is 305
    ("buy", "stop_limit", {"stop_price": "190", "limit_price": "185"}),
    ("sell", "limit", {"limit_price": "195"}),  # the sell stop-limit's limit is 195
    ("sell", "stop_limit", {"stop_price": "310", "limit_price": "200"}),
])
def test_an_existing_stop_limit_refuses_a_crossing_opposite_limit_or_stop_limit(trading, sim, long_msft, side,
                                                                                new_type, prices):
    existing(trading, sim, "stop_limit", side)
    refused(trading, OTHER[side], new_type, **prices)


@pytest.mark.parametrize("side,new_type,prices", [
    ("buy", "limit", {"limit_price": "305.01"}),
    ("buy", "stop_limit", {"stop_price": "190", "limit_price": "306"}),
    ("sell", "limit", {"limit_price": "194.99"}),
    ("sell", "stop_limit", {"stop_price": "310", "limit_price": "190"}),
])
def test_an_existing_stop_limit_accepts_a_non_crossing_opposite_limit_or_stop_limit(trading, sim, long_msft, side,
                                                                                   new_type, prices):
    existing(trading, sim, "stop_limit", side)
    accepted(trading, OTHER[side], new_type, **prices)


@pytest.mark.parametrize("otype", PLAIN_TYPES)
def test_orders_on_the_same_side_never_conflict(trading, sim, long_msft, otype):
    existing(trading, sim, otype, "sell")
    accepted(trading, "sell", "market")
    accepted(trading, "sell", "limit", limit_price="100")


def test_orders_on_another_symbol_never_conflict(trading, sim, long_msft):
    existing(trading, sim, "stop", "sell")
    accepted(trading, "buy", "market", symbol="AAPL")


def test_a_cancelled_order_no_longer_conflicts(trading, sim, long_msft):
    order = existing(trading, sim, "stop", "sell")
    refused(trading, "buy", "market")
    trading.cancel_order_by_id(order["id"])
    accepted(trading, "buy", "market")


def test_the_refusal_names_the_existing_order(trading, sim, long_msft):
    order = existing(trading, sim, "stop", "sell")
    status, body = rejected(lambda: place(trading, "buy", "market"))
    assert status == 403 and body == {"code": 40310000, "message": WASH, "existing_order_id": order["id"],
                                      "reject_reason": "opposite side stop order exists"}


# ---------------------------------------------------------------------------- the exceptions

BRACKET = {"order_class": "bracket", "take_profit": {"limit_price": "300"}, "stop_loss": {"stop_price": "200"}}
OCO_SELL = {"order_class": "oco", "take_profit": {"limit_price": "290"}, "stop_loss": {"stop_price": "210"}}


@pytest.mark.parametrize("existing_type,existing_side,new_side,new_type,fields", [
    ("stop", "sell", "buy", "market", BRACKET),  # the bots' report: a bracket buy beside a resting sell stop
    ("market", "sell", "buy", "market", BRACKET),
    ("limit", "sell", "buy", "limit", {**BRACKET, "limit_price": "300", "take_profit": {"limit_price": "310"}}),
    ("stop", "buy", "sell", "limit", OCO_SELL),
    ("market", "buy", "sell", "limit", OCO_SELL),
    ("limit", "buy", "sell", "limit", {**OCO_SELL, "take_profit": {"limit_price": "200"}, "stop_loss": {"stop_price": "190"}}),
])
def test_a_new_complex_order_is_never_refused(trading, sim, long_msft, existing_type, existing_side, new_side,
                                              new_type, fields):
    existing(trading, sim, existing_type, existing_side)
    order = accepted(trading, new_side, new_type, qty=5, **fields)
    assert order["order_class"] == fields["order_class"]


@pytest.mark.parametrize("existing_type,existing_side,new_side", [
    ("market", "buy", "sell"), ("stop", "buy", "sell"), ("limit", "buy", "sell"),
    ("market", "sell", "buy"), ("stop", "sell", "buy"), ("stop_limit", "sell", "buy"),
])
def test_a_new_trailing_stop_is_never_refused(trading, sim, long_msft, existing_type, existing_side, new_side):
    existing(trading, sim, existing_type, existing_side)
    accepted(trading, new_side, "trailing_stop", trail_percent="2")


def test_working_bracket_exit_legs_never_conflict(trading, sim):
    """A bracket whose entry filled: its take-profit (a limit sell, `new`) and stop-loss (a stop sell,
    `held`) are open, yet plain buys of any kind are accepted."""
    bracket = place(trading, "buy", "market", qty=10, **BRACKET)
    legs = trading.get(f"/orders/{bracket['id']}", {"nested": "true"})["legs"]
    assert sorted(leg["status"] for leg in legs) == ["held", "new"]
    for otype, prices in [("market", {}), ("limit", {"limit_price": "300"}), ("stop", {"stop_price": "310"}),
                          ("stop_limit", {"stop_price": "310", "limit_price": "320"})]:
        accepted(trading, "buy", otype, **prices)


def test_an_unfilled_bracket_entry_and_its_held_legs_never_conflict(trading, sim, long_msft):
    place(trading, "buy", "limit", qty=5, limit_price="230", **BRACKET | {"stop_loss": {"stop_price": "220"}})
    accepted(trading, "sell", "market")
    accepted(trading, "sell", "limit", limit_price="225")


def test_an_open_oco_never_conflicts(trading, sim, long_msft):
    place(trading, "sell", "limit", qty=10, **OCO_SELL)
    accepted(trading, "buy", "market")
    accepted(trading, "buy", "limit", limit_price="295")


def test_an_open_trailing_stop_never_conflicts(trading, sim, long_msft):
    place(trading, "sell", "trailing_stop", qty=5, trail_price="10")
    accepted(trading, "buy", "market")
    accepted(trading, "buy", "stop", stop_price="300")
