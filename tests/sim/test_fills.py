"""How orders fill, as Alpaca paper trading fills them (notes §5)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

import pandas as pd
from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)


@lru_cache(maxsize=1)
def _bars() -> pd.DataFrame:
    from ..conftest import BARS

    return pd.read_csv(BARS)


def bar_of(symbol: str, day: str) -> dict:
    bars = _bars()
    return bars[(bars["symbol"] == symbol) & (bars["date"] == day)].iloc[0].to_dict()


def market(trading, side, symbol="AAPL", qty=10, tif=TimeInForce.DAY, **kw):
    return trading.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=tif, **kw))


def quote(trading):
    snap = trading.get("/stocks/snapshots", {"symbols": "AAPL"})["AAPL"]["latestQuote"]
    return Decimal(str(snap["bp"])), Decimal(str(snap["ap"]))


def test_market_buy_fills_at_the_ask_and_sell_at_the_bid(trading):
    bid, ask = quote(trading)
    buy = market(trading, OrderSide.BUY)
    assert buy.status == OrderStatus.NEW  # the answer is the order as accepted
    filled = trading.get_order_by_id(buy.id)
    assert filled.status == OrderStatus.FILLED and Decimal(filled.filled_avg_price) == ask
    sell = trading.get_order_by_id(market(trading, OrderSide.SELL).id)
    assert Decimal(sell.filled_avg_price) == bid
    assert Decimal(trading.get_account().cash) == Decimal(100000) - 10 * ask + 10 * bid


def test_spread_is_configurable(trading, sim):
    sim.admin("POST", "/sim/config", {"spread_bps": 100})
    bid, ask = quote(trading)
    assert (ask - bid) / ((ask + bid) / 2) > Decimal("0.0099")


def test_orders_outside_market_hours_are_accepted_and_fill_at_the_next_open(trading, sim):
    sim.admin("POST", "/sim/clock", {"to": "2025-12-30T22:00:00Z"})  # 17:00 New York
    order = market(trading, OrderSide.BUY)
    assert order.status == OrderStatus.ACCEPTED
    assert trading.get_order_by_id(order.id).status == OrderStatus.ACCEPTED
    sim.admin("POST", "/sim/clock", {"to": "next_open"})
    filled = trading.get_order_by_id(order.id)
    assert filled.status == OrderStatus.FILLED and filled.filled_at.date().isoformat() == "2025-12-31"


def test_limit_order_waits_until_marketable_then_fills_at_the_limit(trading, sim):
    low = min(bar_of("AAPL", "2025-12-31")["low"], bar_of("AAPL", "2025-12-30")["low"])
    _, ask = quote(trading)
    limit = Decimal(str(low)) + Decimal("0.05")
    assert limit < ask  # not marketable now; the path reaches the low by tomorrow's close
    order = trading.submit_order(LimitOrderRequest(symbol="AAPL", qty=5, side=OrderSide.BUY, limit_price=float(limit),
                                                   time_in_force=TimeInForce.GTC))
    assert trading.get_order_by_id(order.id).status == OrderStatus.NEW
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T21:00:00Z"})
    filled = trading.get_order_by_id(order.id)
    assert filled.status == OrderStatus.FILLED and Decimal(filled.filled_avg_price) == limit


def test_marketable_limit_order_fills_at_the_quote(trading):
    _, ask = quote(trading)
    order = trading.submit_order(LimitOrderRequest(symbol="AAPL", qty=5, side=OrderSide.BUY,
                                                   limit_price=float(ask + 5), time_in_force=TimeInForce.DAY))
    assert Decimal(trading.get_order_by_id(order.id).filled_avg_price) == ask


def test_day_orders_expire_at_the_close(trading, sim):
    order = trading.submit_order(LimitOrderRequest(symbol="AAPL", qty=5, side=OrderSide.BUY, limit_price=1.0,
                                                   time_in_force=TimeInForce.DAY))
    sim.admin("POST", "/sim/clock", {"to": "2025-12-30T21:00:01Z"})
    expired = trading.get_order_by_id(order.id)
    assert expired.status == OrderStatus.EXPIRED and expired.expired_at.hour == 21


def test_partial_fills_then_the_rest_on_the_next_step(trading, sim):
    sim.admin("POST", "/sim/config", {"partial_fill_probability": 1.0, "seed": 7})
    order = market(trading, OrderSide.BUY, qty=100)
    first = trading.get_order_by_id(order.id)
    assert first.status == OrderStatus.PARTIALLY_FILLED and 0 < Decimal(first.filled_qty) < 100
    sim.admin("POST", "/sim/config", {"partial_fill_probability": 0.0})
    sim.admin("POST", "/sim/clock", {"advance_seconds": 60})
    assert trading.get_order_by_id(order.id).status == OrderStatus.FILLED
    fills = trading.get("/account/activities/FILL", {"direction": "asc"})
    assert [f["type"] for f in fills] == ["partial_fill", "fill"]
    assert sum(Decimal(f["qty"]) for f in fills) == 100


def test_partial_fills_are_repeatable_with_the_same_seed(trading, sim):
    def filled_after_first_fill():
        sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-30T15:00:00Z"})
        sim.admin("POST", "/sim/config", {"partial_fill_probability": 1.0, "seed": 11})
        order = market(trading, OrderSide.BUY, qty=100, client_order_id="pt-20251230-AAPL-buy-0")
        return trading.get_order_by_id(order.id).filled_qty

    assert filled_after_first_fill() == filled_after_first_fill()


def bracket(trading, tp=400.0, sl=100.0, qty=5, tif=TimeInForce.GTC):
    return trading.submit_order(MarketOrderRequest(
        symbol="MSFT", qty=qty, side=OrderSide.BUY, time_in_force=tif, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=tp), stop_loss=StopLossRequest(stop_price=sl)))


def legs(trading, order_id):
    nested = trading.get_order_by_id(order_id, GetOrderByIdRequest(nested=True))
    return {("tp" if leg.type.value == "limit" else "sl"): leg for leg in nested.legs}


def test_bracket_legs_are_held_until_the_entry_fills_then_tp_new_sl_held(trading, sim):
    sim.admin("POST", "/sim/clock", {"to": "2025-12-30T22:00:00Z"})
    order = bracket(trading)
    assert {leg.status for leg in legs(trading, order.id).values()} == {OrderStatus.HELD}
    sim.admin("POST", "/sim/clock", {"to": "next_open"})
    after = legs(trading, order.id)
    assert after["tp"].status == OrderStatus.NEW and after["sl"].status == OrderStatus.HELD


def test_take_profit_fill_cancels_the_stop_loss(trading, sim):
    price = Decimal(trading.get("/stocks/trades/latest", {"symbols": "MSFT"})["trades"]["MSFT"]["p"])
    order = bracket(trading, tp=float((price * Decimal("1.003")).quantize(Decimal("0.01"))),
                    sl=float((price * Decimal("0.5")).quantize(Decimal("0.01"))))
    sim.admin("POST", "/sim/clock", {"to": "2026-01-30T21:00:00Z"})
    after = legs(trading, order.id)
    assert after["tp"].status == OrderStatus.FILLED and after["sl"].status == OrderStatus.CANCELED
    assert trading.get_all_positions() == []


def test_stop_loss_fill_cancels_the_take_profit(trading, sim):
    price = Decimal(trading.get("/stocks/trades/latest", {"symbols": "MSFT"})["trades"]["MSFT"]["p"])
    order = bracket(trading, tp=float((price * 2).quantize(Decimal("0.01"))),
                    sl=float((price * Decimal("0.997")).quantize(Decimal("0.01"))))
    sim.admin("POST", "/sim/clock", {"to": "2026-01-30T21:00:00Z"})
    after = legs(trading, order.id)
    assert after["sl"].status == OrderStatus.FILLED and after["tp"].status == OrderStatus.CANCELED
    assert Decimal(after["sl"].filled_avg_price) <= price


def test_cancelling_one_leg_cancels_the_other(trading):
    order = bracket(trading)
    before = legs(trading, order.id)
    trading.cancel_order_by_id(before["tp"].id)
    after = legs(trading, order.id)
    assert after["tp"].status == after["sl"].status == OrderStatus.CANCELED


def test_day_bracket_legs_expire_with_the_day(trading, sim):
    order = bracket(trading, tif=TimeInForce.DAY)
    sim.admin("POST", "/sim/clock", {"to": "2025-12-30T21:30:00Z"})
    assert {leg.status for leg in legs(trading, order.id).values()} == {OrderStatus.EXPIRED}


def test_dividends_and_fees_move_cash_and_are_listed(trading, sim):
    sim.admin("POST", "/sim/activities", {"activity_type": "DIV", "net_amount": "12.50", "symbol": "AAPL",
                                          "qty": "50", "per_share_amount": "0.25"})
    sim.admin("POST", "/sim/activities", {"activity_type": "FEE", "net_amount": "-0.75"})
    assert trading.get_account().cash == "100011.75"
    types = [a["activity_type"] for a in trading.get("/account/activities", {"category": "non_trade_activity"})]
    assert types == ["FEE", "DIV"]


def test_activities_page_with_the_last_id_as_token(trading, sim):
    for i in range(5):
        sim.admin("POST", "/sim/activities", {"activity_type": "CSD", "net_amount": str(i + 1)})
    first = trading.get("/account/activities", {"page_size": 2})
    second = trading.get("/account/activities", {"page_size": 2, "page_token": first[-1]["id"]})
    third = trading.get("/account/activities", {"page_size": 2, "page_token": second[-1]["id"]})
    amounts = [a["net_amount"] for a in first + second + third]
    assert amounts == ["5", "4", "3", "2", "1"]
