"""M2 — the rebalance planner, behaviour by behaviour. Its invariants over random inputs (hypothesis):
tests/integration/test_rebalance_properties.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from paper_trading.planning.rebalance import (
    PlanSettings,
    bracket_prices,
    plan_rebalance,
)

MAPPING = pd.DataFrame({"gvkey": ["000001", "000002", "000003", "000004"], "symbol": ["AAA", "BBB", "CCC", "DDD"]})


def targets(**weights: float) -> pd.DataFrame:
    ids = {"AAA": "000001", "BBB": "000002", "CCC": "000003", "DDD": "000004", "ZZZ": "999999"}
    return pd.DataFrame({"asset_id": [ids[s] for s in weights], "target_weight": list(weights.values())})


def plan(t, prices, positions=None, equity=10_000.0, cash=None, **kw):
    positions = positions or {}
    cash = equity - sum(q * prices.get(s, 0) for s, q in positions.items()) if cash is None else cash
    return plan_rebalance(t, MAPPING, prices, positions, equity, cash, PlanSettings(**kw))


def row(result, symbol):
    return result.plan.set_index("symbol").loc[symbol]


def test_new_positions_are_bracket_buys_of_whole_shares_rounded_down():
    result = plan(targets(AAA=0.5, BBB=0.5), {"AAA": 30.0, "BBB": 70.0}, cash_buffer_pct=0.02)
    orders = result.orders.set_index("symbol")
    assert orders.loc["AAA", "qty"] == math.floor(0.5 * 9800 / 30) == 163
    assert orders.loc["BBB", "qty"] == 70
    assert set(orders["order_type"]) == {"bracket"} and set(orders["reason"]) == {"new_position"}
    assert orders.loc["AAA", "tp_price"] == 31.5 and orders.loc["AAA", "sl_price"] == 29.1


def test_bracket_prices_follow_alpacas_ticks():
    tp, sl = bracket_prices(np.array([187.333, 0.5123, 1.0]), 0.05, 0.03)
    assert list(tp) == [196.7, 0.5380, 1.05]  # up to the cent, 4 decimals under $1
    assert list(sl) == [181.71, 0.4969, 0.97]
    tp, sl = bracket_prices(np.array([10.0]), 0.0001, 0.0001)  # tiny percentages still clear the base by $0.01
    assert tp[0] == 10.01 and sl[0] == 9.99
    tp, sl = bracket_prices(np.array([0.19]), 0.05, 0.03)  # under $1 too: Alpaca wants a full cent
    assert tp[0] == 0.2 and sl[0] == 0.18


def test_positions_not_in_the_targets_are_liquidated_even_when_small():
    result = plan(targets(AAA=1.0), {"AAA": 10.0, "BBB": 5.0}, positions={"BBB": 1}, min_trade_value=100)
    bbb = row(result, "BBB")
    assert bbb["action"] == "sell" and bbb["reason"] == "exit" and bbb["delta_qty"] == -1
    assert result.orders.set_index("symbol").loc["BBB", "order_type"] == "market"


def test_reductions_are_market_sells():
    result = plan(targets(AAA=0.2, BBB=0.8), {"AAA": 10.0, "BBB": 10.0}, positions={"AAA": 500})
    aaa = result.orders.set_index("symbol").loc["AAA"]
    assert aaa["side"] == "sell" and aaa["order_type"] == "market" and aaa["reason"] == "reduce"
    assert aaa["qty"] == 500 - math.floor(0.2 * 9800 / 10)


def test_trades_below_the_minimum_are_skipped_with_a_reason():
    # 10 shares held, target 10.5 shares' worth: a 0-share delta after rounding is a hold;
    # one more share ($10) is below 0.1 % of $100k = $100.
    result = plan(targets(AAA=0.5, BBB=0.5), {"AAA": 10.0, "BBB": 100.0},
                  positions={"AAA": 4899}, equity=100_000, min_trade_pct=0.001)
    assert row(result, "AAA")["reason"] == "below_min_trade" and row(result, "AAA")["action"] == "skip"
    assert "AAA" not in set(result.orders["symbol"])


def test_sells_come_before_buys():
    result = plan(targets(AAA=0.1, BBB=0.9), {"AAA": 10.0, "BBB": 10.0, "CCC": 10.0},
                  positions={"AAA": 500, "CCC": 100})
    assert list(result.orders["side"]) == ["sell", "sell", "buy"]


def test_unmapped_assets_are_listed_not_dropped():
    result = plan(targets(AAA=0.6, ZZZ=0.4), {"AAA": 10.0})
    unmapped = result.plan[result.plan["reason"] == "unmapped"]
    assert unmapped["asset_id"].tolist() == ["999999"] and unmapped["action"].tolist() == ["skip"]


def test_a_symbol_without_a_price_is_skipped_with_a_reason():
    result = plan(targets(AAA=0.5, BBB=0.5), {"AAA": 10.0})
    assert row(result, "BBB")["reason"] == "no_price" and "BBB" not in set(result.orders["symbol"])


def test_fractional_shares_are_simple_market_day_orders():
    result = plan(targets(AAA=1.0), {"AAA": 3.0}, fractional=True, cash_buffer_pct=0.0)
    order = result.orders.iloc[0]
    assert order["qty"] == pytest.approx(10_000 / 3, abs=1e-9) and order["qty"] != math.floor(order["qty"])
    assert order["order_type"] == "market" and order["time_in_force"] == "day" and np.isnan(order["tp_price"])


def test_buys_are_cut_back_when_cash_is_short():
    # The account says there is less cash than equity implies (e.g. pending fees): buys must fit.
    result = plan(targets(AAA=0.5, BBB=0.5), {"AAA": 10.0, "BBB": 10.0}, cash=3_000.0)
    assert result.cash_after >= 0.02 * 10_000 - 1e-9
    assert set(result.plan.set_index("symbol").loc[["AAA", "BBB"], "reason"]) == {"cash_limited"}
    assert (result.orders["qty"] * result.orders["ref_price"]).sum() <= 3_000 - 200 + 1e-9


def test_whole_share_mode_buys_whole_shares_when_a_fraction_is_held():
    result = plan(targets(AAA=1.0), {"AAA": 100.0}, positions={"AAA": 10.5}, cash_buffer_pct=0.0)
    order = result.orders.iloc[0]
    assert order["qty"] == 89 and order["order_type"] == "bracket"  # floor(100 - 10.5), never 89.5


def test_a_short_position_left_over_is_covered_with_a_market_buy():
    result = plan(targets(AAA=1.0), {"AAA": 10.0, "BBB": 10.0}, positions={"BBB": -2}, cash=10_000.0)
    cover = result.orders.set_index("symbol").loc["BBB"]
    assert (cover["side"], cover["qty"], cover["order_type"], cover["reason"]) == ("buy", 2, "market", "cover")


@pytest.mark.parametrize("equity", [0.0, -250.0])
def test_an_unfunded_account_trades_nothing_and_says_why(equity):
    result = plan(targets(AAA=0.6, BBB=0.4), {"AAA": 10.0, "BBB": 20.0}, equity=equity, cash=equity)
    assert result.orders.empty
    assert set(result.plan["action"]) == {"skip"} and set(result.plan["reason"]) == {"no_equity"}


def test_equity_that_is_not_a_number_is_a_bug_not_a_plan():
    with pytest.raises(ValueError, match="equity and cash must be finite numbers"):
        plan(targets(AAA=1.0), {"AAA": 10.0}, equity=float("nan"), cash=0.0)


def test_a_target_of_zero_on_a_held_name_sells_it_all_even_below_the_minimum_trade():
    result = plan(targets(AAA=0.0, BBB=1.0), {"AAA": 10.0, "BBB": 20.0}, positions={"AAA": 0.4},
                  min_trade_value=50.0, fractional=True)
    aaa = row(result, "AAA")
    assert aaa["action"] == "sell" and aaa["reason"] == "exit" and aaa["delta_qty"] == -0.4
    assert result.orders.set_index("symbol").loc["AAA", "qty"] == 0.4


def test_a_small_reduction_toward_a_nonzero_target_is_still_below_the_minimum():
    result = plan(targets(AAA=0.5, BBB=0.5), {"AAA": 10.0, "BBB": 10.0}, positions={"AAA": 491.0},
                  min_trade_value=50.0)
    assert row(result, "AAA")["reason"] == "below_min_trade"


def test_an_entry_priced_too_low_for_a_stop_loss_is_skipped_not_sent_as_an_invalid_bracket():
    result = plan(targets(AAA=0.5, BBB=0.5), {"AAA": 0.01, "BBB": 20.0})
    assert row(result, "AAA")["reason"] == "bracket_impossible" and "AAA" not in set(result.orders["symbol"])
    assert (result.orders["sl_price"] > 0).all()
