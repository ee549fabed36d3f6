"""Simple stop, stop-limit and trailing-stop orders as Alpaca runs them [alpaca-docs orders.md "Order
Types", "Trailing Stop Orders"]: accepted with their prices, triggered on the price path, listed,
cancelled and expired like any order.

Prices come from the sample bars (spread 2 bps). MSFT on 2025-12-30 (a down day: high first): bid/ask
238.44/238.50 at the fixture's 10:00, 239.88/239.94 at the high (16:40Z), 232.55/232.61 at the low
(18:50Z), 233.52/233.58 at the close; on 2025-12-31 (an up day): 232.62/232.68 at the open (a gap
down), 229.85/229.91 at the low (16:40Z), 235.24/235.30 at the high (18:50Z).
"""

from __future__ import annotations

import json

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import (
    OrderSide,
    OrderStatus,
    OrderType,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.requests import (
    GetOrdersRequest,
    MarketOrderRequest,
    StopLimitOrderRequest,
    StopOrderRequest,
    TrailingStopOrderRequest,
)

HIGH_30 = "2025-12-30T16:40:00Z"
CLOSE_30 = "2025-12-30T21:00:00Z"
AFTER_CLOSE_30 = "2025-12-30T21:30:00Z"
OPEN_31 = "2025-12-31T14:30:00Z"
LOW_31 = "2025-12-31T16:40:00Z"
CLOSE_31 = "2025-12-31T21:00:00Z"
CASH_ACCOUNT = {"max_margin_multiplier": "1", "no_shorting": True}


def rejected(call) -> tuple[int, dict]:
    with pytest.raises(APIError) as err:
        call()
    return err.value.status_code, json.loads(str(err.value))


def clock(sim, to: str) -> None:
    sim.admin("POST", "/sim/clock", {"to": to})


def long_msft(trading, qty=10):
    return trading.submit_order(MarketOrderRequest(symbol="MSFT", qty=qty, side=OrderSide.BUY,
                                                   time_in_force=TimeInForce.DAY))


def stop(trading, side, stop_price, qty=10, tif=TimeInForce.GTC, symbol="MSFT"):
    return trading.submit_order(StopOrderRequest(symbol=symbol, qty=qty, side=side, stop_price=stop_price,
                                                 time_in_force=tif))


def stop_limit(trading, side, stop_price, limit_price, qty=10, tif=TimeInForce.GTC):
    return trading.submit_order(StopLimitOrderRequest(symbol="MSFT", qty=qty, side=side, stop_price=stop_price,
                                                      limit_price=limit_price, time_in_force=tif))


def trailing(trading, side, qty=10, tif=TimeInForce.GTC, **trail):
    return trading.submit_order(TrailingStopOrderRequest(symbol="MSFT", qty=qty, side=side, time_in_force=tif,
                                                         **trail))


def raw(trading, **fields):
    """An order body alpaca-py would refuse to send: the simulator's own validation answers."""
    body = {"symbol": "MSFT", "qty": "10", "side": "sell", "time_in_force": "gtc"} | fields
    return trading.post("/orders", {k: v for k, v in body.items() if v is not None})


def position_qty(trading, symbol="MSFT") -> str | None:
    return next((p.qty for p in trading.get_all_positions() if p.symbol == symbol), None)


# --------------------------------------------------------------------------------- stop orders


def test_a_sell_stop_is_accepted_with_its_stop_price_and_closes_the_long_position(trading):
    long_msft(trading)
    order = stop(trading, OrderSide.SELL, 235)
    assert order.type == OrderType.STOP and order.status == OrderStatus.NEW
    assert order.stop_price == "235" and order.limit_price is None and order.position_intent.value == "sell_to_close"
    assert order.trail_price is None and order.trail_percent is None and order.hwm is None


@pytest.mark.parametrize("make,fill", [
    (lambda t: stop(t, OrderSide.SELL, 235), "235"),
    (lambda t: stop_limit(t, OrderSide.SELL, 235, 234), "235"),
])
def test_a_sell_stop_triggers_at_its_stop_when_the_bid_falls_through_it(trading, sim, make, fill):
    long_msft(trading)
    order = make(trading)
    clock(sim, HIGH_30)
    assert trading.get_order_by_id(order.id).status == OrderStatus.NEW
    clock(sim, CLOSE_30)
    filled = trading.get_order_by_id(order.id)
    assert filled.status == OrderStatus.FILLED and filled.filled_avg_price == fill and filled.filled_qty == "10"
    assert position_qty(trading) is None


def test_a_buy_stop_opens_a_position_when_the_ask_rises_through_it(trading, sim):
    order = stop(trading, OrderSide.BUY, 239)
    assert order.position_intent.value == "buy_to_open"
    clock(sim, HIGH_30)
    filled = trading.get_order_by_id(order.id)
    assert filled.status == OrderStatus.FILLED and filled.filled_avg_price == "239"
    assert position_qty(trading) == "10"


def test_a_sell_stop_from_a_flat_position_is_a_short_sale(trading, sim):
    order = stop(trading, OrderSide.SELL, 235)
    assert order.position_intent.value == "sell_to_open"
    clock(sim, CLOSE_30)
    assert trading.get_order_by_id(order.id).filled_avg_price == "235" and position_qty(trading) == "-10"


def test_a_sell_stop_short_sale_follows_the_short_rules(trading, sim):
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-30T15:00:00Z",
                                     "account_configurations": CASH_ACCOUNT})
    status, body = rejected(lambda: stop(trading, OrderSide.SELL, 235))
    assert status == 403 and body["message"] == "account is not allowed to short"


