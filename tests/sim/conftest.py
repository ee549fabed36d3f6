"""alpaca-py clients on the simulator (the `sim` fixture of tests/conftest.py).

Every response any test receives through alpaca-py is recorded and validated against Alpaca's
OpenAPI specs when the test ends, so conformance is checked on all the traffic, not a sample.
"""

from __future__ import annotations

import pytest
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.trading.client import TradingClient

from .openapi_check import SpecValidator


@pytest.fixture(scope="session")
def spec_validator() -> SpecValidator:
    return SpecValidator()


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
