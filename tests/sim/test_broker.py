"""paper_trading.broker over real alpaca-py and real HTTP against the simulator."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest

from paper_trading.broker.alpaca import AlpacaBroker, _Pacer
from paper_trading.broker.types import OrderRequest
from paper_trading.errors import (
    TRANSIENT_ERRORS,
    AmbiguousSubmitError,
    BrokerAuthError,
    BrokerError,
    BrokerUnavailable,
    ConfigError,
    LiveTradingRefused,
    OrderRejected,
    SubmitRateLimited,
)


@pytest.fixture
def broker(sim) -> AlpacaBroker:
    return AlpacaBroker(sim.key, sim.secret, sim.url, sim.url, timeout=2.0, backoff_seconds=0.01)


def buy(cid: str, qty: int = 3, **kw) -> OrderRequest:
    return OrderRequest(symbol="AAPL", side="buy", qty=Decimal(qty), client_order_id=cid, **kw)


def test_proxy_settings_of_the_environment_apply_read_once_at_construction(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = AlpacaBroker("PKTESTKEY42", "secret-123456", "http://127.0.0.1:9", "http://127.0.0.1:9")._trading._session
    assert session.proxies.get("http") == "http://proxy.example:3128"
    assert session.trust_env is False  # not read again on every request


def test_no_proxy_of_the_environment_exempts_the_simulator(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    session = AlpacaBroker("PKTESTKEY42", "secret-123456", "http://127.0.0.1:9", "http://127.0.0.1:9")._trading._session
    assert "http" not in session.proxies


def test_reads_account_positions_clock_calendar(broker):
    account = broker.account()
    assert account.cash == Decimal(100000) and not account.trading_blocked
    assert broker.positions() == []
    assert broker.clock().is_open
    days = broker.calendar(dt.date(2025, 12, 29), dt.date(2026, 1, 2))
    assert [d.date.day for d in days] == [29, 30, 31, 2]


def test_submit_then_find_by_client_order_id(broker):
    placed = broker.submit_order(buy("pt-20251230-AAPL-buy-0"))
    found = broker.get_order_by_client_id("pt-20251230-AAPL-buy-0")
    assert found.id == placed.id and found.status == "filled" and found.filled_qty == 3
    assert broker.get_order_by_client_id("pt-unknown") is None
    assert [p.symbol for p in broker.positions()] == ["AAPL"]


def test_bracket_submit_has_both_legs(broker):
    price = broker.latest_prices(["MSFT"])[0]["MSFT"].price
    placed = broker.submit_order(OrderRequest(symbol="MSFT", side="buy", qty=Decimal(2), client_order_id="b1",
                                              time_in_force="gtc", take_profit=(price * Decimal("1.05")).quantize(Decimal("0.01")),
                                              stop_loss=(price * Decimal("0.97")).quantize(Decimal("0.01"))))
    assert placed.order_class == "bracket"
    assert sorted(leg.order_type for leg in broker.get_order(placed.id).legs) == ["limit", "stop"]


@pytest.mark.parametrize("fault", [{"status": 504}, {"status": 500}, {"drop": True}], ids=["504", "500", "dropped"])
def test_ambiguous_submit_is_reported_and_never_resent(broker, sim, fault):
    sim.admin("POST", "/sim/faults", {"kind": "ambiguous", "method": "POST", "path": "/v2/orders", "times": 1, **fault})
    with pytest.raises(AmbiguousSubmitError) as err:
        broker.submit_order(buy("pt-amb"))
    assert err.value.client_order_id == "pt-amb"
    assert "look it up before any retry" in str(err.value)
    assert broker.get_order_by_client_id("pt-amb") is not None
    assert len(broker.list_orders()) == 1  # exactly one order: nothing was re-sent


def test_submit_timeout_is_ambiguous(sim):
    broker = AlpacaBroker(sim.key, sim.secret, sim.url, sim.url, timeout=0.5)
    sim.admin("POST", "/sim/faults", {"kind": "hang", "method": "POST", "path": "/v2/orders", "seconds": 2, "times": 1})
    with pytest.raises(AmbiguousSubmitError, match="timed out"):
        broker.submit_order(buy("pt-slow"))


def test_definite_rejections_are_not_ambiguous(broker, sim):
    broker.submit_order(buy("pt-dup"))
    with pytest.raises(OrderRejected) as err:
        broker.submit_order(buy("pt-dup"))
    assert err.value.status == 422 and err.value.code == 40010001
    assert "client_order_id must be unique" in str(err.value)
    sim.admin("POST", "/sim/faults", {"kind": "error", "method": "POST", "path": "/v2/orders", "status": 429, "times": 1})
    with pytest.raises(SubmitRateLimited) as limited:
        broker.submit_order(buy("pt-429"))
    assert limited.value.status == 429 and broker.get_order_by_client_id("pt-429") is None


def test_reads_are_retried_on_transient_failures(broker, sim):
    sim.admin("POST", "/sim/faults", {"kind": "error", "method": "GET", "path": "/v2/account", "status": 503,
                                      "body": "text", "times": 2})
    assert broker.account().cash == Decimal(100000)
    assert [r["fired"] for r in sim.admin("GET", "/sim/faults").json()] == [2]


def test_a_read_that_keeps_failing_raises_one_clear_error(broker, sim):
    sim.admin("POST", "/sim/faults", {"kind": "error", "method": "GET", "path": "/v2/positions", "status": 500})
    with pytest.raises(BrokerUnavailable) as err:
        broker.positions()
    host = sim.url.split("://", 1)[1]
    assert str(err.value) == f"broker {host}: GET /v2/positions failed: internal server error occurred"
    assert err.value.status == 500


def test_an_unreachable_broker_is_transient_and_names_the_host():
    broker = AlpacaBroker("key-id-123", "secret-456", "http://127.0.0.1:9", "http://127.0.0.1:9", timeout=0.5,
                          read_attempts=2, backoff_seconds=0.01)
    with pytest.raises(BrokerUnavailable, match=r"^broker 127\.0\.0\.1:9: GET /v2/account failed: connection failed"):
        broker.account()


def test_refused_credentials_are_an_auth_error_not_a_transient_one(sim):
    wrong = AlpacaBroker(sim.key, "not-the-secret", sim.url, sim.url, read_attempts=3, backoff_seconds=0.01)
    with pytest.raises(BrokerAuthError, match="check the API key id and secret") as denied:
        wrong.account()
    assert denied.value.status == 403 and not isinstance(denied.value, TRANSIENT_ERRORS)


def test_a_hanging_read_times_out_and_is_retried(sim):
    broker = AlpacaBroker(sim.key, sim.secret, sim.url, sim.url, timeout=0.5, backoff_seconds=0.01)
    sim.admin("POST", "/sim/faults", {"kind": "hang", "method": "GET", "path": "/v2/clock", "seconds": 2, "times": 1})
    assert broker.clock().is_open


def test_a_submit_whose_answer_cannot_be_read_is_an_unknown_outcome_and_the_order_is_found(broker, monkeypatch):
    """The broker accepted the order but its answer lacks what we read: not an error to stop on, an
    unknown outcome, resolved by looking the id up (it is there)."""
    post = broker._trading.submit_order

    def unreadable(request):
        answer = post(request)
        return {k: v for k, v in answer.items() if k != "status"}

    monkeypatch.setattr(broker._trading, "submit_order", unreadable)
    with pytest.raises(AmbiguousSubmitError, match="unknown outcome"):
        broker.submit_order(buy("pt-unreadable"))
    assert broker.get_order_by_client_id("pt-unreadable").status == "filled"


def test_prices_from_snapshots_and_missing_symbols_reported(broker):
    prices, missing = broker.latest_prices(["AAPL", "SPY", "NOPE"])
    assert set(prices) == {"AAPL", "SPY"} and missing == ["NOPE"]
    assert prices["AAPL"].source == "trade" and prices["AAPL"].price > 0


def test_prices_fall_back_to_the_latest_daily_bar(broker, monkeypatch):
    monkeypatch.setattr(broker._data, "get_stock_snapshot", lambda request: {})  # a snapshot without trades
    prices, missing = broker.latest_prices(["AAPL"])
    assert prices["AAPL"].source == "bar" and missing == []


def test_a_price_of_zero_or_none_in_a_snapshot_is_no_price_and_the_bar_is_used(broker, monkeypatch):
    monkeypatch.setattr(broker._data, "get_stock_snapshot", lambda request: {
        "AAPL": {"latestTrade": {"p": 0, "t": "2025-12-31T15:00:00Z"}}, "SPY": {"latestTrade": None}})
    prices, missing = broker.latest_prices(["AAPL", "SPY"])
    assert {s: p.source for s, p in prices.items()} == {"AAPL": "bar", "SPY": "bar"} and missing == []


def test_a_snapshot_price_keeps_its_trade_time_with_its_zone(broker, monkeypatch):
    monkeypatch.setattr(broker._data, "get_stock_snapshot", lambda request: {
        "AAPL": {"latestTrade": {"p": 123.45, "t": "2025-12-31T15:00:00.123456789Z"}}})
    price = broker.latest_prices(["AAPL"])[0]["AAPL"]
    assert (price.price, price.source) == (Decimal("123.45"), "trade")
    assert price.at == dt.datetime(2025, 12, 31, 15, 0, 0, 123456, tzinfo=dt.UTC)


def test_a_market_data_answer_that_cannot_be_read_is_the_requests_broker_error(broker, monkeypatch):
    monkeypatch.setattr(broker._data, "get_stock_snapshot", lambda request: {
        "AAPL": {"latestTrade": {"p": 123.45, "t": "yesterday"}}})
    with pytest.raises(BrokerError, match="GET /v2/stocks/snapshots failed"):
        broker.latest_prices(["AAPL"])


def test_daily_closes(broker):
    closes = broker.daily_closes(["AAPL"], dt.date(2025, 12, 1), dt.date(2025, 12, 29))
    assert len(closes["AAPL"]) == 20 and closes["AAPL"][-1][0] == dt.date(2025, 12, 29)


def test_activities_are_paged_to_the_end(broker, sim):
    for _i in range(130):
        sim.admin("POST", "/sim/activities", {"activity_type": "CSD", "net_amount": "1"})
    assert len(broker.activities(["CSD"])) == 130


def test_no_secret_in_repr_errors_or_logs(sim, caplog):
    broker = AlpacaBroker(sim.key, sim.secret, sim.url, sim.url, timeout=1.0, read_attempts=1)
    sim.admin("POST", "/sim/faults", {"kind": "error", "path": "/v2/account", "status": 500})
    with caplog.at_level(logging.DEBUG), pytest.raises(BrokerError) as err:
        broker.account()
    for text in (repr(broker), str(err.value), caplog.text):
        assert sim.secret not in text and sim.key not in text
    wrong = AlpacaBroker(sim.key, "not-the-secret", sim.url, sim.url, read_attempts=1)
    with pytest.raises(BrokerError) as denied:
        wrong.account()
    assert "not-the-secret" not in str(denied.value) and denied.value.status == 403


def test_credentials_and_live_endpoint_guards():
    with pytest.raises(BrokerAuthError, match="credentials are missing"):
        AlpacaBroker.from_env({})
    for live in ("https://api.alpaca.markets/v2", "https://API.alpaca.markets:443", "http://api.alpaca.markets",
                 "https://some-proxy.example.com"):
        with pytest.raises(LiveTradingRefused, match="broker.allow_live: true") as refused:
            AlpacaBroker("key-id-123", "secret-456", live)
        assert isinstance(refused.value, ConfigError)
    assert AlpacaBroker("key-id-123", "secret-456", "https://api.alpaca.markets", allow_live=True).live
    paper = AlpacaBroker.from_env({"APCA_API_KEY_ID": "key-id-123", "APCA_API_SECRET_KEY": "secret-456"})
    assert paper.trading_url == "https://paper-api.alpaca.markets" and not paper.live


def test_a_url_that_is_not_absolute_http_is_a_config_error():
    for bad in ("127.0.0.1:8765", "ftp://127.0.0.1", "http://127.0.0.1:port"):
        with pytest.raises(ConfigError, match="trading URL"):
            AlpacaBroker("key-id-123", "secret-456", bad)


def test_pacer_waits_only_when_the_minute_is_full():
    now = [0.0]
    slept = []
    pacer = _Pacer(3, clock=lambda: now[0], sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    for _ in range(3):
        pacer.wait()
        now[0] += 1
    assert slept == []
    pacer.wait()
    assert slept == [57.0]


def test_list_orders_pages_past_500_without_losing_any(sim):
    broker = AlpacaBroker(sim.key, sim.secret, sim.url, sim.url, requests_per_minute=100_000)
    sim.admin("POST", "/sim/reset", {"cash": "100000000", "clock": "2025-12-30T15:00:00Z"})
    for i in range(520):  # the clock stands still: timestamps differ only by the simulator's microsecond
        broker.submit_order(OrderRequest(symbol="KO", side="buy", qty=Decimal(1), client_order_id=f"page-{i}"))
    listed = broker.list_orders()
    assert len(listed) == 520 and len({o.id for o in listed}) == 520
