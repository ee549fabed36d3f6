"""M6 against the simulator: a traded day and a quiet one reconciled, then the report: the daily P&L
table, the risk snapshot and the metrics, with equity equal to the ledger's."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from paper_trading import steps
from paper_trading.ledger import Ledger, ledger_url
from tests.e2e.test_reconcile import DAY, fast, trade  # noqa: F401 - the fixture

NEXT = dt.date(2026, 1, 2)
STANDARD = ["annual_return", "annual_volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown", "calmar_ratio",
            "alpha", "beta", "tail_ratio", "cum_returns_final", "excess_sharpe"]


@pytest.fixture
def reconciled(fast, sim, broker):  # noqa: F811
    trade(fast, broker)
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T21:30:00Z"})
    steps.reconcile(DAY, root=fast, broker=broker)
    sim.admin("POST", "/sim/clock", {"to": "2026-01-02T21:30:00Z"})
    steps.reconcile(NEXT, root=fast, broker=broker)
    return fast


def test_the_report_of_two_reconciled_days(reconciled, broker):
    summary = steps.report(NEXT, root=reconciled, broker=broker)
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


def test_one_session_gives_nulls_with_reasons(fast, sim, broker):  # noqa: F811
    trade(fast, broker)
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T21:30:00Z"})
    steps.reconcile(DAY, root=fast, broker=broker)
    steps.report(DAY, root=fast, broker=broker)
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


def test_a_date_before_any_reconciled_session_is_refused(fast, broker):  # noqa: F811
    from paper_trading.errors import InputError

    with pytest.raises(InputError, match="no reconciled session"):
        steps.report(DAY, root=fast, broker=broker)
