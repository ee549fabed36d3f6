"""The dashboard in a real browser: headless Chromium opens the report step's real output, from the
file and through a real `airflow api-server` with the portfolio plugin, and every chart must have
rendered with no script error. Screenshots go to the test's tmp dir, and to
`$PAPER_TRADING_SCREENSHOTS` when set (`PAPER_TRADING_SCREENSHOTS=docs/img` refreshes the README's)."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from pathlib import Path

import pytest
import requests

from tests.browser.conftest import airflow_api_server
from tests.conftest import REPO, SIM_SETTINGS

pytestmark = pytest.mark.browser

CHARTS_JS = """() => {
  const charts = document.querySelectorAll('.chart');
  const drawn = [...document.querySelectorAll('.js-plotly-plot')].filter(div => div.querySelector('svg.main-svg'));
  return {charts: charts.length, drawn: drawn.length, ids: drawn.map(div => div.id)};
}"""


#: Two rebalances (a fresh account, then another strategy's weights) and every session reconciled
#: through the last day of the sample bars: a dashboard with history, turnover and a benchmark.
TRADES = {dt.date(2025, 12, 15): "drl", dt.date(2025, 12, 22): "ml"}
REPORT_DATE = dt.date(2025, 12, 31)


def _sessions(first: dt.date, last: dt.date) -> list[dt.date]:
    """The sample bars' sessions between two dates (SPY trades on every one)."""
    import pandas as pd

    bars = pd.read_csv(REPO / "data" / "market" / "daily_bars.csv", usecols=["symbol", "date"])
    days = sorted({dt.date.fromisoformat(d) for d in bars.loc[bars["symbol"] == "SPY", "date"]})
    return [d for d in days if first <= d <= last]


@pytest.fixture(scope="module")
def project(tmp_path_factory, sim_server) -> Path:
    """A project traded twice and reconciled on every session up to REPORT_DATE, then the real report
    step: the dashboards the browser opens are the report step's own output."""
    from paper_trading import steps
    from paper_trading.broker.alpaca import AlpacaBroker
    from paper_trading.errors import OutcomeUnknown

    root = tmp_path_factory.mktemp("browser") / "project"
    for part in ("config", "data/raw_signals", "data/mapping"):
        shutil.copytree(REPO / part, root / part)
    config = root / "config" / "config.yaml"
    config.write_text(config.read_text().replace("poll_interval_s: 1", "poll_interval_s: 0.05")
                      .replace("sell_timeout_s: 120", "sell_timeout_s: 1").replace("buy_timeout_s: 120", "buy_timeout_s: 1"))
    first = min(TRADES)
    sim_server.admin("POST", "/sim/reset", {"cash": "100000", "clock": f"{first}T14:45:00Z"})
    sim_server.admin("POST", "/sim/config", SIM_SETTINGS)
    broker = AlpacaBroker(sim_server.key, sim_server.secret, sim_server.url, sim_server.url, timeout=2.0,
                          backoff_seconds=0.01, requests_per_minute=100_000)
    for day in _sessions(first, REPORT_DATE):
        if day in TRADES:
            sim_server.admin("POST", "/sim/clock", {"to": f"{day}T14:45:00Z"})  # 09:45 in New York
            steps.consolidate_signals(day, root=root, mode="select", pick=TRADES[day])
            steps.plan_rebalance(day, root=root, broker=broker)
            steps.check_risk(day, mode="real", root=root, broker=broker)
            with contextlib.suppress(OutcomeUnknown):  # orders still open at the end of the run: reconciled later
                steps.execute_orders(day, mode="real", root=root, broker=broker)
        sim_server.admin("POST", "/sim/clock", {"to": f"{day}T21:30:00Z"})  # after the close
        steps.reconcile_books(day, root=root, broker=broker)
    steps.consolidate_signals(REPORT_DATE, root=root, mode="select", pick="ml")  # the day's targets, for the weights chart
    summary = steps.write_report(REPORT_DATE, root=root, broker=broker)
    assert Path(summary["dashboard_path"]).name == f"summary_dashboard_{REPORT_DATE:%Y%m%d}.html"
    return root


@pytest.fixture(scope="module")
def airflow_server(project, tmp_path_factory):
    """`airflow api-server` on a free loopback port (conftest.airflow_api_server: a throw-away
    AIRFLOW_HOME, this repository's plugins, one admin whose password is in a file) with
    PAPER_TRADING_ROOT at the test project. Yields (base URL, username, password)."""
    with airflow_api_server(tmp_path_factory.mktemp("airflow-home"), {"PAPER_TRADING_ROOT": str(project)}) as server:
        yield server


