"""A year of daily reports stays small: the dashboards share one copy of plotly.js beside them, and
only the newest `report.keep_dashboards` dated dashboards are kept. The year is 252 sessions of a
100-name book, each day's dashboard holding the history up to that day, written the way the report
step writes them."""

from __future__ import annotations

import pandas as pd

from paper_trading.config import ReportConfig
from paper_trading.reporting import dashboard
from paper_trading.steps.report import write_dashboard, write_plotly
from tests.unit import test_dashboard as pages

SESSIONS = 252
BUDGET = 50 * 1024 * 1024


def _year_of_inputs(monkeypatch) -> dict:
    days = [d.date() for d in pd.bdate_range("2025-01-02", periods=SESSIONS)]
    monkeypatch.setattr(pages, "DAYS", days)
    positions = [{"symbol": f"S{i:03d}", "qty": 10.0, "close_price": 100.0, "market_value": 1000.0} for i in range(100)]
    recon = [{"trade_date": days[-1], "key": f"pt-{i}", "kind": "order", "symbol": f"S{i:03d}", "side": "buy",
              "planned_qty": 10.0, "filled_qty": 10.0, "status": "filled", "classification": "filled",
              "ref_price": 99.9, "avg_fill_price": 100.0, "slippage_bps": 5.0, "message": "planned 10, filled 10",
              "alert": False} for i in range(100)]
    return pages._inputs(SESSIONS, positions=positions, recon=recon)


def test_a_year_of_daily_dashboards_stays_under_50_mb(tmp_path, monkeypatch):
    year = _year_of_inputs(monkeypatch)
    keep = ReportConfig().keep_dashboards
    for n in range(1, SESSIONS + 1):
        day = year["pnl"]["date"].iloc[n - 1].date()
        page = dashboard.render_dashboard(**{**year, "as_of": day, "pnl": year["pnl"].iloc[:n],
                                             "daily": year["daily"].iloc[:n]}, plotly_src=write_plotly(tmp_path))
        write_dashboard(tmp_path, day, page, keep=keep)
    files = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert total < BUDGET, f"{total / 1e6:.1f} MB for a year of dashboards"
    assert sum(name.startswith("summary_dashboard_") for name in files) == keep
    assert [name for name in files if name.endswith(".js")] == [dashboard.plotly_file_name()]


def test_every_dashboard_loads_the_shared_plotly_beside_it_and_none_embeds_it(tmp_path, monkeypatch):
    year = _year_of_inputs(monkeypatch)
    page = dashboard.render_dashboard(**year, plotly_src=write_plotly(tmp_path))
    assert f'<script src="{dashboard.plotly_file_name()}"></script>' in page
    assert dashboard.plotly_js() not in page
    assert (tmp_path / dashboard.plotly_file_name()).read_text() == dashboard.plotly_js()
