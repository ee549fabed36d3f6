"""M6 analytics: each standard statistic equals empyrical-reloaded's on the same series, undefined
values are None with a reason (never an exception, NaN or infinity), drawdown dates, risk and trading."""

from __future__ import annotations

import datetime as dt
import math

import empyrical as ep
import numpy as np
import pandas as pd
import pytest

from paper_trading.reporting import analytics

DAYS = [d.date() for d in pd.bdate_range("2025-01-02", periods=80)]


def _equity(values, cash=None) -> pd.DataFrame:
    values = list(values)
    return pd.DataFrame({"trade_date": DAYS[: len(values)], "equity": values,
                         "cash": cash if cash is not None else [1000.0] * len(values)})


@pytest.fixture
def pnl() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    equity = 100_000 * np.cumprod(1 + rng.normal(0.0004, 0.012, len(DAYS)))
    bench = pd.Series(600 * np.cumprod(1 + rng.normal(0.0003, 0.009, len(DAYS))), index=DAYS)
    return analytics.daily_pnl(_equity(equity), bench)


def _series(pnl, column):
    return pd.Series(pnl[column].to_numpy(), index=pd.DatetimeIndex(pnl["date"])).dropna()


STANDARD = {
    "cum_returns_final": ep.cum_returns_final, "annual_return": ep.annual_return, "cagr": ep.cagr,
    "annual_volatility": ep.annual_volatility, "sharpe_ratio": ep.sharpe_ratio, "sortino_ratio": ep.sortino_ratio,
    "downside_risk": ep.downside_risk, "max_drawdown": ep.max_drawdown, "calmar_ratio": ep.calmar_ratio,
    "tail_ratio": ep.tail_ratio, "stability_of_timeseries": ep.stability_of_timeseries,
    "value_at_risk": ep.value_at_risk,
}
AGAINST = {"alpha": ep.alpha, "beta": ep.beta, "excess_sharpe": ep.excess_sharpe}


@pytest.mark.parametrize("name", sorted(STANDARD))
def test_each_statistic_equals_empyricals(pnl, name):
    stats = analytics.performance(pnl)
    expected = float(STANDARD[name](_series(pnl, "daily_return")))
    assert stats.values[name] == pytest.approx(expected, abs=1e-9, rel=0)


@pytest.mark.parametrize("name", sorted(AGAINST))
def test_each_benchmark_statistic_equals_empyricals(pnl, name):
    stats = analytics.performance(pnl)
    r, b = _series(pnl, "daily_return"), _series(pnl, "benchmark_return")
    assert stats.values[name] == pytest.approx(float(AGAINST[name](r, b)), abs=1e-9, rel=0)


def test_the_benchmark_figures_by_their_definitions(pnl):
    s = analytics.performance(pnl).values
    r, b = _series(pnl, "daily_return"), _series(pnl, "benchmark_return")
    active = (r - b).to_numpy()
    assert s["tracking_error"] == pytest.approx(np.std(active, ddof=1) * math.sqrt(252), abs=1e-12)
    assert s["information_ratio"] == pytest.approx(active.mean() / np.std(active, ddof=1) * math.sqrt(252), abs=1e-9)
    assert s["correlation"] == pytest.approx(np.corrcoef(r, b)[0, 1], abs=1e-12)
    assert s["excess_return"] == pytest.approx(ep.cum_returns_final(r) - ep.cum_returns_final(b), abs=1e-12)


def test_the_pnl_columns_are_empyricals_series(pnl):
    r = _series(pnl, "daily_return")
    wealth = ep.cum_returns(r)
    assert pnl["cumulative_return"].iloc[1:].to_numpy() == pytest.approx(wealth.to_numpy(), abs=1e-12)
    assert pnl["drawdown"].min() == pytest.approx(ep.max_drawdown(r), abs=1e-12)
    assert pnl["daily_return"].iloc[1] == pytest.approx(pnl["equity"].iloc[1] / pnl["equity"].iloc[0] - 1, abs=1e-15)
    assert math.isnan(pnl["daily_return"].iloc[0]) and math.isnan(pnl["benchmark_return"].iloc[0])


def _all_finite_or_none(stats):
    for key, value in stats.values.items():
        if isinstance(value, float):
            assert math.isfinite(value), key
        if value is None:
            assert stats.reasons.get(key), key


def test_one_day_gives_none_with_reasons():
    pnl = analytics.daily_pnl(_equity([100_000.0]), pd.Series({DAYS[0]: 600.0}))
    stats = analytics.performance(pnl)
    for name in [*STANDARD, *AGAINST, "tracking_error", "information_ratio", "correlation"]:
        assert stats.values[name] is None, name
        assert stats.reasons[name], name
    assert "2 sessions" in stats.reasons["annual_return"]
    _all_finite_or_none(stats)
    assert analytics.period_returns(pnl, DAYS[0])["portfolio"]["ytd"] is None


