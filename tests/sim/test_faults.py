"""Faults on demand: error statuses with every body shape, latency, hangs, ambiguous submits, and
the rate limit — the failures a client of Alpaca has to survive."""

from __future__ import annotations

import time

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, MarketOrderRequest


def order(cid: str) -> MarketOrderRequest:
    return MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
                              client_order_id=cid)


@pytest.mark.parametrize("status", [429, 500, 503, 504])
@pytest.mark.parametrize("body", ["json", "text", "empty"])
def test_error_statuses_with_each_body_shape(trading, sim, status, body):
    sim.admin("POST", "/sim/faults", {"kind": "error", "method": "GET", "path": "/v2/account", "status": status,
                                      "body": body, "times": 1})
    trading._retry = 0
    with pytest.raises(APIError) as err:
        trading.get_account()
    assert err.value.status_code == status
    if body == "json":
        assert err.value.code // 100000 == status
    elif body == "text":
        assert str(err.value) == f"{status} simulated failure"
    else:
        assert str(err.value) == ""
    assert trading.get_account().cash == "100000"  # `times: 1` — the next call goes through


def test_alpaca_py_retries_429_and_504_by_itself(trading, sim):
    sim.admin("POST", "/sim/faults", {"kind": "error", "path": "/v2/clock", "status": 504, "times": 2})
    assert trading.get_clock().is_open  # two 504s, then success, with alpaca-py's own retries
    assert [r["fired"] for r in sim.admin("GET", "/sim/faults").json()] == [2]


def test_latency_is_added(trading, sim):
    sim.admin("POST", "/sim/faults", {"kind": "latency", "path": "/v2/clock", "seconds": 0.3, "times": 1})
    start = time.monotonic()
    trading.get_clock()
    assert time.monotonic() - start >= 0.3


def test_a_hang_outlasts_the_clients_timeout(sim):
    sim.admin("POST", "/sim/faults", {"kind": "hang", "path": "/v2/account", "seconds": 3, "times": 1})
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{sim.url}/v2/account", headers=sim.headers, timeout=0.5)


@pytest.mark.parametrize("status", [504, 500])
def test_ambiguous_submit_stores_the_order_then_fails(trading, sim, status):
    sim.admin("POST", "/sim/faults", {"kind": "ambiguous", "method": "POST", "path": "/v2/orders",
                                      "status": status, "times": 1})
    trading._retry = 0
    with pytest.raises(APIError) as err:
        trading.submit_order(order("pt-amb-1"))
    assert err.value.status_code == status
    assert trading.get_order_by_client_id("pt-amb-1").symbol == "AAPL"  # it was accepted all the same


def test_ambiguous_submit_with_a_dropped_connection(trading, sim):
    sim.admin("POST", "/sim/faults", {"kind": "ambiguous", "method": "POST", "path": "/v2/orders", "drop": True,
                                      "times": 1})
    with pytest.raises(requests.exceptions.RequestException):
        trading.submit_order(order("pt-amb-2"))
    assert trading.get_order_by_client_id("pt-amb-2").symbol == "AAPL"


def test_blind_resubmission_after_an_ambiguous_504_is_a_duplicate(trading, sim):
    """What alpaca-py's default POST retry on 504 does with a fixed client_order_id."""
    sim.admin("POST", "/sim/faults", {"kind": "ambiguous", "method": "POST", "path": "/v2/orders", "status": 504,
                                      "times": 1})
    with pytest.raises(APIError) as err:
        trading.submit_order(order("pt-amb-3"))
    assert err.value.status_code == 422 and err.value.message == "client_order_id must be unique"
    assert len(trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))) == 1


def test_faults_with_a_probability_are_repeatable_with_a_seed(trading, sim):
    def pattern():
        sim.admin("DELETE", "/sim/faults")
        sim.admin("POST", "/sim/faults", {"kind": "error", "path": "/v2/clock", "status": 500,
                                          "probability": 0.5, "seed": 42})
        trading._retry = 0
        outcome = []
        for _ in range(12):
            try:
                trading.get_clock()
                outcome.append("ok")
            except APIError:
                outcome.append("500")
        return outcome

    first = pattern()
    assert "ok" in first and "500" in first
    assert pattern() == first


def test_rate_limit_headers_and_429(sim):
    sim.admin("POST", "/sim/config", {"rate_limit_per_minute": 3})
    responses = [requests.get(f"{sim.url}/v2/clock", headers=sim.headers, timeout=5) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[0].headers["X-RateLimit-Limit"] == "3"
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert int(responses[3].headers["X-RateLimit-Reset"]) >= int(time.time())
    assert responses[3].json() == {"code": 42910000, "message": "rate limit exceeded"}


def test_missing_or_wrong_keys(sim):
    assert requests.get(f"{sim.url}/v2/account", timeout=5).status_code == 401
    wrong = {"APCA-API-KEY-ID": sim.key, "APCA-API-SECRET-KEY": "wrong"}
    assert requests.get(f"{sim.url}/v2/account", headers=wrong, timeout=5).status_code == 403
    assert requests.get(f"{sim.url}/sim/health", headers=wrong, timeout=5).status_code == 403
