"""M6 against the simulator: a traded day and a quiet one reconciled, then the report: the daily P&L
table, the risk snapshot and the metrics, with equity equal to the ledger's."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from paper_trading import steps
from paper_trading.ledger import Ledger, ledger_url
from paper_trading.reporting import dashboard
from tests.e2e.test_reconcile import DAY, fast, trade  # noqa: F401 - the fixture

NEXT = dt.date(2026, 1, 2)
STANDARD = ["annual_return", "annual_volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown", "calmar_ratio",
            "alpha", "beta", "tail_ratio", "cum_returns_final", "excess_sharpe"]


@pytest.fixture
def reconciled(fast, sim, broker):
    trade(fast, broker)
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T21:30:00Z"})
    steps.reconcile_books(DAY, root=fast, broker=broker)
    sim.admin("POST", "/sim/clock", {"to": "2026-01-02T21:30:00Z"})
    steps.reconcile_books(NEXT, root=fast, broker=broker)
    return fast


def test_the_report_of_two_reconciled_days(reconciled, broker):
    summary = steps.write_report(NEXT, root=reconciled, broker=broker)
    reports = reconciled / "data" / "reports"
    pnl = pd.read_csv(reports / "pnl_daily_20260102.csv")
    assert {"date", "equity", "daily_return", "benchmark_close", "benchmark_return", "cumulative_return",
            "drawdown"} <= set(pnl.columns)
    assert pnl["date"].tolist() == [DAY.isoformat(), NEXT.isoformat()]
    with Ledger(ledger_url(reconciled)) as book:
        ledger_equity = {r["trade_date"].isoformat(): r["equity"] for r in book.table("equity_daily")}
        held = book.table("positions_eod", trade_date=NEXT)
    assert dict(zip(pnl["date"], pnl["equity"])) == pytest.approx(ledger_equity, abs=1e-6)
    assert pnl["benchmark_close"].iloc[0] == pytest.approx(654.39)  # the sample bars' SPY close of the day
    assert pd.isna(pnl["daily_return"].iloc[0])
    assert pnl["daily_return"].iloc[1] == pytest.approx(pnl["equity"].iloc[1] / pnl["equity"].iloc[0] - 1)

    metrics = json.loads((reports / "metrics_20260102.json").read_text())
    assert set(STANDARD) <= set(metrics) and "reasons" in metrics
    assert {"hit_rate", "turnover_day", "slippage_bps_total", "fill_rate_total", "fees_total"} <= set(metrics["trading"])
    assert {"hhi", "cash_pct", "gross_exposure", "top_weights", "sector_weights"} <= set(metrics["risk"])
    for key in STANDARD:  # one return: the volatility-based figures are undefined, each with its reason
        assert metrics[key] is None or isinstance(metrics[key], float)
        if metrics[key] is None:
            assert key in metrics["reasons"]
    assert metrics["sharpe_ratio"] is None and "at least 2 daily returns" in metrics["reasons"]["sharpe_ratio"]
    assert metrics["cum_returns_final"] == pytest.approx(pnl["cumulative_return"].iloc[-1], abs=1e-9)
    assert metrics["trading"]["fill_rate_total"] == pytest.approx(1.0)
    assert "Infinity" not in (reports / "metrics_20260102.json").read_text()

    risk = pd.read_csv(reports / "risk_snapshot_20260102.csv")
    positions = risk[risk["kind"] == "position"]
    assert set(positions["name"]) == {p["symbol"] for p in held}
    assert (positions["sector"] != "unknown").all()
    total = risk.loc[risk["kind"].isin(["position", "cash"]), "weight"].sum()
    assert total == pytest.approx(1.0, abs=1e-6)
    assert summary["sessions"] == 2


def test_one_session_gives_nulls_with_reasons(fast, sim, broker):
    trade(fast, broker)
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T21:30:00Z"})
    steps.reconcile_books(DAY, root=fast, broker=broker)
    steps.write_report(DAY, root=fast, broker=broker)
    metrics = json.loads((fast / "data" / "reports" / "metrics_20251231.json").read_text())
    for key in STANDARD:
        assert metrics[key] is None and metrics["reasons"][key]


def test_the_cli_writes_the_report(reconciled, sim, monkeypatch):
    from paper_trading.cli import main

    monkeypatch.setenv("APCA_API_KEY_ID", sim.key)
    monkeypatch.setenv("APCA_API_SECRET_KEY", sim.secret)
    monkeypatch.setenv("APCA_API_BASE_URL", sim.url)
    monkeypatch.setenv("APCA_API_DATA_URL", sim.url)
    assert main(["report", "--date", "2026-01-02", "--root", str(reconciled)]) == 0
    assert (reconciled / "data" / "reports" / "metrics_20260102.json").is_file()


def test_a_date_before_any_reconciled_session_is_refused(fast, broker):
    from paper_trading.errors import InputError

    with pytest.raises(InputError, match="no reconciled session"):
        steps.write_report(DAY, root=fast, broker=broker)


def _reports(project):
    return project / "data" / "reports"


def test_the_report_writes_the_dated_and_the_latest_dashboard(reconciled, broker):
    summary = steps.write_report(NEXT, root=reconciled, broker=broker)
    dated = _reports(reconciled) / "summary_dashboard_20260102.html"
    latest = _reports(reconciled) / "summary_dashboard.html"
    assert summary["dashboard_path"] == str(dated) and summary["dashboard_latest_path"] == str(latest)
    page = dated.read_text(encoding="utf-8")
    assert latest.read_text(encoding="utf-8") == page
    assert all(f'id="chart-{name}"' in page for name in dashboard.CHARTS)
    assert '<tr data-key="sharpe_ratio">' in page and "Reconciliation of 2026-01-02" in page
    assert not list(_reports(reconciled).glob(".*.tmp"))


def test_the_dashboard_compares_the_weights_with_the_days_targets(reconciled, broker):
    steps.write_report(DAY, root=reconciled, broker=broker)
    page = (_reports(reconciled) / "summary_dashboard_20251231.html").read_text(encoding="utf-8")
    weights = _figures(page)["weights"]
    assert [t["name"] for t in weights["data"]] == ["weight", "target"]
    assert sum(weights["data"][1]["y"]) == pytest.approx(0.98, abs=1e-6)  # the targets, less the 2 % cash buffer
    assert "annotations" not in weights["layout"]


def test_a_day_without_targets_says_so_on_the_weights_chart(reconciled, broker):
    steps.write_report(NEXT, root=reconciled, broker=broker)  # M1 ran for DAY only
    page = (_reports(reconciled) / "summary_dashboard_20260102.html").read_text(encoding="utf-8")
    note = _figures(page)["weights"]["layout"]["annotations"][0]["text"]
    assert "no targets" in note and "targets_consolidated_20260102.parquet" in note


def test_re_running_an_older_date_keeps_the_latest(reconciled, broker):
    steps.write_report(NEXT, root=reconciled, broker=broker)
    newest = (_reports(reconciled) / "summary_dashboard.html").read_bytes()
    summary = steps.write_report(DAY, root=reconciled, broker=broker)
    assert (_reports(reconciled) / "summary_dashboard_20251231.html").is_file()
    assert (_reports(reconciled) / "summary_dashboard.html").read_bytes() == newest
    assert summary["dashboard_latest_updated"] is False


def test_re_running_the_newest_date_replaces_the_latest(reconciled, broker):
    steps.write_report(DAY, root=reconciled, broker=broker)
    steps.write_report(NEXT, root=reconciled, broker=broker)
    latest = (_reports(reconciled) / "summary_dashboard.html").read_text(encoding="utf-8")
    assert "paper-trading — 2026-01-02" in latest
    assert steps.write_report(NEXT, root=reconciled, broker=broker)["dashboard_latest_updated"] is True


def test_recent_alerts_up_to_the_date_are_on_the_dashboard(reconciled, broker):
    lines = [{"ts": "2025-12-31T15:00:00Z", "trade_date": DAY.isoformat(), "run_id": "r1", "step": "risk",
              "rule": "trading_refused", "key": "", "severity": "error", "message": "the <kill switch> is on"},
             {"ts": "2026-01-02T15:00:00Z", "trade_date": NEXT.isoformat(), "run_id": "r2", "step": "risk",
              "rule": "trading_refused", "key": "", "severity": "error", "message": "an alert of the next day"}]
    with open(reconciled / "logs" / "alerts.log", "a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(line) + "\n" for line in lines)
    steps.write_report(DAY, root=reconciled, broker=broker)
    page = (_reports(reconciled) / "summary_dashboard_20251231.html").read_text(encoding="utf-8")
    assert "the &lt;kill switch&gt; is on" in page and "an alert of the next day" not in page


def test_a_dry_run_day_has_a_dashboard(fast, sim, broker):
    steps.consolidate_signals(DAY, root=fast, mode="select", pick="drl")
    steps.plan_rebalance(DAY, root=fast, broker=broker)
    steps.check_risk(DAY, mode="dry", root=fast, broker=broker)
    steps.execute_orders(DAY, mode="dry", root=fast, broker=broker)
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T21:30:00Z"})
    steps.reconcile_books(DAY, root=fast, broker=broker, mode="dry")
    steps.write_report(DAY, root=fast, broker=broker)
    page = (_reports(fast) / "summary_dashboard.html").read_text(encoding="utf-8")
    figures = _figures(page)
    assert list(figures) == list(dashboard.CHARTS)
    assert figures["turnover"]["data"] == [] and "no trade" in figures["turnover"]["layout"]["annotations"][0]["text"]
    assert figures["weights"]["data"]  # nothing held, but the day's targets are there


def _figures(page: str) -> dict:
    import re

    return json.loads(re.search(r"var FIGURES=(.*?);Object\.keys", page, re.S).group(1))


def test_a_date_that_is_not_reconciled_is_refused_and_the_latest_dashboard_stays(reconciled, broker):
    from paper_trading.errors import InputError

    steps.write_report(NEXT, root=reconciled, broker=broker)
    reports = reconciled / "data" / "reports"
    before = sorted(p.name for p in reports.iterdir())
    with pytest.raises(InputError, match=r"2026-12-31 is not reconciled \(the latest reconciled session is 2026-01-02\)"):
        steps.write_report(dt.date(2026, 12, 31), root=reconciled, broker=broker)
    assert sorted(p.name for p in reports.iterdir()) == before


def test_the_benchmark_comes_from_a_configured_file_of_daily_closes(reconciled):
    """The spec (M6 input: "SPY from Alpaca or an external file"): report.benchmark_file. No broker
    is asked: the report runs with none."""
    (reconciled / "data" / "market").mkdir(parents=True, exist_ok=True)
    (reconciled / "data" / "market" / "bench.csv").write_text(
        "date,close\n2025-12-30,100\n2025-12-31,101\n2026-01-02,99.99\n")
    config = reconciled / "config" / "config.yaml"
    config.write_text(config.read_text() + "report:\n  benchmark: QQQ\n  benchmark_file: data/market/bench.csv\n")
    steps.write_report(NEXT, root=reconciled, broker=lambda: pytest.fail("the broker was asked"))
    reports = reconciled / "data" / "reports"
    pnl = pd.read_csv(reports / "pnl_daily_20260102.csv")
    assert pnl["benchmark_close"].tolist() == [101, 99.99]
    assert pnl["benchmark_return"].iloc[1] == pytest.approx(99.99 / 101 - 1)
    metrics = json.loads((reports / "metrics_20260102.json").read_text())
    assert (metrics["benchmark"], metrics["benchmark_source"]) == ("QQQ", "the file data/market/bench.csv")


@pytest.mark.parametrize("text, message", [
    ("day,close\n2025-12-31,1\n", "data/market/bench.csv: missing column(s) date"),
    ("date,close\n31/12/2025,1\n", "data/market/bench.csv row 2: date expected YYYY-MM-DD, got '31/12/2025'"),
    ("date,close\n2025-12-31,-1\n", "data/market/bench.csv row 2: close expected a finite number > 0, got '-1'"),
    ("date,close\n2025-12-31,1\n2025-12-31,2\n", "data/market/bench.csv row 3: date '2025-12-31' appears twice"),
    ("symbol,date,close\nQQQ,2025-12-31,1\n", "data/market/bench.csv: no SPY closes; expected date,close rows"),
])
def test_a_bad_benchmark_file_is_one_line_naming_file_and_row(reconciled, text, message):
    from paper_trading.errors import InputError

    (reconciled / "data" / "market").mkdir(parents=True, exist_ok=True)
    (reconciled / "data" / "market" / "bench.csv").write_text(text)
    config = reconciled / "config" / "config.yaml"
    config.write_text(config.read_text() + "report:\n  benchmark_file: data/market/bench.csv\n")
    with pytest.raises(InputError) as err:
        steps.write_report(NEXT, root=reconciled)
    assert str(err.value).startswith(message)
    assert not (reconciled / "data" / "reports" / "metrics_20260102.json").exists()


def test_concentration_by_style_when_the_instrument_map_has_a_style_column(reconciled, broker):
    """The spec's M6 concentration (行业/风格): sector weights always, style weights when the map says."""
    imap = reconciled / "data" / "mapping" / "instrument_map.csv"
    frame = pd.read_csv(imap, dtype=str)
    frame["style"] = ["growth" if i % 2 else "value" for i in range(len(frame))]
    frame.to_csv(imap, index=False)
    steps.write_report(NEXT, root=reconciled, broker=broker)
    reports = reconciled / "data" / "reports"
    risk = pd.read_csv(reports / "risk_snapshot_20260102.csv")
    styles = risk[risk["kind"] == "style"].set_index("name")["market_value"]
    held = risk[risk["kind"] == "position"].set_index("name")["market_value"]
    style_of = dict(zip(frame["symbol"], frame["style"]))
    assert styles.to_dict() == pytest.approx(held.groupby(held.index.map(style_of)).sum().to_dict())
    metrics = json.loads((reports / "metrics_20260102.json").read_text())
    assert set(metrics["risk"]["style_weights"]) == set(styles.index)
    assert 'id="styles"' in (reports / "summary_dashboard_20260102.html").read_text()


def test_without_a_style_column_there_are_no_style_rows(reconciled, broker):
    steps.write_report(NEXT, root=reconciled, broker=broker)
    risk = pd.read_csv(reconciled / "data" / "reports" / "risk_snapshot_20260102.csv")
    assert "style" not in set(risk["kind"])
