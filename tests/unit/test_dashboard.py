"""M6 dashboard: one HTML page that opens offline, with every chart drawn (empty ones say why), every
text from data escaped, and every null KPI shown as a dash with its reason."""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import numpy as np
import pandas as pd
import pytest

from paper_trading.reporting import analytics, dashboard

DAYS = [d.date() for d in pd.bdate_range("2025-01-02", periods=80)]
AS_OF = DAYS[-1]


def _inputs(sessions: int = len(DAYS), *, positions=None, alerts=None, recon=None, targets=None) -> dict:
    """What the report step hands the dashboard, made by the analytics functions themselves."""
    days = DAYS[:sessions]
    rng = np.random.default_rng(7)
    equity = pd.DataFrame({"trade_date": days, "equity": 100_000 * np.cumprod(1 + rng.normal(0.0004, 0.01, sessions)),
                           "cash": 1_000.0})
    bench = pd.Series(600 * np.cumprod(1 + rng.normal(0.0003, 0.008, sessions)), index=days)
    pnl = analytics.daily_pnl(equity, bench)
    if positions is None:
        positions = [{"symbol": "AAPL", "qty": 100.0, "close_price": 200.0, "market_value": 20_000.0},
                     {"symbol": "MSFT", "qty": 50.0, "close_price": 400.0, "market_value": 20_000.0}]
    last = {"equity": float(equity["equity"].iloc[-1]), "cash": 1_000.0}
    risk_frame, risk = analytics.risk_snapshot(days[-1], positions, last, {"AAPL": "Tech"})
    fills = [{"activity_id": f"a{i}", "transaction_time": dt.datetime(2025, 1, 2), "trade_date": d, "symbol": "AAPL",
              "side": "buy", "qty": 10.0, "price": 200.0} for i, d in enumerate(days[::5])] if sessions > 1 else []
    recon = recon if recon is not None else [
        {"trade_date": days[-1], "key": "pt-1", "kind": "order", "symbol": "AAPL", "side": "buy", "planned_qty": 10.0,
         "filled_qty": 10.0, "status": "filled", "classification": "filled", "ref_price": 199.9,
         "avg_fill_price": 200.0, "slippage_bps": 5.0, "message": "planned 10, filled 10", "alert": False}]
    history = [dict(r, trade_date=d) for d in days for r in recon]
    daily = analytics.daily_trading(fills, history, equity)
    perf = analytics.performance(pnl)
    trade = analytics.trading(fills, [], history, equity, days[-1], daily)
    metrics = {**perf.values, "trading": trade.values, "risk": risk.values,
               "reasons": {**perf.reasons, **{f"trading.{k}": v for k, v in trade.reasons.items()},
                           **{f"risk.{k}": v for k, v in risk.reasons.items()}}}
    targets = targets if targets is not None else pd.DataFrame({"asset_id": ["001690", "012141"],
                                                                "target_weight": [0.5, 0.5]})
    weights = analytics.weights_vs_targets(risk_frame, targets, {"001690": "AAPL", "012141": "MSFT"}, 0.02)
    return {"as_of": days[-1], "pnl": pnl, "risk": risk_frame, "metrics": metrics, "recon": recon,
            "weights": weights, "daily": daily, "alerts": alerts or []}


def _figures(page: str) -> dict:
    return json.loads(re.search(r"var FIGURES=(.*?);Object\.keys", page, re.S).group(1))


def _without_plotly(page: str) -> str:
    return page.replace(dashboard.plotly_js(), "")


@pytest.fixture(scope="module")
def page() -> str:
    return dashboard.render_dashboard(**_inputs())


def test_the_page_refers_to_no_url(page):
    rest = _without_plotly(page)
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link\b", page, re.I)
    assert "http://" not in rest and "https://" not in rest


def test_plotly_js_is_embedded_once(page):
    assert page.count(dashboard.plotly_js()) == 1
    assert page.count("<script>") == 2  # plotly.js, then the figures


def test_every_chart_has_its_div_and_its_figure(page):
    figures = _figures(page)
    assert list(figures) == list(dashboard.CHARTS)
    for name in dashboard.CHARTS:
        assert f'id="chart-{name}"' in page and figures[name]["data"], name


def test_equity_is_compared_with_the_benchmark_as_cumulative_returns(page):
    traces = _figures(page)["equity"]["data"]
    assert [t["name"] for t in traces] == ["portfolio", "SPY"]
    pnl = _inputs()["pnl"]
    assert traces[0]["y"] == pytest.approx(pnl["cumulative_return"].tolist(), abs=1e-8)
    assert traces[1]["y"][-1] == pytest.approx(pnl["benchmark_cumulative_return"].iloc[-1], abs=1e-8)


def test_the_monthly_heatmap_is_years_by_months(page):
    heat = _figures(page)["monthly"]["data"][0]
    assert heat["type"] == "heatmap" and heat["x"] == dashboard.MONTHS and heat["y"] == ["2025"]
    assert heat["z"][0][:4] != [None] * 4 and heat["z"][0][4:] == [None] * 8  # 80 sessions: January to April


