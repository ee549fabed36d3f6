"""A margin account by default, like Alpaca paper: 2x buying power and short selling of easy-to-borrow
stocks with $2,000+ equity; a cash-like account through GET/PATCH /v2/account/configurations."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderSide, PositionSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

OPEN = "2025-12-30T15:00:00Z"


def rejected(call) -> tuple[int, dict]:
    with pytest.raises(APIError) as err:
        call()
    return err.value.status_code, json.loads(str(err.value))


def order(trading, side, qty=10, symbol="AAPL"):
    return trading.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.DAY))


def quote(trading, symbol="AAPL"):
    q = trading.get("/stocks/snapshots", {"symbols": symbol})[symbol]["latestQuote"]
    return Decimal(str(q["bp"])), Decimal(str(q["ap"]))


def configure(trading, **changes):
    config = trading.get_account_configurations()
    return trading.set_account_configurations(config.model_copy(update=changes))


def test_new_account_is_a_margin_account_that_may_short(trading):
    account = trading.get_account()
    assert account.multiplier == "2" and account.shorting_enabled is True
    assert account.buying_power == "200000" and account.initial_margin == "0"


def test_duplicated_full_exit_sell_opens_a_short_position(trading):
    bid, ask = quote(trading)
    order(trading, OrderSide.BUY)
    order(trading, OrderSide.SELL)  # the full exit
    order(trading, OrderSide.SELL)  # the same exit, sent twice
    position = trading.get_open_position("AAPL")
    assert position.side == PositionSide.SHORT and position.qty == "-10"
    assert Decimal(position.market_value) < 0 and Decimal(position.cost_basis) == -10 * bid
    assert Decimal(trading.get_account().cash) == 100000 - 10 * ask + 20 * bid


def test_sell_beyond_a_long_position_is_refused_not_flipped_to_short(trading):
    order(trading, OrderSide.BUY, qty=5)
    status, body = rejected(lambda: order(trading, OrderSide.SELL, qty=6))
    assert status == 403 and body["message"] == "insufficient qty available for order (requested: 6, available: 5)"


def test_short_position_counts_in_equity_margin_and_buying_power(trading):
    order(trading, OrderSide.SELL, qty=100)
    account = trading.get_account()
    smv = Decimal(account.short_market_value)
    assert smv < 0 and Decimal(account.long_market_value) == 0
    assert Decimal(account.equity) == Decimal(account.cash) + smv
    assert Decimal(account.initial_margin) == (-smv / 2).quantize(Decimal("0.01"))
    assert Decimal(account.maintenance_margin) == max(500, (-smv * Decimal("0.3"))).quantize(Decimal("0.01"))
    expected = 2 * (Decimal(account.equity) - Decimal(account.initial_margin))
    assert abs(Decimal(account.buying_power) - expected) <= Decimal("0.02")


def test_buy_to_cover_closes_the_short_and_may_not_exceed_it(trading):
    order(trading, OrderSide.SELL, qty=10)
    status, body = rejected(lambda: order(trading, OrderSide.BUY, qty=11))
    assert status == 403 and body["message"] == "insufficient qty available for order (requested: 11, available: 10)"
    cover = order(trading, OrderSide.BUY, qty=10)
    assert cover.position_intent.value == "buy_to_close"
    assert trading.get_all_positions() == []


def test_closing_a_short_position_buys_it_back(trading):
    order(trading, OrderSide.SELL, qty=4)
    closing = trading.close_position("AAPL")
    assert closing.side == OrderSide.BUY and closing.qty == "4"
    assert trading.get_all_positions() == []


def test_open_short_sales_reserve_buying_power_at_the_ask_plus_3_percent(trading, sim):
    sim.admin("POST", "/sim/clock", {"to": "2025-12-30T22:00:00Z"})  # queued, not filled
    _, ask = quote(trading)
    short = order(trading, OrderSide.SELL, qty=100)
    assert short.position_intent.value == "sell_to_open"
    assert Decimal(trading.get_account().buying_power) == (200000 - 100 * ask * Decimal("1.03")).quantize(Decimal("0.01"))


def test_no_shorting_configuration_refuses_short_sales(trading):
    assert configure(trading, no_shorting=True).no_shorting is True
    assert trading.get_account().shorting_enabled is False
    status, body = rejected(lambda: order(trading, OrderSide.SELL))
    assert status == 403 and body == {"code": 40310000, "message": "account is not allowed to short"}


def test_max_margin_multiplier_1_gives_1x_buying_power(trading):
    assert configure(trading, max_margin_multiplier="1").max_margin_multiplier == "1"
    account = trading.get_account()
    assert account.multiplier == "1" and account.buying_power == "100000"


def test_accounts_under_2000_equity_have_1x_and_cannot_short(trading, sim):
    sim.admin("POST", "/sim/reset", {"cash": "1999", "clock": OPEN})
    account = trading.get_account()
    assert account.multiplier == "1" and account.shorting_enabled is False and account.buying_power == "1999"
    status, body = rejected(lambda: order(trading, OrderSide.SELL, qty=1))
    assert status == 403 and body["message"] == "account is not allowed to short"


def test_suspend_trade_configuration_is_trade_suspended_by_user(trading):
    configure(trading, suspend_trade=True)
    assert trading.get_account().trade_suspended_by_user is True
    status, body = rejected(lambda: order(trading, OrderSide.BUY))
    assert status == 403 and body["message"] == "new orders are rejected by user request"


def test_account_configurations_defaults_and_validation(trading, sim):
    config = trading.get_account_configurations()
    assert (config.max_margin_multiplier, config.no_shorting, config.suspend_trade) == ("4", False, False)
    assert config.dtbp_check is None and config.pdt_check is None  # retired by Alpaca on 2026-07-06
    bad = requests.patch(f"{sim.url}/v2/account/configurations", headers=sim.headers, timeout=5,
                         json={"max_margin_multiplier": "3"})
    assert bad.status_code == 422 and bad.json()["code"] == 40010000


def test_reset_can_open_a_cash_account(trading, sim):
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": OPEN,
                                     "account_configurations": {"max_margin_multiplier": "1", "no_shorting": True}})
    account = trading.get_account()
    assert account.multiplier == "1" and account.shorting_enabled is False
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": OPEN})  # a reset restores the defaults
    assert trading.get_account().multiplier == "2"


def test_hard_to_borrow_assets_cannot_be_sold_short(trading, sim):
    sim.admin("PATCH", "/sim/assets/INTC", {"easy_to_borrow": False})
    try:
        status, body = rejected(lambda: order(trading, OrderSide.SELL, symbol="INTC"))
    finally:  # assets outlive /sim/reset: restore it for the tests that follow
        sim.admin("PATCH", "/sim/assets/INTC", {"easy_to_borrow": True})
    assert status == 422 and body == {"code": 42210000, "message": "asset INTC cannot be sold short"}


def test_fractional_short_sales_are_refused(trading):
    status, body = rejected(lambda: order(trading, OrderSide.SELL, qty=0.5))
    assert status == 422 and body["message"] == "fractional orders cannot be sold short"