def test_zero_variance_gives_none_with_reasons():
    equity = [100_000.0 * 1.001 ** i for i in range(10)]  # the same return every day
    pnl = analytics.daily_pnl(_equity(equity), pd.Series({d: 600.0 for d in DAYS[:10]}))  # a flat benchmark
    stats = analytics.performance(pnl)
    for name in ("sharpe_ratio", "sortino_ratio", "tail_ratio"):
        assert stats.values[name] is None and "zero volatility" in stats.reasons[name]
    assert stats.values["calmar_ratio"] is None and "no drawdown" in stats.reasons["calmar_ratio"]
    for name in ("alpha", "beta", "correlation"):
        assert stats.values[name] is None and "benchmark" in stats.reasons[name]
    assert stats.values["annual_return"] == pytest.approx(ep.annual_return(_series(pnl, "daily_return")), abs=1e-9)
    _all_finite_or_none(stats)


def test_no_losing_day_leaves_sortino_undefined():
    equity = [100.0, 101.0, 103.0, 103.5, 106.0]
    stats = analytics.performance(analytics.daily_pnl(_equity(equity), pd.Series(dtype=float)))
    assert stats.values["sortino_ratio"] is None and "below zero" in stats.reasons["sortino_ratio"]
    assert stats.values["alpha"] is None and "benchmark close" in stats.reasons["alpha"]
    _all_finite_or_none(stats)


def test_drawdown_dates():
    equity = [100.0, 110.0, 105.0, 99.0, 104.0, 111.0, 108.0]
    pnl = analytics.daily_pnl(_equity(equity), pd.Series(dtype=float))
    dates = analytics.drawdown_dates(pnl)
    assert dates == {"peak": DAYS[1].isoformat(), "trough": DAYS[3].isoformat(), "recovery": DAYS[5].isoformat()}
    assert pnl["drawdown"].iloc[3] == pytest.approx(99 / 110 - 1)
    under = analytics.drawdown_dates(analytics.daily_pnl(_equity(equity[:5]), pd.Series(dtype=float)))
    assert under["recovery"] is None
    stats = analytics.performance(analytics.daily_pnl(_equity(equity[:5]), pd.Series(dtype=float)))
    assert stats.values["max_drawdown_recovery"] is None and stats.reasons["max_drawdown_recovery"] == "still under water"


def test_a_deposit_is_not_a_return():
    pnl = analytics.daily_pnl(_equity([100.0, 151.0]), pd.Series(dtype=float), pd.Series({DAYS[1]: 50.0}))
    assert pnl["daily_return"].iloc[1] == pytest.approx(0.01)


def test_period_views_compound_the_daily_returns(pnl):
    views = analytics.period_returns(pnl, DAYS[-1])
    r = _series(pnl, "daily_return")
    jan = r[r.index.month == 1]
    assert views["portfolio"]["monthly"]["2025-01"] == pytest.approx(ep.cum_returns_final(jan), abs=1e-12)
    assert views["portfolio"]["ytd"] == pytest.approx(ep.cum_returns_final(r), abs=1e-12)
    assert len(views["benchmark"]["daily"]) == len(DAYS) - 1


def test_risk_snapshot_weights_hhi_and_sectors():
    positions = [{"symbol": "AAPL", "qty": 10.0, "close_price": 200.0, "market_value": 2000.0},
                 {"symbol": "MSFT", "qty": 5.0, "close_price": 400.0, "market_value": 2000.0},
                 {"symbol": "XOM", "qty": 10.0, "close_price": 100.0, "market_value": 1000.0}]
    frame, stats = analytics.risk_snapshot(DAYS[0], positions, {"equity": 10_000.0, "cash": 5_000.0},
                                           {"AAPL": "Tech", "MSFT": "Tech", "XOM": "Energy"})
    s = stats.values
    assert s["cash_pct"] == 0.5 and s["gross_exposure"] == 0.5 and s["net_exposure"] == 0.5
    assert s["hhi"] == pytest.approx(0.4 ** 2 * 2 + 0.2 ** 2)
    assert s["sector_weights"] == {"Tech": 0.4, "Energy": 0.1}
    assert list(s["top_weights"]) == ["AAPL", "MSFT", "XOM"]
    assert frame.loc[frame["kind"].isin(["position", "cash"]), "weight"].sum() == pytest.approx(1.0)


