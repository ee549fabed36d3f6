"""The trade_updates stream at /stream: Alpaca's handshake, one message per order change, a fill
with its price and quantity, and nothing of a request that was refused."""

from __future__ import annotations

import json

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect


def ws_url(sim) -> str:
    return sim.url.replace("http://", "ws://") + "/stream"


@pytest.fixture
def stream(sim):
    with connect(ws_url(sim), open_timeout=5) as ws:
        ws.send(json.dumps({"action": "auth", "key": sim.key, "secret": sim.secret}))
        assert json.loads(ws.recv(timeout=5))["data"]["status"] == "authorized"
        ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert json.loads(ws.recv(timeout=5)) == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
        yield ws


def updates(ws, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        frame = ws.recv(timeout=5)
        assert isinstance(frame, bytes)  # binary frames, as the paper endpoint sends
        message = json.loads(frame)
        assert message["stream"] == "trade_updates"
        out.append(message["data"])
    return out


def submit(sim, **order):
    body = {"symbol": "AAPL", "qty": "3", "side": "buy", "type": "market", "time_in_force": "day", **order}
    return requests.post(f"{sim.url}/v2/orders", headers=sim.headers, json=body, timeout=5)


def test_wrong_keys_are_told_unauthorized_and_disconnected(sim):
    with connect(ws_url(sim), open_timeout=5) as ws:
        ws.send(json.dumps({"action": "authenticate", "data": {"key_id": sim.key, "secret_key": "wrong"}}))
        assert json.loads(ws.recv(timeout=5))["data"] == {"action": "authenticate", "status": "unauthorized"}
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)


def test_a_market_order_that_fills_at_once_is_announced_new_then_fill(sim, stream):
    answer = submit(sim).json()
    new, fill = updates(stream, 2)
    assert (new["event"], new["order"]["id"], new["order"]["status"]) == ("new", answer["id"], "new")
    assert fill["event"] == "fill"
    assert fill["order"]["status"] == "filled" and fill["order"]["client_order_id"] == answer["client_order_id"]
    assert (fill["qty"], fill["position_qty"]) == ("3", "3")
    assert float(fill["price"]) == float(fill["order"]["filled_avg_price"])
    assert "_sim" not in fill["order"]


def test_a_cancel_is_announced_for_the_order_and_the_rest_of_its_group(sim, stream):
    entry = submit(sim, type="limit", limit_price="1.00", order_class="bracket",
                   take_profit={"limit_price": "2.00"}, stop_loss={"stop_price": "0.50"}).json()
    updates(stream, 3)  # the entry and its two held legs, new
    assert requests.delete(f"{sim.url}/v2/orders/{entry['id']}", headers=sim.headers, timeout=5).status_code == 204
    cancelled = updates(stream, 3)
    assert {u["event"] for u in cancelled} == {"canceled"}
    assert {u["order"]["id"] for u in cancelled} == {entry["id"], *(leg["id"] for leg in entry["legs"])}


def test_a_refused_order_streams_nothing(sim, stream):
    assert submit(sim, symbol="NOPE").status_code == 422
    assert submit(sim, qty="1").status_code == 200
    (first, _) = updates(stream, 2)
    assert first["order"]["symbol"] == "AAPL"


def test_a_fault_rule_on_the_stream_refuses_the_connection(sim):
    sim.admin("POST", "/sim/faults", {"kind": "error", "method": "GET", "path": "/stream", "times": 1})
    with pytest.raises((InvalidStatus, ConnectionClosed)), connect(ws_url(sim), open_timeout=5) as ws:
        ws.recv(timeout=5)
    sim.admin("DELETE", "/sim/faults")


def test_dropping_the_streams_closes_every_connection(sim, stream):
    assert sim.admin("POST", "/sim/stream/drop").json() == {"dropped": 1}
    with pytest.raises(ConnectionClosed):
        stream.recv(timeout=5)
