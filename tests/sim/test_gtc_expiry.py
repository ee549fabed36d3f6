"""GTC orders expire 90 days after their creation, as at Alpaca (notes "User protections": "GTC orders
are cancelled 90 days after creation (`expires_at`)"): `expires_at` is the close of the 90th day, and
the order is `expired` once the clock passes it. Placed on 2025-12-30, they expire at the close of
2026-03-30 (16:00 in New York, 20:00Z).

The sample bars end on 2025-12-31; after that the price stays at the last close, so the resting
orders below never fill.
"""

from __future__ import annotations

import datetime as dt

from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)

EXPIRES = dt.datetime(2026, 3, 30, 20, 0, tzinfo=dt.UTC)


def statuses(trading, order_id) -> list[OrderStatus]:
    parent = trading.get_order_by_id(order_id, GetOrderByIdRequest(nested=True))
    return [parent.status] + [leg.status for leg in parent.legs or []]


def test_a_resting_gtc_oco_expires_90_days_after_its_creation(trading, sim):
    trading.submit_order(MarketOrderRequest(symbol="MSFT", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    order = trading.submit_order(LimitOrderRequest(
        symbol="MSFT", qty=10, side=OrderSide.SELL, time_in_force=TimeInForce.GTC, order_class=OrderClass.OCO,
        take_profit=TakeProfitRequest(limit_price=300), stop_loss=StopLossRequest(stop_price=200)))
    assert order.expires_at == EXPIRES and order.legs[0].expires_at == EXPIRES
    sim.admin("POST", "/sim/clock", {"to": "2026-03-30T19:59:00Z"})
    assert statuses(trading, order.id) == [OrderStatus.NEW, OrderStatus.HELD]
    sim.admin("POST", "/sim/clock", {"to": "2026-03-31T15:00:00Z"})
    parent = trading.get_order_by_id(order.id, GetOrderByIdRequest(nested=True))
    assert statuses(trading, order.id) == [OrderStatus.EXPIRED, OrderStatus.EXPIRED]
    assert parent.expired_at == EXPIRES and trading.get_open_position("MSFT").qty_available == "10"


def test_a_gtc_simple_limit_expires_90_days_after_its_creation(trading, sim):
    order = trading.submit_order(LimitOrderRequest(symbol="MSFT", qty=10, side=OrderSide.BUY, limit_price=100,
                                                   time_in_force=TimeInForce.GTC))
    assert order.expires_at == EXPIRES
    sim.admin("POST", "/sim/clock", {"to": "2026-03-30T19:59:00Z"})
    assert trading.get_order_by_id(order.id).status == OrderStatus.NEW
    sim.admin("POST", "/sim/clock", {"to": "2026-03-30T20:00:00Z"})
    expired = trading.get_order_by_id(order.id)
    assert expired.status == OrderStatus.EXPIRED and expired.expired_at == EXPIRES
    assert trading.get_account().buying_power == "200000"


def test_a_gtc_bracket_and_its_legs_carry_the_same_expiry(trading):
    order = trading.submit_order(MarketOrderRequest(
        symbol="MSFT", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=300), stop_loss=StopLossRequest(stop_price=200)))
    assert {order.expires_at} | {leg.expires_at for leg in order.legs} == {EXPIRES}


def test_a_gtc_order_placed_after_the_close_counts_its_90_days_from_its_creation(trading, sim):
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-31T23:00:00Z"})  # Wednesday night
    order = trading.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY, limit_price=100,
                                                   time_in_force=TimeInForce.GTC))
    assert order.status == OrderStatus.ACCEPTED
    assert order.expires_at == dt.datetime(2026, 3, 31, 20, 0, tzinfo=dt.UTC)  # not from Jan 2's session