def test_risk_snapshot_without_equity_or_positions():
    frame, stats = analytics.risk_snapshot(DAYS[0], [], None, None)
    assert stats.values["hhi"] is None and stats.reasons["hhi"]
    assert stats.values["cash_pct"] is None and "no equity" in stats.reasons["cash_pct"]
    _all_finite_or_none(stats)


def _fill(i, symbol, side, qty, price, day=0):
    return {"activity_id": f"a{i:03d}", "transaction_time": dt.datetime(2025, 1, 2, 15, i), "trade_date": DAYS[day],
            "symbol": symbol, "side": side, "qty": qty, "price": price}


def test_round_trips_hit_rate_and_profit_loss_ratio():
    fills = [_fill(1, "AAPL", "buy", 10, 100.0), _fill(2, "AAPL", "buy", 10, 110.0),
             _fill(3, "AAPL", "sell", 15, 120.0, 1),  # closes 10 @100 (+200) and 5 @110 (+50)
             _fill(4, "MSFT", "sell", 4, 50.0), _fill(5, "MSFT", "buy", 4, 55.0, 1)]  # a short: -20
    trips = analytics.round_trips(fills)
    assert [round(t["pnl"], 9) for t in trips] == [200.0, 50.0, -20.0]
    equity = _equity([10_000.0, 10_100.0])
    recon = [{"trade_date": DAYS[1], "kind": "order", "planned_qty": 20.0, "filled_qty": 15.0, "slippage_bps": 2.0,
              "avg_fill_price": 120.0, "ref_price": 119.976},
             {"trade_date": DAYS[1], "kind": "order", "planned_qty": 4.0, "filled_qty": 4.0, "slippage_bps": -1.0,
              "avg_fill_price": 55.0, "ref_price": 55.0055},
             {"trade_date": DAYS[1], "kind": "position", "planned_qty": None, "filled_qty": None, "slippage_bps": None,
              "avg_fill_price": None, "ref_price": None}]
    cash = [{"activity_type": "FEE", "net_amount": -1.5, "date": DAYS[1]},
            {"activity_type": "DIV", "net_amount": 3.0, "date": DAYS[1]}]
    s = analytics.trading(fills, cash, recon, equity, DAYS[1]).values
    assert s["hit_rate"] == pytest.approx(2 / 3)
    assert s["profit_loss_ratio"] == pytest.approx(125 / 20)
    assert s["fill_rate_day"] == pytest.approx(19 / 24)
    assert s["slippage_bps_day"] == pytest.approx((2 * 1800 - 1 * 220) / 2020)
    assert s["fees_total"] == 1.5
    assert s["turnover_day"] == pytest.approx((15 * 120 + 4 * 55) / 10_000)


def test_no_trades_gives_none_with_reasons():
    stats = analytics.trading([], [], [], _equity([100.0]), DAYS[0])
    for name in ("hit_rate", "profit_loss_ratio", "fill_rate_day", "slippage_bps_total"):
        assert stats.values[name] is None and stats.reasons[name]
    assert stats.values["fees_total"] == 0


def _recon_order(day, filled, price, bps, kind="order"):
    return {"trade_date": DAYS[day], "kind": kind, "planned_qty": filled, "filled_qty": filled, "slippage_bps": bps,
            "avg_fill_price": price, "ref_price": price}


def test_daily_trading_gives_the_day_figures_of_trading_for_every_session():
    fills = [_fill(1, "AAPL", "buy", 10, 100.0), _fill(2, "MSFT", "sell", 4, 50.0, 2),
             _fill(3, "AAPL", "sell", 5, 110.0, 2)]
    recon = [_recon_order(0, 10, 100.0, 3.0), _recon_order(2, 4, 50.0, -2.0), _recon_order(2, 5, 110.0, 1.0),
             _recon_order(2, 7, 10.0, 99.0, kind="leg")]
    equity = _equity([10_000.0, 10_050.0, 9_900.0, 9_950.0])
    daily = analytics.daily_trading(fills, recon, equity)
    assert daily["date"].dt.date.tolist() == DAYS[:4]
    for day in range(4):
        s = analytics.trading(fills, [], recon, equity, DAYS[day]).values
        row = daily.iloc[day]
        assert row["turnover"] == pytest.approx(s["turnover_day"], abs=1e-15)
        if s["slippage_bps_day"] is None:
            assert math.isnan(row["slippage_bps"])
        else:
            assert row["slippage_bps"] == pytest.approx(s["slippage_bps_day"], abs=1e-12)