def _watch(page) -> list[str]:
    """Collect the page's script errors and console errors (with the URL they came from)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console {msg.type} at {msg.location.get('url')}: {msg.text}")
            if msg.type == "error" else None)
    return errors


def _assert_every_chart_drawn(frame) -> dict:
    """Wait until plotly has drawn an SVG in every `.chart` div, then return the counts."""
    frame.wait_for_function(f"() => {{ const c = ({CHARTS_JS})(); return c.charts > 0 && c.drawn === c.charts; }}",
                            timeout=30_000)
    counts = frame.evaluate(CHARTS_JS)
    assert counts["drawn"] == counts["charts"] > 0, counts
    return counts


def test_the_dashboard_file_renders_every_chart(browser, project, keep_screenshot):
    dashboard = project / "data" / "reports" / "summary_dashboard.html"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors = _watch(page)
    page.goto(dashboard.as_uri(), wait_until="load")
    counts = _assert_every_chart_drawn(page)
    from paper_trading.reporting import dashboard as dashboard_module

    assert counts["ids"] == [f"chart-{name}" for name in dashboard_module.CHARTS]
    assert errors == []
    keep_screenshot(page, "dashboard.png", full_page=True)
    context.close()


def test_the_portfolio_page_inside_airflow(browser, project, airflow_server, keep_screenshot):
    base, user, password = airflow_server
    token = requests.post(f"{base}/auth/token", json={"username": user, "password": password}, timeout=10)
    assert token.status_code == 201, token.text
    jwt = token.json()["access_token"]
    bearer = {"Authorization": f"Bearer {jwt}"}

    plugins = requests.get(f"{base}/api/v2/plugins", headers=bearer, timeout=10).json()["plugins"]
    views = [v for p in plugins for v in p["external_views"]]
    assert {"name": "Portfolio", "href": "/portfolio/", "destination": "nav", "url_route": "portfolio"}.items() \
        <= next(v for v in views if v["name"] == "Portfolio").items()
    assert requests.get(f"{base}/portfolio/reports/", timeout=10).status_code == 401
    listing = requests.get(f"{base}/portfolio/reports/", headers=bearer, timeout=10)
    assert listing.status_code == 200 and 'href="summary_dashboard_20251231.html"' in listing.text
    csv = requests.get(f"{base}/portfolio/reports/pnl_daily_20251231.csv", headers=bearer, timeout=10)
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert requests.get(f"{base}/portfolio/reports/..%2fledger.sqlite", headers=bearer, timeout=10).status_code == 404

    # The browser logged in as the UI's login leaves it: the JWT in the httponly `_token` cookie.
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_cookies([{"name": "_token", "value": jwt, "url": base, "httpOnly": True}])
    page = context.new_page()
    errors = _watch(page)
    page.goto(f"{base}/plugin/portfolio", wait_until="load")
    nav = page.get_by_role("link", name="Portfolio")
    nav.first.wait_for(state="visible", timeout=30_000)
    iframe = page.locator("iframe[title='Portfolio']")
    iframe.wait_for(state="attached", timeout=30_000)
    frame = iframe.element_handle().content_frame()
    frame.wait_for_url("**/portfolio/", timeout=30_000)  # the page with the live/replay switch
    frame.get_by_role("link", name="Live books").wait_for(timeout=30_000)
    dashboard = frame.locator("iframe#dashboard").element_handle(timeout=30_000).content_frame()
    dashboard.wait_for_url("**/portfolio/reports/summary_dashboard.html", timeout=30_000)
    _assert_every_chart_drawn(dashboard)
    assert [e for e in errors if "/portfolio/" in e or e.startswith("pageerror")] == [], errors
    page.wait_for_timeout(500)  # let the UI settle its layout before the picture
    keep_screenshot(page, "airflow_portfolio.png")

    # The report task's "Portfolio dashboard" link: the UI's Portfolio page at #<dated dashboard>.
    page.goto(f"{base}/plugin/portfolio#summary_dashboard_20251231.html", wait_until="load")
    frame = page.locator("iframe[title='Portfolio']").element_handle(timeout=30_000).content_frame()
    frame.wait_for_url("**/portfolio/?view=live&report=summary_dashboard_20251231.html", timeout=30_000)
    dated = frame.locator("iframe#dashboard").element_handle(timeout=30_000).content_frame()
    dated.wait_for_url("**/portfolio/reports/summary_dashboard_20251231.html", timeout=30_000)
    assert "/plugin/portfolio" in page.url  # still inside Airflow's UI

    # The UI mirrors the iframe's page in its own URL, so a page of the plugin can be linked inside the UI.
    page.goto(f"{base}/plugin/portfolio/portfolio/reports/", wait_until="load")
    frame = page.locator("iframe[title='Portfolio']").element_handle(timeout=30_000).content_frame()
    frame.wait_for_url("**/portfolio/reports/", timeout=30_000)
    frame.get_by_role("link", name="summary_dashboard_20251231.html").wait_for(timeout=30_000)
    assert [e for e in errors if "/portfolio/" in e or e.startswith("pageerror")] == [], errors
    context.close()


BAR_WIDTHS_JS = """(chart) => [...document.querySelectorAll('#chart-' + chart + ' .bars path')]
    .map(p => p.getBoundingClientRect().width)"""


def test_a_dashboard_of_one_session_draws_every_chart_and_its_lone_turnover_bar(browser, tmp_path):
    """After the first session: the empty charts say why, and the one day of turnover is a visible
    bar (plotly.js gives a lone bar on a date axis no width unless told one)."""
    from paper_trading.reporting import dashboard as dashboard_module
    from paper_trading.steps.report import write_plotly
    from tests.unit.test_dashboard import _inputs

    inputs = _inputs(1)
    inputs["daily"] = inputs["daily"].assign(traded_notional=94_300.0, turnover=0.943)  # the first day's buys
    page_html = dashboard_module.render_dashboard(**inputs, plotly_src=write_plotly(tmp_path))
    path = tmp_path / "summary_dashboard.html"
    path.write_text(page_html, encoding="utf-8")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors = _watch(page)
    page.goto(path.as_uri(), wait_until="load")
    _assert_every_chart_drawn(page)
    widths = page.evaluate(BAR_WIDTHS_JS, "turnover")
    assert len(widths) == 1 and widths[0] > 5, widths
    assert "one session so far" in page.locator("#chart-equity").inner_text()
    assert errors == [], errors
    context.close()