def test_a_stop_limit_that_gaps_past_its_limit_waits_as_a_limit_order(trading, sim):
    long_msft(trading)
    clock(sim, AFTER_CLOSE_30)
    order = stop_limit(trading, OrderSide.SELL, 233.20, 233.00)
    clock(sim, OPEN_31)  # the open gaps down to a 232.62 bid: triggered, but below the limit
    waiting = trading.get_order_by_id(order.id)
    assert waiting.status in (OrderStatus.ACCEPTED, OrderStatus.NEW) and waiting.filled_qty == "0"
    clock(sim, CLOSE_31)  # the bid comes back through 233.00 on the way to the high
    filled = trading.get_order_by_id(order.id)
    assert filled.status == OrderStatus.FILLED and filled.filled_avg_price == "233"


def test_a_buy_stop_is_capped_at_alpacas_limit_once_elected(trading, sim):
    """Alpaca converts a buy stop into a stop-limit 2.5 % above a stop of $50 or more (4 % under $50)
    [alpaca-docs orders.md "Stop Order"]. PG gaps from a 219.99 close to a 226.01 open on 2024-11-13:
    a buy stop at 220 is elected at the open but may not pay more than 225.50; it fills at that limit
    when the price comes back down through it (the day's low is 221.09)."""
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2024-11-12T22:00:00Z"})
    order = stop(trading, OrderSide.BUY, 220, symbol="PG")
    clock(sim, "2024-11-13T14:30:00Z")
    assert trading.get_order_by_id(order.id).filled_qty == "0"
    clock(sim, "2024-11-13T21:00:00Z")
    filled = trading.get_order_by_id(order.id)
    assert filled.status == OrderStatus.FILLED and filled.filled_avg_price == "225.5"


def test_a_buy_stop_holds_buying_power_at_its_stop_price(trading, sim):
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-30T15:00:00Z",
                                     "account_configurations": CASH_ACCOUNT})
    stop(trading, OrderSide.BUY, 239, qty=400)
    assert trading.get_account().buying_power == "4400"  # 100,000 - 400 x 239
    status, body = rejected(lambda: stop(trading, OrderSide.BUY, 239, qty=20))
    assert status == 403 and body["message"] == "insufficient buying power" and body["cost_basis"] == "4780"


# ----------------------------------------------------------------------------- trailing stops


