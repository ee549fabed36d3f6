"""One simulator process per test session (real HTTP on 127.0.0.1), reset before every test.

Every response any test receives through alpaca-py is recorded and validated against Alpaca's
OpenAPI specs when the test ends, so conformance is checked on all the traffic, not a sample.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from alpaca_sim.server import SimServer

from .openapi_check import SpecValidator

REPO = Path(__file__).resolve().parents[2]
BARS = REPO / "data" / "market" / "daily_bars.csv"
#: Tuesday 2025-12-30, 10:00 in New York: the market is open.
OPEN_CLOCK = "2025-12-30T15:00:00Z"
DEFAULT_SETTINGS = {"spread_bps": 2.0, "partial_fill_probability": 0.0, "market_buy_collar": 0.025, "seed": 0,
                    "rate_limit_per_minute": 100000}


@pytest.fixture(scope="session")
def sim_server(tmp_path_factory):
    server = SimServer(tmp_path_factory.mktemp("sim") / "sim.db", bars=BARS, clock=OPEN_CLOCK)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spec_validator() -> SpecValidator:
    return SpecValidator()


@pytest.fixture
def sim(sim_server):
    """The simulator, reset: $100,000 cash, no orders, the clock at OPEN_CLOCK, default settings."""
    sim_server.admin("POST", "/sim/reset", {"cash": "100000", "clock": OPEN_CLOCK})
    sim_server.admin("POST", "/sim/config", DEFAULT_SETTINGS)
    return sim_server


@pytest.fixture
def recorded(spec_validator):
    """Responses seen by the test's clients; validated against the specs at teardown."""
    responses = []
    yield responses
    problems = []
    for r in responses:
        if len(r.content) < int(r.headers.get("content-length") or 0):
            continue  # a deliberately dropped connection: there is no body to judge
        body = r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else None
        if body is None and r.status_code >= 400:
            continue  # a deliberately non-JSON fault body
        path = r.request.path_url.split("?")[0]
        problems += spec_validator.validate(r.request.method, path, r.status_code, body)
    assert not problems, "\n".join(problems[:20])


def _record(client, recorded):
    client._session.hooks["response"].append(lambda r, *args, **kwargs: recorded.append(r))
    client._retry_wait = 0.01
    return client


@pytest.fixture
def trading(sim, recorded) -> TradingClient:
    return _record(TradingClient(sim.key, sim.secret, paper=True, url_override=sim.url), recorded)


@pytest.fixture
def data(sim, recorded) -> StockHistoricalDataClient:
    return _record(StockHistoricalDataClient(sim.key, sim.secret, url_override=sim.url), recorded)