def test_daily_turnover_is_over_the_previous_close():
    fills = [_fill(1, "AAPL", "buy", 10, 100.0), _fill(2, "AAPL", "sell", 10, 101.0, 1)]
    daily = analytics.daily_trading(fills, [], _equity([10_000.0, 12_000.0, 11_000.0]))
    assert daily["turnover"].tolist() == pytest.approx([1000 / 10_000, 1010 / 10_000, 0.0])
    assert daily["slippage_bps"].isna().all()


def test_daily_trading_of_a_day_without_equity_has_no_turnover():
    daily = analytics.daily_trading([_fill(1, "AAPL", "buy", 1, 10.0, 2)], [], _equity([100.0, 0.0, 50.0]))
    assert daily["turnover"].isna().tolist() == [False, False, True]  # day 3 trades over the 0 equity of day 2


def test_monthly_returns_compound_the_daily_returns_as_the_period_views(pnl):
    grid = analytics.monthly_returns(pnl)
    monthly = analytics.period_returns(pnl, DAYS[-1])["portfolio"]["monthly"]
    assert list(grid.columns) == list(range(1, 13)) and list(grid.index) == [2025]
    for key, value in monthly.items():
        assert grid.loc[int(key[:4]), int(key[5:])] == pytest.approx(value, abs=1e-12)
    assert grid.loc[2025, 12] != grid.loc[2025, 12]  # NaN: no return in December


def test_monthly_returns_of_one_session_are_empty():
    pnl = analytics.daily_pnl(_equity([100.0]), pd.Series(dtype=float))
    assert analytics.monthly_returns(pnl).empty


def test_weights_vs_targets_covers_held_and_targeted_names():
    positions = [{"symbol": "AAPL", "qty": 10.0, "close_price": 300.0, "market_value": 3000.0},
                 {"symbol": "XOM", "qty": 10.0, "close_price": 100.0, "market_value": 1000.0},
                 {"symbol": "ZZZ", "qty": 1.0, "close_price": None, "market_value": None}]
    risk, _ = analytics.risk_snapshot(DAYS[0], positions, {"equity": 10_000.0, "cash": 6_000.0}, None)
    targets = pd.DataFrame({"asset_id": ["001690", "012141", "999999"], "target_weight": [0.5, 0.3, 0.2]})
    out = analytics.weights_vs_targets(risk, targets, {"001690": "AAPL", "012141": "MSFT"}, cash_buffer_pct=0.1)
    rows = out.set_index("symbol")
    assert rows.loc["AAPL", "weight"] == 0.3 and rows.loc["AAPL", "target_of_equity"] == pytest.approx(0.45)
    assert rows.loc["AAPL", "difference"] == pytest.approx(-0.15)
    assert rows.loc["MSFT", "weight"] == 0.0 and rows.loc["MSFT", "target_weight"] == 0.3  # targeted, not held
    assert rows.loc["XOM", "target_weight"] == 0.0  # held, not targeted: the next plan sells it
    assert math.isnan(rows.loc["ZZZ", "weight"])  # held without a close: unknown, not zero
    assert rows.loc["gvkey 999999", "target_weight"] == 0.2  # a target without a symbol keeps its gvkey
    assert out["symbol"].tolist()[:2] == ["AAPL", "MSFT"]


def test_weights_without_targets_are_compared_with_zero():
    positions = [{"symbol": "AAPL", "qty": 10.0, "close_price": 300.0, "market_value": 3000.0}]
    risk, _ = analytics.risk_snapshot(DAYS[0], positions, {"equity": 10_000.0, "cash": 7_000.0}, None)
    out = analytics.weights_vs_targets(risk, None, None)
    assert out.to_dict("records") == [{"symbol": "AAPL", "weight": 0.3, "target_weight": 0.0, "target_of_equity": 0.0,
                                       "difference": 0.3}]


def test_the_fill_rate_counts_only_approved_orders_of_real_runs():
    equity = _equity([10_000.0, 10_100.0])
    filled = {"trade_date": DAYS[1], "kind": "order", "planned_qty": 10.0, "filled_qty": 10.0, "slippage_bps": 0.0,
              "avg_fill_price": 10.0, "ref_price": 10.0, "classification": "filled"}
    rejected = filled | {"planned_qty": 90.0, "filled_qty": None, "classification": "not_submitted"}
    dry = filled | {"planned_qty": 50.0, "filled_qty": None, "classification": "dry_run"}
    assert analytics.trading([], [], [filled, rejected], equity, DAYS[1]).values["fill_rate_day"] == 1.0
    stats = analytics.trading([], [], [dry], equity, DAYS[1])
    assert stats.values["fill_rate_day"] is None and "dry run" in stats.reasons["fill_rate_day"]
