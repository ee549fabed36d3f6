"""OCO orders (order_class "oco") as Alpaca runs them [alpaca-docs orders.md "OCO Orders"]: an exit-only
pair sent as one limit order; the take-profit is the parent (`new`), the stop-loss its one leg (`held`
until triggered); one cancels the other."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import (
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)

CENT = Decimal("0.01")


def rejected(call) -> tuple[int, dict]:
    with pytest.raises(APIError) as err:
        call()
    return err.value.status_code, json.loads(str(err.value))


def price(trading, symbol="MSFT") -> Decimal:
    return Decimal(str(trading.get("/stocks/trades/latest", {"symbols": symbol})["trades"][symbol]["p"]))


def market(trading, side, qty=10, symbol="MSFT"):
    return trading.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.DAY))


def oco(trading, tp, sl, side=OrderSide.SELL, qty=10, tif=TimeInForce.GTC, sl_limit=None, symbol="MSFT"):
    return trading.submit_order(LimitOrderRequest(
        symbol=symbol, qty=qty, side=side, time_in_force=tif, order_class=OrderClass.OCO,
        take_profit=TakeProfitRequest(limit_price=float(tp)),
        stop_loss=StopLossRequest(stop_price=float(sl), limit_price=None if sl_limit is None else float(sl_limit))))


def group(trading, order_id):
    parent = trading.get_order_by_id(order_id, GetOrderByIdRequest(nested=True))
    return parent, parent.legs[0]


def test_oco_is_a_take_profit_limit_parent_with_a_held_stop_leg(trading):
    market(trading, OrderSide.BUY)
    p = price(trading)
    placed = oco(trading, tp=(p * Decimal("1.2")).quantize(CENT), sl=(p * Decimal("0.8")).quantize(CENT))
    assert placed.order_class == OrderClass.OCO and placed.type == OrderType.LIMIT
    assert Decimal(placed.limit_price) == (p * Decimal("1.2")).quantize(CENT) and placed.status == OrderStatus.NEW
    assert len(placed.legs) == 1
    leg = placed.legs[0]
    assert leg.type == OrderType.STOP and leg.status == OrderStatus.HELD and leg.order_class == OrderClass.OCO
    assert Decimal(leg.stop_price) == (p * Decimal("0.8")).quantize(CENT) and leg.qty == "10"


def test_oco_with_a_stop_limit(trading):
    market(trading, OrderSide.BUY)
    p = price(trading)
    placed = oco(trading, tp=p + 10, sl=p - 10, sl_limit=p - 11)
    assert placed.legs[0].type == OrderType.STOP_LIMIT and Decimal(placed.legs[0].limit_price) == p - 11


def test_oco_take_profit_fill_cancels_the_stop(trading, sim):
    market(trading, OrderSide.BUY)
    p = price(trading)
    placed = oco(trading, tp=(p * Decimal("1.003")).quantize(CENT), sl=(p * Decimal("0.5")).quantize(CENT))
    sim.admin("POST", "/sim/clock", {"to": "2026-01-30T21:00:00Z"})
    parent, leg = group(trading, placed.id)
    assert parent.status == OrderStatus.FILLED and leg.status == OrderStatus.CANCELED
    assert trading.get_all_positions() == []


def test_oco_stop_fill_cancels_the_take_profit(trading, sim):
    market(trading, OrderSide.BUY)
    p = price(trading)
    placed = oco(trading, tp=(p * 2).quantize(CENT), sl=(p * Decimal("0.997")).quantize(CENT))
    sim.admin("POST", "/sim/clock", {"to": "2026-01-30T21:00:00Z"})
    parent, leg = group(trading, placed.id)
    assert leg.status == OrderStatus.FILLED and parent.status == OrderStatus.CANCELED
    assert Decimal(leg.filled_avg_price) <= p and trading.get_all_positions() == []


def test_buy_oco_covers_a_short_position_when_its_stop_triggers(trading, sim):
    market(trading, OrderSide.SELL)  # a short position of 10
    p = price(trading)
    placed = oco(trading, side=OrderSide.BUY, tp=(p * Decimal("0.5")).quantize(CENT),
                 sl=(p * Decimal("1.003")).quantize(CENT))
    assert placed.position_intent.value == "buy_to_close"
    sim.admin("POST", "/sim/clock", {"to": "2026-01-30T21:00:00Z"})
    parent, leg = group(trading, placed.id)
    assert leg.status == OrderStatus.FILLED and parent.status == OrderStatus.CANCELED
    assert Decimal(leg.filled_avg_price) >= p and trading.get_all_positions() == []


def test_cancelling_the_stop_leg_cancels_the_take_profit(trading):
    market(trading, OrderSide.BUY)
    p = price(trading)
    placed = oco(trading, tp=p + 50, sl=p - 50)
    trading.cancel_order_by_id(placed.legs[0].id)
    parent, leg = group(trading, placed.id)
    assert parent.status == leg.status == OrderStatus.CANCELED


def test_cancelling_the_take_profit_cancels_the_stop_leg(trading):
    market(trading, OrderSide.BUY)
    p = price(trading)
    placed = oco(trading, tp=p + 50, sl=p - 50)
    trading.cancel_order_by_id(placed.id)
    parent, leg = group(trading, placed.id)
    assert parent.status == leg.status == OrderStatus.CANCELED


def test_day_oco_expires_at_the_close(trading, sim):
    market(trading, OrderSide.BUY)
    p = price(trading)
    placed = oco(trading, tp=p + 50, sl=p - 50, tif=TimeInForce.DAY)
    sim.admin("POST", "/sim/clock", {"to": "2025-12-30T21:30:00Z"})
    parent, leg = group(trading, placed.id)
    assert parent.status == leg.status == OrderStatus.EXPIRED


def test_oco_holds_its_quantity_once(trading):
    market(trading, OrderSide.BUY)
    p = price(trading)
    oco(trading, tp=p + 50, sl=p - 50)
    assert trading.get_open_position("MSFT").qty_available == "0"
    status, body = rejected(lambda: market(trading, OrderSide.SELL, qty=1))
    assert status == 403 and body["message"] == "insufficient qty available for order (requested: 1, available: 0)"


def test_oco_must_not_open_a_position(trading):
    p = price(trading)
    status, body = rejected(lambda: oco(trading, tp=p + 50, sl=p - 50))
    assert status == 403 and body["code"] == 40310000
    assert body["message"] == "insufficient qty available for order (requested: 10, available: 0)"


def test_oco_quantity_is_limited_by_other_open_sells(trading):
    market(trading, OrderSide.BUY)
    p = price(trading)
    trading.submit_order(LimitOrderRequest(symbol="MSFT", qty=4, side=OrderSide.SELL, limit_price=float(p + 100),
                                           time_in_force=TimeInForce.GTC))
    status, body = rejected(lambda: oco(trading, tp=p + 50, sl=p - 50))
    assert status == 403 and body["message"] == "insufficient qty available for order (requested: 10, available: 6)"
    assert body["held_for_orders"] == "4"


def test_sell_oco_stop_must_be_below_the_take_profit(trading):
    market(trading, OrderSide.BUY)
    p = price(trading)
    status, body = rejected(lambda: oco(trading, tp=p, sl=p))
    assert status == 422 and body["code"] == 42210000
    assert body["message"] == "stop_loss.stop_price must be <= base_price - 0.01" and body["base_price"] == str(p)


def test_buy_oco_stop_must_be_above_the_take_profit(trading):
    market(trading, OrderSide.SELL)
    p = price(trading)
    status, body = rejected(lambda: oco(trading, side=OrderSide.BUY, tp=p, sl=p - 1))
    assert status == 422 and body["message"] == "stop_loss.stop_price must be >= base_price + 0.01"


def test_oco_must_be_whole_shares(trading):
    market(trading, OrderSide.BUY)
    p = price(trading)
    status, body = rejected(lambda: oco(trading, tp=p + 50, sl=p - 50, qty=1.5))
    assert status == 422 and body["message"] == "fractional orders must be simple orders"