def test_a_trailing_sell_follows_the_highest_bid_and_fills_at_its_stop(trading, sim):
    long_msft(trading)
    order = trailing(trading, OrderSide.SELL, trail_price=2)
    assert order.type == OrderType.TRAILING_STOP and order.status == OrderStatus.NEW
    assert (order.hwm, order.stop_price, order.trail_price, order.trail_percent) == ("238.44", "236.44", "2", None)
    assert order.limit_price is None and order.position_intent.value == "sell_to_close"
    clock(sim, HIGH_30)
    moved = trading.get_order_by_id(order.id)
    assert (moved.status, moved.hwm, moved.stop_price) == (OrderStatus.NEW, "239.88", "237.88")
    clock(sim, CLOSE_30)
    filled = trading.get_order_by_id(order.id)
    assert filled.status == OrderStatus.FILLED and filled.filled_avg_price == "237.88" and filled.hwm == "239.88"
    assert position_qty(trading) is None


def test_a_trailing_buy_follows_the_lowest_ask_by_a_percentage(trading, sim):
    order = trailing(trading, OrderSide.BUY, trail_percent=1)
    assert (order.hwm, order.stop_price, order.trail_percent) == ("238.5", "240.88", "1")
    assert order.position_intent.value == "buy_to_open"
    clock(sim, HIGH_30)  # the ask rises to 239.94: the mark stays at the lowest ask
    assert trading.get_order_by_id(order.id).hwm == "238.5"
    clock(sim, LOW_31)
    low = trading.get_order_by_id(order.id)
    assert (low.status, low.hwm, low.stop_price) == (OrderStatus.NEW, "229.91", "232.21")  # 229.91 x 1.01
    clock(sim, CLOSE_31)
    filled = trading.get_order_by_id(order.id)
    assert filled.status == OrderStatus.FILLED and filled.filled_avg_price == "232.21"
    assert position_qty(trading) == "10"


def test_a_trailing_buy_holds_buying_power_at_the_ask_plus_the_collar(trading, sim):
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-30T15:00:00Z",
                                     "account_configurations": CASH_ACCOUNT})
    trailing(trading, OrderSide.BUY, qty=100, trail_price=5)
    assert trading.get_account().buying_power == "75553.75"  # 100,000 - 100 x 238.50 x 1.025


# ------------------------------------------------------------------------ list, cancel, expire


def test_stop_orders_are_listed_and_cancelled_like_any_order(trading):
    long_msft(trading, qty=30)
    orders = [stop(trading, OrderSide.SELL, 200), stop_limit(trading, OrderSide.SELL, 200, 199),
              trailing(trading, OrderSide.SELL, trail_percent=5)]
    listed = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, direction="asc"))
    assert [(o.id, o.type) for o in listed] == [(o.id, o.type) for o in orders]
    assert trading.get_open_position("MSFT").qty_available == "0"
    for order in orders:
        trading.cancel_order_by_id(order.id)
        assert trading.get_order_by_id(order.id).status == OrderStatus.CANCELED
    assert trading.get_open_position("MSFT").qty_available == "30"


def test_day_stop_orders_expire_at_the_close(trading, sim):
    long_msft(trading, qty=20)
    orders = [stop(trading, OrderSide.SELL, 200, tif=TimeInForce.DAY),
              trailing(trading, OrderSide.SELL, tif=TimeInForce.DAY, trail_price=50)]
    assert {o.expires_at.isoformat() for o in orders} == {"2025-12-30T21:00:00+00:00"}
    clock(sim, AFTER_CLOSE_30)
    assert [trading.get_order_by_id(o.id).status for o in orders] == [OrderStatus.EXPIRED] * 2


def test_fractional_stop_orders_are_simple_day_orders(trading, sim):
    long_msft(trading)
    order = stop(trading, OrderSide.SELL, 235, qty=2.5, tif=TimeInForce.DAY)
    clock(sim, CLOSE_30)
    assert trading.get_order_by_id(order.id).filled_qty == "2.5"
    status, body = rejected(lambda: stop(trading, OrderSide.SELL, 200, qty=0.5))
    assert status == 422 and body["message"] == "fractional orders must be DAY orders"


# -------------------------------------------------------------------------------- validation


