"""Order rules enforced as Alpaca enforces them, with Alpaca's status codes and bodies (notes §2.8)."""

from __future__ import annotations

import json

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderClass, OrderSide, TimeInForce
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)


def rejected(call) -> tuple[int, dict]:
    with pytest.raises(APIError) as err:
        call()
    return err.value.status_code, json.loads(str(err.value))


def buy(trading, symbol="AAPL", qty=10, **kw):
    kw.setdefault("time_in_force", TimeInForce.DAY)
    return trading.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side=OrderSide.BUY, **kw))


def sell(trading, symbol="AAPL", qty=10, **kw):
    return trading.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side=OrderSide.SELL,
                                                   time_in_force=TimeInForce.DAY, **kw))


#: a cash-like account (1x buying power, no shorting), set through Alpaca's account configurations
CASH_ACCOUNT = {"max_margin_multiplier": "1", "no_shorting": True}


def test_insufficient_buying_power_in_a_cash_account(trading, sim):
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-30T15:00:00Z",
                                     "account_configurations": CASH_ACCOUNT})
    status, body = rejected(lambda: buy(trading, "AAPL", qty=1000))
    assert status == 403 and body["code"] == 40310000 and body["message"] == "insufficient buying power"
    assert float(body["buying_power"]) == 100000 and float(body["cost_basis"]) > 100000


def test_insufficient_buying_power_in_a_margin_account_is_twice_the_equity(trading):
    status, body = rejected(lambda: buy(trading, "AAPL", qty=1500))
    assert status == 403 and body["message"] == "insufficient buying power"
    assert float(body["buying_power"]) == 200000 and float(body["cost_basis"]) > 200000


def test_market_buys_reserve_buying_power_above_the_ask(trading, sim):
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-30T15:00:00Z",
                                     "account_configurations": CASH_ACCOUNT})
    sim.admin("POST", "/sim/clock", {"to": "2025-12-30T22:00:00Z"})  # queued, not filled
    buy(trading, "AAPL", qty=100)
    account = trading.get_account()
    price = trading.get("/stocks/trades/latest", {"symbols": "AAPL"})["trades"]["AAPL"]["p"]
    assert float(account.buying_power) < 100000 - 100 * price * 1.02


def test_selling_more_than_held(trading):
    buy(trading, qty=5)
    status, body = rejected(lambda: sell(trading, qty=6))
    assert status == 403 and body["code"] == 40310000
    assert body["message"] == "insufficient qty available for order (requested: 6, available: 5)"


def test_shares_held_by_bracket_legs_are_not_available(trading):
    bracket = trading.submit_order(MarketOrderRequest(
        symbol="MSFT", qty=5, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=900), stop_loss=StopLossRequest(stop_price=50)))
    status, body = rejected(lambda: sell(trading, "MSFT", qty=5))
    assert status == 403 and body["message"] == "insufficient qty available for order (requested: 5, available: 0)"
    assert body["held_for_orders"] == "5"
    assert sorted(body["related_orders"]) == sorted(str(leg.id) for leg in bracket.legs)
    assert trading.get_open_position("MSFT").qty_available == "0"


def test_a_sell_of_held_shares_names_the_open_orders_holding_them(trading):
    """Alpaca's body for shares held by open sells: existing_qty, held_for_orders, available, symbol
    and related_orders, the ids of the orders holding them (notes "User protections")."""
    buy(trading, "MSFT", qty=10)
    take = trading.submit_order(LimitOrderRequest(symbol="MSFT", qty=4, side=OrderSide.SELL, limit_price=900,
                                                  time_in_force=TimeInForce.GTC))
    stop = trading.submit_order(StopOrderRequest(symbol="MSFT", qty=3, side=OrderSide.SELL, stop_price=50,
                                                 time_in_force=TimeInForce.GTC))
    status, body = rejected(lambda: sell(trading, "MSFT", qty=5))
    assert status == 403 and body == {
        "code": 40310000, "message": "insufficient qty available for order (requested: 5, available: 3)",
        "symbol": "MSFT", "existing_qty": "10", "held_for_orders": "7", "available": "3",
        "related_orders": [str(take.id), str(stop.id)]}


def test_duplicate_client_order_id(trading):
    buy(trading, client_order_id="pt-20251230-AAPL-buy-0")
    status, body = rejected(lambda: buy(trading, client_order_id="pt-20251230-AAPL-buy-0"))
    assert status == 422 and body == {"code": 40010001, "message": "client_order_id must be unique"}


def test_client_order_id_longer_than_48_characters(trading):
    status, body = rejected(lambda: buy(trading, client_order_id="x" * 49))
    assert status == 422 and "no more than 48 characters" in body["message"]