def test_weights_are_shown_against_the_targets_of_equity(page):
    bars = _figures(page)["weights"]["data"]
    assert [b["name"] for b in bars] == ["weight", "target"]
    assert bars[1]["y"] == pytest.approx([0.49, 0.49])  # 50 % of the investable 98 %


@pytest.mark.parametrize("sessions", [1, 0])
def test_a_short_history_draws_every_chart_empty_with_its_reason(sessions):
    inputs = _inputs(max(sessions, 1), positions=[], recon=[], targets=pd.DataFrame())
    if sessions == 0:
        inputs["pnl"] = inputs["pnl"].iloc[:0]
        inputs["daily"] = inputs["daily"].iloc[:0]
    figures = _figures(dashboard.render_dashboard(**inputs))
    assert list(figures) == list(dashboard.CHARTS)
    for name, figure in figures.items():
        assert figure["data"] == [], name
        assert figure["layout"]["annotations"][0]["text"], name
    expected = "one session so far" if sessions else "no reconciled session"
    assert expected in figures["equity"]["layout"]["annotations"][0]["text"]
    assert "no trade" in figures["turnover"]["layout"]["annotations"][0]["text"]


def test_a_day_without_trades_still_shows_the_performance():
    inputs = _inputs(recon=[])
    inputs["daily"] = analytics.daily_trading([], [], pd.DataFrame({"trade_date": DAYS, "equity": 1.0}))
    figures = _figures(dashboard.render_dashboard(**inputs))
    assert figures["equity"]["data"] and figures["turnover"]["data"] == [] and figures["slippage"]["data"] == []


def test_a_note_is_shown_on_its_chart():
    page = dashboard.render_dashboard(**_inputs(), notes={"weights": "no targets: file not found"})
    texts = [a["text"] for a in _figures(page)["weights"]["layout"]["annotations"]]
    assert "no targets: file not found" in texts


def test_missing_benchmark_closes_are_gaps_with_a_note():
    inputs = _inputs()
    inputs["pnl"] = inputs["pnl"].assign(benchmark_close=np.nan)
    equity = _figures(dashboard.render_dashboard(**inputs))["equity"]
    assert equity["data"][1]["y"] == [None] * len(DAYS)
    assert "no SPY close" in equity["layout"]["annotations"][0]["text"]


HOSTILE = '<script>alert("x")</script>&'


def test_text_from_data_is_escaped_in_tables_and_charts():
    recon = [{"trade_date": AS_OF, "key": "manual", "kind": "manual", "symbol": HOSTILE, "side": "buy",
              "planned_qty": None, "filled_qty": 1.0, "status": "filled", "classification": "manual",
              "ref_price": None, "avg_fill_price": 10.0, "slippage_bps": None, "message": HOSTILE, "alert": True}]
    alerts = [{"ts": "2025-04-23T20:00:00Z", "trade_date": AS_OF.isoformat(), "run_id": "r", "step": "reconcile",
               "rule": "manual_trade", "key": HOSTILE, "severity": "error", "message": HOSTILE}]
    positions = [{"symbol": HOSTILE, "qty": 1.0, "close_price": 10.0, "market_value": 10.0}]
    page = dashboard.render_dashboard(**_inputs(positions=positions, recon=recon, alerts=alerts))
    rest = _without_plotly(page)
    assert HOSTILE not in rest and "<script>alert" not in rest
    assert rest.count(html.escape(HOSTILE)) >= 3  # the recon symbol and message, the alert's key and message
    script = rest[rest.index("var FIGURES="):]
    assert "<" not in script[: script.index("</script>")]
    assert html.escape(HOSTILE) in _figures(page)["weights"]["data"][0]["x"]


def test_a_null_kpi_is_a_dash_with_its_reason():
    inputs = _inputs(2)
    page = dashboard.render_dashboard(**inputs)
    reason = inputs["metrics"]["reasons"]["sharpe_ratio"]
    row = re.search(r'<tr data-key="sharpe_ratio">(.*?)</tr>', page).group(1)
    assert f'<td class="na" title="{html.escape(reason)}">—</td>' in row


def test_a_nested_null_kpi_takes_its_reason_from_the_metrics():
    page = dashboard.render_dashboard(**_inputs(recon=[]))
    row = re.search(r'<tr data-key="trading.slippage_bps_day">(.*?)</tr>', page).group(1)
    assert 'class="na" title="no filled order with a reference price"' in row


def test_a_kpi_missing_from_the_metrics_is_a_dash_not_an_error():
    inputs = _inputs()
    inputs["metrics"] = {"cum_returns_final": 0.1234, "reasons": {}}
    page = dashboard.render_dashboard(**inputs)
    assert re.search(r'<tr data-key="cum_returns_final"><th>[^<]*</th><td class="num">12.34 %</td>', page)
    assert 'title="not in the metrics"' in page