@pytest.mark.parametrize("fields,message", [
    ({"type": "stop"}, "stop_price is required for stop orders"),
    ({"type": "stop", "stop_price": 200, "limit_price": 199}, "limit_price must not be set for stop orders"),
    ({"type": "stop_limit", "stop_price": 200}, "limit_price is required for stop_limit orders"),
    ({"type": "stop_limit", "limit_price": 199}, "stop_price is required for stop_limit orders"),
    ({"type": "limit", "limit_price": 300, "stop_price": 200}, "stop_price must not be set for limit orders"),
    ({"type": "trailing_stop"}, "trailing stop orders need trail_price or trail_percent, not both"),
    ({"type": "trailing_stop", "trail_price": 2, "trail_percent": 1},
     "trailing stop orders need trail_price or trail_percent, not both"),
    ({"type": "trailing_stop", "trail_price": 2, "limit_price": 199}, "limit_price must not be set for trailing_stop orders"),
    ({"type": "trailing_stop", "trail_price": 2, "stop_price": 200}, "stop_price must not be set for trailing_stop orders"),
    ({"type": "trailing_stop", "trail_percent": 0}, "trail_percent must be > 0"),
    ({"type": "trailing_stop", "trail_price": -1}, "trail_price must be > 0"),
    ({"type": "stop", "stop_price": 0}, "stop_price must be > 0"),
])
def test_stop_order_prices_are_checked(trading, fields, message):
    long_msft(trading)
    status, body = rejected(lambda: raw(trading, **fields))
    assert status == 422 and body == {"code": 40010000, "message": message}


@pytest.mark.parametrize("fields,message", [
    ({"type": "stop", "stop_price": 200.123},
     "invalid stop_price 200.123. sub-penny increment does not fulfill minimum pricing criteria"),
    ({"type": "stop_limit", "stop_price": 200, "limit_price": 199.999},
     "invalid limit_price 199.999. sub-penny increment does not fulfill minimum pricing criteria"),
    ({"type": "trailing_stop", "trail_price": 1.005},
     "invalid trail_price 1.005. sub-penny increment does not fulfill minimum pricing criteria"),
    ({"type": "trailing_stop", "trail_price": 2, "qty": "2.5", "time_in_force": "day"},
     "fractional orders cannot be trailing stop orders"),
    ({"type": "trailing_stop", "trail_price": 2, "order_class": "bracket",
      "take_profit": {"limit_price": 300}, "stop_loss": {"stop_price": 200}}, "trailing stop orders must be simple orders"),
    ({"type": "trailing_stop", "trail_price": 2, "order_class": "oco",
      "take_profit": {"limit_price": 300}, "stop_loss": {"stop_price": 200}}, "trailing stop orders must be simple orders"),
])
def test_stop_orders_follow_alpacas_order_rules(trading, fields, message):
    long_msft(trading)
    status, body = rejected(lambda: raw(trading, **fields))
    assert status == 422 and body["code"] == 42210000 and body["message"] == message


@pytest.mark.parametrize("tif", ["ioc", "opg"])
def test_stop_orders_are_day_or_gtc(trading, tif):
    long_msft(trading)
    status, body = rejected(lambda: raw(trading, type="trailing_stop", trail_price=2, time_in_force=tif))
    assert status == 422 and "time_in_force" in body["message"]


def test_a_bracket_may_enter_with_a_stop_order(trading, sim):
    """Alpaca's base price for a bracket whose entry is not a limit order is the market price
    [alpaca-docs orders.md "Threshold on stop price of stop-loss orders"]."""
    order = trading.post("/orders", {
        "symbol": "MSFT", "qty": "10", "side": "buy", "type": "stop", "stop_price": "239", "time_in_force": "gtc",
        "order_class": "bracket", "take_profit": {"limit_price": "300"}, "stop_loss": {"stop_price": "200"}})
    assert order["type"] == "stop" and sorted(leg["status"] for leg in order["legs"]) == ["held", "held"]
    clock(sim, HIGH_30)
    parent = trading.get(f"/orders/{order['id']}", {"nested": "true"})
    assert parent["status"] == "filled" and parent["filled_avg_price"] == "239"
    assert sorted((leg["type"], leg["status"]) for leg in parent["legs"]) == [("limit", "new"), ("stop", "held")]
