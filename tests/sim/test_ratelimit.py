"""Alpaca's rate limits, one bucket each for the Trading API and the Market Data API (notes §3), with
their own X-RateLimit-* headers and 429s; /sim admin requests count against neither."""

from __future__ import annotations

import time

import pytest
import requests


@pytest.fixture
def limits(sim):
    """Small limits for this test; the data bucket goes back to following the trading one after."""
    def set_limits(trading: int, data: int):
        sim.admin("POST", "/sim/config", {"rate_limit_per_minute": trading, "data_rate_limit_per_minute": data})

    yield set_limits
    sim.admin("POST", "/sim/config", {"data_rate_limit_per_minute": None})


def get(sim, path, **params):
    return requests.get(f"{sim.url}{path}", headers=sim.headers, params=params, timeout=5)


def test_trading_and_data_requests_count_in_separate_buckets(sim, limits):
    limits(trading=2, data=3)
    trading = [get(sim, "/v2/clock") for _ in range(3)]
    data = [get(sim, "/v2/stocks/trades/latest", symbols="AAPL") for _ in range(4)]
    assert [r.status_code for r in trading] == [200, 200, 429]
    assert [r.status_code for r in data] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Limit"] for r in trading + data] == ["2"] * 3 + ["3"] * 4
    assert [r.headers["X-RateLimit-Remaining"] for r in data] == ["2", "1", "0", "0"]


def test_429_body_and_reset_header_as_a_unix_epoch_without_retry_after(sim, limits):
    limits(trading=1, data=1)
    before = time.time()
    for path in ("/v2/account", "/v2/stocks/snapshots"):
        get(sim, path, symbols="AAPL")
        refused = get(sim, path, symbols="AAPL")
        after = time.time()
        assert refused.status_code == 429
        assert refused.json() == {"code": 42910000, "message": "rate limit exceeded"}
        assert before < int(refused.headers["X-RateLimit-Reset"]) <= after + 61
        assert "Retry-After" not in refused.headers


def test_sim_admin_requests_count_against_neither_bucket(sim, limits):
    limits(trading=1, data=1)
    for _ in range(3):
        assert sim.admin("GET", "/sim/health").status_code == 200
    assert get(sim, "/v2/clock").headers["X-RateLimit-Remaining"] == "0"
    assert get(sim, "/v2/stocks/trades/latest", symbols="AAPL").status_code == 200


def test_data_limit_follows_the_trading_limit_unless_set(sim):
    sim.admin("POST", "/sim/config", {"rate_limit_per_minute": 7})
    assert sim.admin("GET", "/sim/config").json()["data_rate_limit_per_minute"] is None
    assert get(sim, "/v2/stocks/trades/latest", symbols="AAPL").headers["X-RateLimit-Limit"] == "7"
