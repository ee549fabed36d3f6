"""How GET /v2/orders lists bracket and OCO groups, exactly as Alpaca does; an order runner relies on it.

- `held` legs are not open orders (alpaca-trade-api-python#322);
- with nested=true the legs appear only inside their parent, so once a bracket's entry has filled,
  status=open&nested=true lists nothing of the bracket (alpaca-trade-api-js#80, #87);
- with nested=false every order of a group is its own row [alpaca-docs orders.md, bracket orders];
- an OCO's take-profit is the parent and its stop the child [alpaca-docs orders.md, OCO orders].
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from alpaca.trading.enums import (
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)


def listing(trading, status, nested):
    return trading.get_orders(GetOrdersRequest(status=status, nested=nested, limit=500))


def shape(orders):
    return sorted((o.type.value, o.status.value, len(o.legs or [])) for o in orders)


@pytest.fixture
def filled_bracket(trading):
    order = trading.submit_order(MarketOrderRequest(
        symbol="MSFT", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=999), stop_loss=StopLossRequest(stop_price=100)))
    assert trading.get_order_by_id(order.id).status == OrderStatus.FILLED
    return order


@pytest.fixture
def waiting_bracket(trading, sim):
    sim.admin("POST", "/sim/clock", {"to": "2025-12-30T22:00:00Z"})  # after the close: the entry waits
    return trading.submit_order(MarketOrderRequest(
        symbol="MSFT", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=999), stop_loss=StopLossRequest(stop_price=100)))


@pytest.fixture
def open_oco(trading):
    trading.submit_order(MarketOrderRequest(symbol="MSFT", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    return trading.submit_order(LimitOrderRequest(
        symbol="MSFT", qty=3, side=OrderSide.SELL, time_in_force=TimeInForce.GTC, order_class=OrderClass.OCO,
        take_profit=TakeProfitRequest(limit_price=999), stop_loss=StopLossRequest(stop_price=100)))


def test_filled_bracket_is_not_listed_as_open_with_nested(trading, filled_bracket):
    assert listing(trading, QueryOrderStatus.OPEN, nested=True) == []


def test_filled_bracket_open_without_nested_lists_the_take_profit_but_not_the_held_stop(trading, filled_bracket):
    assert shape(listing(trading, QueryOrderStatus.OPEN, nested=False)) == [("limit", "new", 0)]


def test_filled_bracket_all_with_nested_lists_the_parent_with_both_legs(trading, filled_bracket):
    [parent] = listing(trading, QueryOrderStatus.ALL, nested=True)
    assert parent.id == filled_bracket.id and parent.status == OrderStatus.FILLED
    assert sorted((leg.type.value, leg.status.value) for leg in parent.legs) == [("limit", "new"), ("stop", "held")]


def test_filled_bracket_all_without_nested_lists_each_order_once(trading, filled_bracket):
    assert shape(listing(trading, QueryOrderStatus.ALL, nested=False)) == [
        ("limit", "new", 0), ("market", "filled", 0), ("stop", "held", 0)]


def test_filled_bracket_entry_is_listed_as_closed(trading, filled_bracket):
    assert [o.id for o in listing(trading, QueryOrderStatus.CLOSED, nested=True)] == [filled_bracket.id]


def test_waiting_bracket_is_listed_open_with_its_held_legs_when_nested(trading, waiting_bracket):
    [parent] = listing(trading, QueryOrderStatus.OPEN, nested=True)
    assert parent.id == waiting_bracket.id and parent.status == OrderStatus.ACCEPTED
    assert [leg.status for leg in parent.legs] == [OrderStatus.HELD, OrderStatus.HELD]


def test_waiting_bracket_open_without_nested_lists_only_the_entry(trading, waiting_bracket):
    assert [o.id for o in listing(trading, QueryOrderStatus.OPEN, nested=False)] == [waiting_bracket.id]


def test_oco_open_with_nested_lists_the_take_profit_with_its_stop_leg(trading, open_oco):
    [parent] = listing(trading, QueryOrderStatus.OPEN, nested=True)
    assert parent.id == open_oco.id and parent.type == OrderType.LIMIT and parent.status == OrderStatus.NEW
    assert [(leg.type, leg.status) for leg in parent.legs] == [(OrderType.STOP, OrderStatus.HELD)]


def test_oco_open_without_nested_lists_only_the_take_profit(trading, open_oco):
    assert [o.id for o in listing(trading, QueryOrderStatus.OPEN, nested=False)] == [open_oco.id]


def test_held_stop_leg_is_listed_once_it_is_canceled(trading, open_oco):
    trading.cancel_order_by_id(open_oco.id)
    closed = listing(trading, QueryOrderStatus.CLOSED, nested=False)
    assert sorted((o.type.value, o.status.value) for o in closed if o.order_class == OrderClass.OCO) == [
        ("limit", "canceled"), ("stop", "canceled")]
    assert Decimal(open_oco.legs[0].stop_price) == 100