@pytest.mark.parametrize("tp,sl,message", [
    (100.0, 50.0, "take_profit.limit_price must be >= base_price + 0.01"),
    (900.0, 899.0, "stop_loss.stop_price must be <= base_price - 0.01"),
])
def test_bracket_prices_against_the_base_price(trading, tp, sl, message):
    status, body = rejected(lambda: trading.submit_order(MarketOrderRequest(
        symbol="MSFT", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=tp), stop_loss=StopLossRequest(stop_price=sl))))
    assert status == 422 and body["code"] == 42210000 and body["message"] == message and "base_price" in body


def test_sub_penny_prices_are_rejected(trading):
    status, body = rejected(lambda: trading.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.BUY, limit_price=100.123, time_in_force=TimeInForce.DAY)))
    assert status == 422 and body["message"] == (
        "invalid limit_price 100.123. sub-penny increment does not fulfill minimum pricing criteria")


def test_fractional_orders_must_be_simple(trading):
    status, body = rejected(lambda: trading.submit_order(MarketOrderRequest(
        symbol="MSFT", qty=1.5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=900), stop_loss=StopLossRequest(stop_price=50))))
    assert status == 422 and body["message"] == "fractional orders must be simple orders"


def test_fractional_orders_must_be_day_orders(trading):
    status, body = rejected(lambda: buy(trading, qty=1.5, time_in_force=TimeInForce.GTC))
    assert status == 422 and body["message"] == "fractional orders must be DAY orders"


def test_fractional_and_notional_simple_day_orders_are_accepted(trading):
    assert trading.get_order_by_id(buy(trading, qty=0.5).id).filled_qty == "0.5"
    notional = trading.submit_order(MarketOrderRequest(symbol="KO", notional=100, side=OrderSide.BUY,
                                                       time_in_force=TimeInForce.DAY))
    filled = trading.get_order_by_id(notional.id)
    assert filled.qty is None and 99.99 < float(filled.filled_qty) * float(filled.filled_avg_price) <= 100


def test_non_fractionable_asset(trading, sim):
    sim.admin("PATCH", "/sim/assets/KO", {"fractionable": False})
    status, body = rejected(lambda: buy(trading, "KO", qty=0.5))
    assert status == 422 and body["message"] == "requested asset is not fractionable"


def test_potential_wash_trade(trading):
    """An open limit sell refuses a market buy: one row of Alpaca's table (all of it in test_wash_trades.py)."""
    buy(trading, qty=10)
    trading.submit_order(LimitOrderRequest(symbol="AAPL", qty=5, side=OrderSide.SELL, limit_price=999,
                                           time_in_force=TimeInForce.GTC))
    status, body = rejected(lambda: buy(trading, qty=1))
    assert status == 403 and body["message"] == "potential wash trade detected. use complex orders"


def test_order_not_found(trading):
    status, body = rejected(lambda: trading.get_order_by_id("00000000-0000-0000-0000-000000000000"))
    assert status == 404 and body == {"code": 40410000, "message": "order not found"}
    status, _ = rejected(lambda: trading.get_order_by_client_id("nope"))
    assert status == 404


def test_cancelling_a_filled_order(trading):
    order = buy(trading)
    status, body = rejected(lambda: trading.cancel_order_by_id(order.id))
    assert status == 422 and body["message"] == 'order is already in "filled" state'


def test_halted_and_inactive_assets(trading, sim):
    sim.admin("PATCH", "/sim/assets/AAPL", {"tradable": False})
    assert trading.get_asset("AAPL").tradable is False
    status, body = rejected(lambda: buy(trading))
    assert status == 422 and body["message"] == "asset AAPL is not tradable"
    sim.admin("PATCH", "/sim/assets/MSFT", {"status": "inactive"})
    status, body = rejected(lambda: buy(trading, "MSFT"))
    assert status == 422 and body["message"] == "asset MSFT is not active"


def test_unknown_symbol(trading):
    status, body = rejected(lambda: buy(trading, "NOPE"))
    assert status == 422 and body["message"] == 'asset "NOPE" not found'


@pytest.mark.parametrize("flag,message", [
    ("trading_blocked", "account is not authorized to trade"),
    ("account_blocked", "account is not authorized to trade"),
    ("trade_suspended_by_user", "new orders are rejected by user request"),
])
def test_account_flags_block_new_orders(trading, sim, flag, message):
    sim.admin("PATCH", "/sim/account", {flag: True})
    assert getattr(trading.get_account(), flag) is True
    status, body = rejected(lambda: buy(trading))
    assert status == 403 and body["message"] == message