def test_the_kpi_table_lists_the_required_figures(page):
    keys = set(re.findall(r'<tr data-key="([^"]+)">', page))
    assert {"cum_returns_final", "annual_return", "annual_volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown",
            "max_drawdown_peak", "max_drawdown_trough", "max_drawdown_recovery", "calmar_ratio", "alpha", "beta",
            "information_ratio", "tracking_error", "trading.hit_rate", "trading.turnover_day",
            "trading.slippage_bps_total", "trading.fill_rate_total", "trading.fees_total", "risk.hhi", "risk.cash_pct",
            "risk.gross_exposure"} <= keys


def test_todays_reconciliation_is_a_table_with_alerts_first():
    ok = {"trade_date": AS_OF, "key": "pt-1", "kind": "order", "symbol": "AAA", "side": "buy", "planned_qty": 1.0,
          "filled_qty": 1.0, "status": "filled", "classification": "filled", "ref_price": 1.0, "avg_fill_price": 1.0,
          "slippage_bps": 0.0, "message": "fine", "alert": False}
    bad = dict(ok, key="pt-2", symbol="BBB", classification="rejected", message="refused", alert=True)
    page = dashboard.render_dashboard(**_inputs(recon=[ok, bad]))
    section = page[page.index('id="recon"'):page.index('id="alerts"')]
    assert section.index("BBB") < section.index("AAA") and '<tr class="alert">' in section


def test_the_reconciliation_lists_alerts_then_the_days_orders_then_the_books_then_the_working_legs():
    order = {"trade_date": AS_OF, "key": "pt-1", "kind": "order", "symbol": "ZZZ", "side": "buy", "planned_qty": 1.0,
             "filled_qty": 1.0, "status": "filled", "classification": "filled", "ref_price": 1.0,
             "avg_fill_price": 1.0, "slippage_bps": 0.0, "message": "order row", "alert": False}
    legs = [dict(order, key=f"leg-{i}", kind="leg", symbol=f"L{i}", classification="leg_open",
                 message=f"working leg {i}") for i in range(3)]
    filled_leg = dict(order, key="leg-f", kind="leg", symbol="LF", classification="leg_filled", message="leg that filled")
    position = dict(order, key="AAA", kind="position", symbol="AAA", classification="position_ok",
                    message="position row")
    alert = dict(order, key="pt-2", symbol="BBB", classification="rejected", message="alert row", alert=True)
    page = dashboard.render_dashboard(**_inputs(recon=[*legs, position, filled_leg, order, alert]))
    section = page[page.index('id="recon"'):page.index('id="alerts"')]
    shown = [m for m in re.findall(r"(alert row|order row|position row|leg that filled|working leg \d)", section)]
    assert shown == ["alert row", "order row", "position row", "leg that filled",
                     "working leg 0", "working leg 1", "working leg 2"]


@pytest.mark.parametrize("chart", ["turnover", "returns"])
def test_a_bar_chart_with_one_day_draws_a_bar_a_day_wide(chart):
    inputs = _inputs(2)
    figures = _figures(dashboard.render_dashboard(**inputs))
    bars = figures[chart]["data"][0]
    assert bars["type"] == "bar" and len(bars["x"]) >= 1
    assert bars["width"] == pytest.approx(0.8 * 86_400_000)  # plotly.js gives a lone bar no width otherwise


def test_recent_alerts_are_listed_newest_first():
    alerts = [{"ts": f"2025-04-2{i}T20:00:00Z", "trade_date": "2025-04-2{i}", "step": "risk", "rule": "kill_switch",
               "key": "", "severity": "warning" if i else "error", "message": f"alert number {i}"} for i in range(3)]
    page = dashboard.render_dashboard(**_inputs(alerts=alerts))
    section = page[page.index('id="alerts"'):]
    assert section.index("alert number 2") < section.index("alert number 0")
    assert '<tr class="error">' in section and '<tr class="warning">' in section


def test_no_alert_says_so(page):
    assert f"no alert up to {AS_OF.isoformat()}" in page


def test_the_same_inputs_give_the_same_page(page):
    assert dashboard.render_dashboard(**_inputs()) == page


def test_the_sector_weights_of_the_risk_snapshot_are_listed(page):
    section = page[page.index('id="sectors"'):page.index("<h2>Charts</h2>")]
    assert "Tech" in section and "unknown" in section  # MSFT has no sector in the map


def test_a_dashboard_can_load_plotly_from_a_file_beside_it_instead_of_embedding_it():
    page = dashboard.render_dashboard(**_inputs(), plotly_src="plotly-6.0.0.min.js")
    assert page.count("<script") == 2 and '<script src="plotly-6.0.0.min.js"></script>' in page
    assert dashboard.plotly_js() not in page and len(page) < 200_000
