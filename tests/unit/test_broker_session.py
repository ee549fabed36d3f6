"""The broker's HTTP session prepares alpaca-py's calls directly (`_ApiSession`): what reaches the
wire must be byte for byte what requests' own path would send, and anything an API call does not
usually carry (cookies kept from an answer, per-call options) still goes through requests."""

from __future__ import annotations

import http.client
import types

import pytest
import requests
from requests.adapters import BaseAdapter

from paper_trading.broker.alpaca import _ApiSession


class _Recorder(BaseAdapter):
    """An adapter that answers every request itself and keeps what it was sent."""

    def __init__(self, set_cookie: str | None = None) -> None:
        super().__init__()
        self.sent: list[tuple[requests.PreparedRequest, dict]] = []
        self.set_cookie = set_cookie

    def send(self, request, **kwargs):
        self.sent.append((request, kwargs))
        response = requests.Response()
        response.status_code, response.request, response.url = 200, request, request.url
        response._content = b'{"ok": true}'
        if self.set_cookie:  # what requests reads a Set-Cookie from: the http.client answer's headers
            headers = http.client.HTTPMessage()
            headers["Set-Cookie"] = self.set_cookie
            response.raw = types.SimpleNamespace(_original_response=types.SimpleNamespace(msg=headers))
        return response

    def close(self) -> None:
        pass


def _sessions(set_cookie: str | None = None) -> tuple[tuple[requests.Session, _Recorder], ...]:
    out = []
    for session in (requests.Session(), _ApiSession()):
        recorder = _Recorder(set_cookie)
        session.mount("http://", recorder)
        session.trust_env = False
        session.proxies = {"http": "http://proxy.invalid:3128"}
        session.headers["X-Session"] = "kept"
        out.append((session, recorder))
    return tuple(out)


def _wire(request: requests.PreparedRequest) -> tuple:
    return request.method, request.url, sorted(request.headers.items()), request.body


HEADERS = {"APCA-API-KEY-ID": "PKTEST", "APCA-API-SECRET-KEY": "secret", "User-Agent": "APCA-PY/0.44.0"}
CALLS = [
    ("GET", "http://127.0.0.1:1/v2/orders", {"params": {"status": "all", "limit": 500, "nested": True,
                                                       "symbols": "AAPL,MSFT", "after": None}}),
    ("GET", "http://127.0.0.1:1/v2/clock", {"params": None}),
    ("POST", "http://127.0.0.1:1/v2/orders", {"json": {"symbol": "AAPL", "qty": "3", "side": "buy",
                                                      "type": "market", "time_in_force": "day",
                                                      "client_order_id": "pt-20251231-AAPL-buy-r1"}}),
    ("DELETE", "http://127.0.0.1:1/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d", {"params": None}),
]


@pytest.mark.parametrize(("method", "url", "opts"), CALLS, ids=[f"{m} {u.split('/v2')[1]}" for m, u, _ in CALLS])
def test_an_api_call_sends_what_requests_own_path_sends(method, url, opts):
    (plain, plain_sent), (lean, lean_sent) = _sessions()
    for session in (plain, lean):
        assert session.request(method, url, headers=dict(HEADERS), allow_redirects=False, **opts).json() == {"ok": True}
    (expected, expected_kwargs), (got, got_kwargs) = plain_sent.sent[0], lean_sent.sent[0]
    assert _wire(got) == _wire(expected)
    assert got_kwargs == expected_kwargs  # timeout, verify, cert, proxies, stream


@pytest.mark.parametrize("which", [0, 1], ids=["requests", "lean"])
def test_a_cookie_an_answer_set_is_kept_and_sent_with_the_next_call(which):
    session, recorder = _sessions(set_cookie="__cf_bm=abc; Path=/")[which]
    session.request("GET", "http://127.0.0.1:1/v2/clock", headers=dict(HEADERS), allow_redirects=False)
    recorder.set_cookie = None
    session.request("GET", "http://127.0.0.1:1/v2/account", headers=dict(HEADERS), allow_redirects=False)
    assert recorder.sent[1][0].headers["Cookie"] == "__cf_bm=abc"


def test_a_call_with_its_own_options_goes_through_requests():
    _, (lean, recorder) = _sessions()
    lean.request("GET", "http://127.0.0.1:1/v2/clock", headers=dict(HEADERS), allow_redirects=False,
                 cookies={"session": "s1"}, timeout=3)
    request, kwargs = recorder.sent[0]
    assert request.headers["Cookie"] == "session=s1" and kwargs["timeout"] == 3
