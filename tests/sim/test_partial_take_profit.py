"""A take-profit that fills in part shrinks its stop-loss to the remainder [alpaca-docs orders.md
"Bracket Orders": "If the take-profit order is partially filled, the stop-loss order will be adjusted
to the remaining quantity"; OCO legs "work exactly the same way"].

`exit_partial_fill_probability: 1` makes every take-profit fill partial (10-90 %). MSFT on 2025-12-30
(bid 238.44 at the fixture's 10:00): the bid reaches 239.88 at the high (16:40Z), where a take-profit
at 239.88 fills in part, then falls to 232.55 (18:50Z), through a stop at 235.
"""

from __future__ import annotations

import pytest
from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)

TAKE_PROFIT, STOP = 239.88, 235
AT_THE_HIGH, AT_THE_CLOSE = "2025-12-30T16:40:00Z", "2025-12-30T21:00:00Z"


@pytest.fixture
def partial_exits(sim):
    sim.admin("POST", "/sim/config", {"exit_partial_fill_probability": 1.0})
    yield
    sim.admin("POST", "/sim/config", {"exit_partial_fill_probability": 0.0})


def bracket(trading):
    """A filled bracket entry of 10: its take-profit leg and stop-loss leg."""
    order = trading.submit_order(MarketOrderRequest(
        symbol="MSFT", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=TAKE_PROFIT), stop_loss=StopLossRequest(stop_price=STOP)))
    return lambda: legs_of(trading, order.id)


def oco(trading):
    """An OCO on a position of 10: its take-profit (the parent) and stop-loss (the leg)."""
    trading.submit_order(MarketOrderRequest(symbol="MSFT", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    order = trading.submit_order(LimitOrderRequest(
        symbol="MSFT", qty=10, side=OrderSide.SELL, time_in_force=TimeInForce.DAY, order_class=OrderClass.OCO,
        take_profit=TakeProfitRequest(limit_price=TAKE_PROFIT), stop_loss=StopLossRequest(stop_price=STOP)))

    def legs():
        parent = trading.get_order_by_id(order.id, GetOrderByIdRequest(nested=True))
        return parent, parent.legs[0]
    return legs


def legs_of(trading, parent_id):
    parent = trading.get_order_by_id(parent_id, GetOrderByIdRequest(nested=True))
    by_type = {leg.type.value: leg for leg in parent.legs}
    return by_type["limit"], by_type["stop"]


@pytest.mark.parametrize("group", [bracket, oco], ids=["bracket", "oco"])
def test_a_partly_filled_take_profit_shrinks_the_stop_loss_to_the_remainder(trading, sim, partial_exits, group):
    legs = group(trading)
    sim.admin("POST", "/sim/clock", {"to": AT_THE_HIGH})
    take_profit, stop_loss = legs()
    filled = int(take_profit.filled_qty)
    assert take_profit.status == OrderStatus.PARTIALLY_FILLED and 0 < filled < 10
    assert take_profit.filled_avg_price == str(TAKE_PROFIT)
    assert stop_loss.status == OrderStatus.HELD and stop_loss.qty == str(10 - filled)
    position = trading.get_open_position("MSFT")
    assert position.qty == str(10 - filled) and position.qty_available == "0"

    sim.admin("POST", "/sim/clock", {"to": AT_THE_CLOSE})
    take_profit, stop_loss = legs()
    assert stop_loss.status == OrderStatus.FILLED and stop_loss.filled_qty == str(10 - filled)
    assert stop_loss.filled_avg_price == str(STOP)
    assert take_profit.status == OrderStatus.CANCELED and take_profit.filled_qty == str(filled)
    assert trading.get_all_positions() == []


def test_exit_fills_are_whole_by_default(trading, sim):
    legs = bracket(trading)
    sim.admin("POST", "/sim/clock", {"to": AT_THE_HIGH})
    take_profit, stop_loss = legs()
    assert take_profit.status == OrderStatus.FILLED and take_profit.filled_qty == "10"
    assert stop_loss.status == OrderStatus.CANCELED
