"""The pre-trade risk gate, check by check (spec §2.3, milestone 5)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from paper_trading.risk.gate import (
    GateContext,
    RiskSettings,
    gate,
    preflight,
    realized_volatility,
)


def orders(*rows) -> pd.DataFrame:
    out = []
    for symbol, side, qty, ref, *bracket in rows:
        tp, sl = bracket if bracket else (np.nan, np.nan)
        out.append({"symbol": symbol, "side": side, "qty": qty, "ref_price": ref, "notional": qty * ref,
                    "order_type": "bracket" if bracket else "market", "time_in_force": "gtc" if bracket else "day",
                    "tp_price": tp, "sl_price": sl, "reason": "test"})
    return pd.DataFrame(out)


def ctx(last, equity=100_000.0, cash=100_000.0, **kw) -> GateContext:
    return GateContext(mode=kw.pop("mode", "dry"), equity=equity, cash=cash, last_prices=last, **kw)


def verdicts(report) -> dict[str, str]:
    return dict(zip(report["symbol"], report["reasons"].where(report["verdict"] == "rejected", "approved")))


def test_a_clean_batch_is_approved_and_quantities_are_untouched():
    batch = orders(("AAA", "sell", 10, 50.0), ("BBB", "buy", 20, 100.0, 105.0, 97.0))
    report = gate(batch, ctx({"AAA": 50.0, "BBB": 100.0}))
    assert list(report["verdict"]) == ["approved", "approved"]
    assert list(report["qty"]) == list(batch["qty"])


def test_max_shares_and_notional_per_order():
    report = gate(orders(("AAA", "buy", 200, 10.0), ("BBB", "buy", 10, 500.0)), ctx({"AAA": 10.0, "BBB": 500.0}),
                  RiskSettings(max_share_per_order=100, max_notional_per_order=4_000))
    assert verdicts(report) == {"AAA": "max_share_per_order (200 > 100)",
                                "BBB": "max_notional_per_order (5000.00 > 4000)"}


@pytest.mark.parametrize("side,last,ok", [
    ("buy", 100.0, True), ("buy", 97.0, False), ("sell", 100.0, True), ("sell", 103.0, False),  # the spec's rule
    ("buy", 103.0, False), ("sell", 97.0, False),  # its mirror: buying after a spike, selling into a fall
    ("buy", 101.9, True), ("sell", 98.1, True),
])
def test_reference_price_within_tolerance_of_the_latest_price(side, last, ok):
    report = gate(orders(("AAA", side, 1, 100.0)), ctx({"AAA": last}), RiskSettings(price_tolerance_pct=0.02))
    assert (report["verdict"].iloc[0] == "approved") is ok
    if not ok:
        assert report["reasons"].iloc[0].startswith("price_moved")


def test_missing_price_is_rejected_unless_allowed():
    assert verdicts(gate(orders(("AAA", "buy", 1, 10.0)), ctx({}))) == {"AAA": "price_missing"}
    allowed = gate(orders(("AAA", "buy", 1, 10.0)), ctx({}), RiskSettings(reject_if_price_missing=False))
    assert allowed["verdict"].iloc[0] == "approved"


def test_bracket_prices_are_checked_against_the_latest_price():
    report = gate(orders(("AAA", "buy", 1, 100.0, 101.0, 99.0)), ctx({"AAA": 101.5}),
                  RiskSettings(price_tolerance_pct=0.05))
    assert "bracket_invalid (take-profit 101 < base 101.5 + 0.01)" in report["reasons"].iloc[0]
    sub_penny = gate(orders(("AAA", "buy", 1, 100.0, 105.001, 97.0)), ctx({"AAA": 100.0}))
    assert "bracket_invalid (sub-penny price)" in sub_penny["reasons"].iloc[0]


def test_blacklisted_symbols_are_rejected():
    report = gate(orders(("AAA", "buy", 1, 10.0)), ctx({"AAA": 10.0}), RiskSettings(blacklist=("AAA",)))
    assert verdicts(report) == {"AAA": "blacklisted"}


def test_maximum_weight_of_one_name_after_the_trade():
    report = gate(orders(("AAA", "buy", 100, 100.0)), ctx({"AAA": 100.0}, positions={"AAA": 200}),
                  RiskSettings(max_weight_per_name=0.25))
    assert verdicts(report) == {"AAA": "max_weight_per_name (0.3000 > 0.25)"}


def test_volatility_gate_per_symbol_rejects_only_buys():
    batch = orders(("AAA", "buy", 1, 10.0), ("BBB", "buy", 1, 10.0), ("CCC", "sell", 1, 10.0))
    report = gate(batch, ctx({"AAA": 10.0, "BBB": 10.0, "CCC": 10.0}, realized_vol={"AAA": 0.9, "BBB": 0.2, "CCC": 2.0}),
                  RiskSettings(vol_max_annualized=0.5))
    assert verdicts(report) == {"AAA": "volatility (0.900 > 0.5)", "BBB": "approved", "CCC": "approved"}


def test_volatility_gate_on_the_market_rejects_all_buys():
    report = gate(orders(("AAA", "buy", 1, 10.0), ("CCC", "sell", 1, 10.0)),
                  ctx({"AAA": 10.0, "CCC": 10.0}, realized_vol={"SPY": 0.6}),
                  RiskSettings(vol_max_annualized=0.4, vol_scope="market"))
    assert verdicts(report) == {"AAA": "market_volatility (SPY 0.600 > 0.4)", "CCC": "approved"}


def test_realized_volatility_is_annualized_sample_stdev_of_log_returns():
    closes = [100, 101, 99, 102, 103, 101]
    expected = np.std(np.diff(np.log(closes)), ddof=1) * math.sqrt(252)
    assert realized_volatility(closes, 5) == pytest.approx(expected)
    assert realized_volatility(closes, 6) is None


def test_total_notional_and_turnover_reject_the_batch():
    batch = orders(("AAA", "buy", 100, 100.0), ("BBB", "sell", 100, 100.0))
    report = gate(batch, ctx({"AAA": 100.0, "BBB": 100.0}), RiskSettings(max_total_notional=15_000))
    assert set(report["verdict"]) == {"rejected"} and report["reasons"].str.contains("max_total_notional").all()
    report = gate(batch, ctx({"AAA": 100.0, "BBB": 100.0}), RiskSettings(max_turnover_pct=0.1))
    assert report["reasons"].str.contains("max_turnover_pct").all()


def test_buys_that_would_leave_less_than_the_cash_buffer_are_rejected():
    report = gate(orders(("AAA", "buy", 99, 100.0), ("BBB", "sell", 1, 100.0)), ctx({"AAA": 100.0, "BBB": 100.0},
                  equity=10_000.0, cash=100.0), RiskSettings(min_cash_buffer_pct=0.05, max_weight_per_name=1.0))
    assert verdicts(report)["BBB"] == "approved"
    assert verdicts(report)["AAA"].startswith("cash_buffer (cash after trades -9700.00 < 500.00)")


def test_one_rejection_can_reject_the_whole_batch():
    batch = orders(("AAA", "buy", 1, 10.0), ("BBB", "buy", 1, 10.0))
    report = gate(batch, ctx({"AAA": 10.0, "BBB": 10.0}), RiskSettings(blacklist=("AAA",), reject_batch_on_any=True))
    assert verdicts(report) == {"AAA": "blacklisted", "BBB": "batch_rejected (blacklisted)"}


def test_preflight_failures_reject_everything():
    report = gate(orders(("AAA", "buy", 1, 10.0)), ctx({"AAA": 10.0}, preflight_failures=("kill_switch",)))
    assert verdicts(report) == {"AAA": "kill_switch"}


@pytest.mark.parametrize("mode,flags,kill,market_open,session,expected", [
    ("dry", {}, False, None, None, ()),
    ("dry", {}, True, None, None, ("kill_switch",)),
    ("dry", {"trading_blocked": True}, False, None, None, ("trading_blocked",)),
    ("real", {"account_blocked": True, "trade_suspended_by_user": True}, False, True, True,
     ("account_blocked", "trade_suspended_by_user")),
    ("real", {}, False, False, False, ("market_closed_today",)),
    ("real", {}, False, False, True, ("market_closed_now",)),
    ("real", {}, False, True, True, ()),
    ("dry", {}, False, False, False, ()),  # a dry run may plan while the market is closed
])
def test_preflight(mode, flags, kill, market_open, session, expected):
    assert preflight(mode, flags, kill, market_open, session) == expected


def test_real_mode_refuses_a_trade_date_that_is_not_today():
    assert preflight("real", {}, False, True, True, trade_date_is_today=False) == ("trade_date_not_today",)
    assert preflight("dry", {}, False, True, True, trade_date_is_today=False) == ()


def test_fractional_bracket_quantities_are_rejected():
    report = gate(orders(("AAA", "buy", 2.5, 10.0, 10.5, 9.7)), ctx({"AAA": 10.0}))
    assert "bracket_invalid (fractional quantity)" in report["reasons"].iloc[0]


def test_a_batch_without_orders_is_an_empty_report_not_a_crash():
    from paper_trading.orders import ORDER_COLUMNS
    from paper_trading.risk.gate import REPORT_COLUMNS, GateContext, gate

    report = gate(pd.DataFrame(columns=ORDER_COLUMNS), GateContext("dry", 10_000.0, 10_000.0, {}))
    assert report.empty and list(report.columns) == REPORT_COLUMNS


def test_max_weight_per_name_is_off_unless_set():
    report = gate(orders(("AAA", "buy", 500, 100.0)), ctx({"AAA": 100.0}, positions={"AAA": 200}))
    assert verdicts(report) == {"AAA": "approved"}


def test_a_batch_that_would_take_gross_exposure_past_its_bound_has_its_buys_rejected():
    """The spec's risk extension (net exposure) and M6 leverage check: exposure after the batch,
    over equity. The buys are rejected, the sells (which lower it) go through."""
    batch = orders(("AAA", "sell", 10, 100.0), ("BBB", "buy", 300, 100.0))
    report = gate(batch, ctx({"AAA": 100.0, "BBB": 100.0}, equity=100_000.0, cash=10_000.0,
                             positions={"AAA": 900}), RiskSettings(max_gross_exposure=1.1, min_cash_buffer_pct=0))
    assert verdicts(report) == {"AAA": "approved", "BBB": "cash_buffer (cash after trades -19000.00 < 0.00); "
                                                          "max_gross_exposure (after the batch 1.1900 > 1.1)"}


def test_net_exposure_counts_shorts_against_longs():
    batch = orders(("BBB", "buy", 100, 100.0))
    context = ctx({"AAA": 100.0, "BBB": 100.0}, equity=100_000.0, cash=100_000.0, positions={"AAA": -500})
    assert verdicts(gate(batch, context, RiskSettings(max_net_exposure=0.05))) == {"BBB": "approved"}  # 0.1 - 0.5
    assert verdicts(gate(batch, context, RiskSettings(max_gross_exposure=0.55))) == {
        "BBB": "max_gross_exposure (after the batch 0.6000 > 0.55)"}


def test_borrowing_past_the_margin_bound_rejects_the_buys():
    report = gate(orders(("BBB", "buy", 300, 100.0)), ctx({"BBB": 100.0}, equity=100_000.0, cash=20_000.0),
                  RiskSettings(max_margin_pct=0.05, min_cash_buffer_pct=0))
    assert verdicts(report) == {"BBB": "cash_buffer (cash after trades -10000.00 < 0.00); "
                                       "max_margin_pct (after the batch 0.1000 > 0.05)"}


def test_exposure_bounds_are_off_by_default():
    report = gate(orders(("BBB", "buy", 900, 100.0)), ctx({"AAA": 100.0, "BBB": 100.0}, equity=100_000.0,
                                                          cash=190_000.0, positions={"AAA": -900}),
                  RiskSettings(min_cash_buffer_pct=0, max_notional_per_order=1e9, max_total_notional=1e9,
                               max_turnover_pct=10))
    assert verdicts(report) == {"BBB": "approved"}
