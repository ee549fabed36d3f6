"""Real money needs two switches: the live endpoint and `broker.allow_live: true`. Every spelling of
the live host is refused without the second switch (and nothing is sent anywhere), a spelling that
HTTP clients could read as another host is refused with or without it, and the endpoint may come
from any of the three places the broker URL is read: the Airflow Connection's fields, the
environment, the config."""

from __future__ import annotations

import socket

import pytest

from paper_trading.broker.alpaca import AlpacaBroker
from paper_trading.connections import is_loopback_host, url_from_parts
from paper_trading.errors import ConfigError, LiveTradingRefused
from paper_trading.steps.common import broker_for, make_broker

KEY, SECRET = "PKCANARY7Q3ZFAKEKEY0", "canary-secret-9f3b-DO-NOT-LOG-xyzzy"

#: The live host, however written: each is live, refused without allow_live, allowed with it.
LIVE_SPELLINGS = [
    "https://api.alpaca.markets",
    "https://api.alpaca.markets/",
    "https://api.alpaca.markets/v2",
    "https://api.alpaca.markets/v2/",
    "HTTPS://API.ALPACA.MARKETS/v2",
    "https://Api.Alpaca.Markets",
    "https://api.alpaca.markets.",
    "https://api.alpaca.markets./v2",
    "https://api.alpaca.markets:443",
    "https://api.alpaca.markets:00443",
    "http://api.alpaca.markets",
    "http://api.alpaca.markets:80/v2",
    "https://api.alpaca.markets#@paper-api.alpaca.markets",
    "https://api.alpaca.markets?@paper-api.alpaca.markets",
    "https://api.alpaca.markets/@paper-api.alpaca.markets",
    "  https://api.alpaca.markets  ",
]
#: Hosts that are neither Alpaca paper nor this machine count as live too.
OTHER_HOSTS = [
    "https://some-proxy.example.com",
    "https://xn--api-alpaca.markets",
    "https://paper-api.alpaca.markets.example.com",
    "http://127.0.0.1.nip.io:8765",
    "http://127.evil.example:8765",
    "http://localhost.example.com:8765",
    "http://[::ffff:10.0.0.1]:8765",
    "http://0x7f.0.0.1:8765",
    "http://2130706433:8765",
]
#: Written so that Python's URL parser and the HTTP client (urllib3) could disagree about the host,
#: or with credentials in the URL: refused whatever the switches say.
AMBIGUOUS = [
    "https://api.alpaca.markets\\@paper-api.alpaca.markets",
    "http://api.alpaca.markets\\@127.0.0.1:8765",
    "https://api.alpaca.markets\t@paper-api.alpaca.markets",
    "https://api.alpaca.markets\n.paper",
    "https://api.alpaca.markets\x00.paper-api.alpaca.markets",
    "https://user@api.alpaca.markets",
    "https://user:pw@api.alpaca.markets:443",
    "https://paper-api.alpaca.markets@api.alpaca.markets",
    "https://api.alpaca.markets:443@paper-api.alpaca.markets",
    "https://api.alpaca.markets%5C@paper-api.alpaca.markets",
    "https://api%2ealpaca%2emarkets",
    "https://api.alpaca%2Emarkets/v2",
    "https://paper-api%2ealpaca%2emarkets",
    "https://api\uff0ealpaca\uff0emarkets",  # fullwidth dots: IDNA maps them to "."
    "https://api.alpaca.markets\u3002",  # ideographic full stop
    "https://\u0430pi.alpaca.markets",  # Cyrillic "а"
    "https://API.ALPACA.MARKETS\u200b",  # zero-width space
]
#: Alpaca paper and the local simulator: not live, no switch needed.
NOT_LIVE = [
    "https://paper-api.alpaca.markets",
    "https://PAPER-API.alpaca.markets:443/v2",
    "https://paper-api.alpaca.markets.",
    "http://127.0.0.1:8765",
    "http://127.0.0.2:8765",
    "http://localhost:8765",
    "http://LOCALHOST.:8765",
    "http://[::1]:8765",
    "http://[::1]:8765/v2/",
    "http://[0:0:0:0:0:0:0:1]:8765",
    "http://[::ffff:127.0.0.1]:8765",
]


@pytest.fixture
def no_network(monkeypatch):
    """Any connection or name lookup fails the test: a refusal must come before the first request."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network use: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.parametrize("url", LIVE_SPELLINGS + OTHER_HOSTS)
def test_a_live_host_however_spelled_is_refused_without_allow_live(url, no_network):
    with pytest.raises(LiveTradingRefused, match="broker.allow_live: true"):
        AlpacaBroker(KEY, SECRET, url)


@pytest.mark.parametrize("url", LIVE_SPELLINGS + OTHER_HOSTS)
def test_a_live_host_however_spelled_is_live_with_allow_live(url, no_network):
    broker = AlpacaBroker(KEY, SECRET, url, allow_live=True)
    assert broker.live and broker.env == "live"


@pytest.mark.parametrize("url", LIVE_SPELLINGS)
def test_the_refusal_names_the_live_endpoint(url, no_network):
    with pytest.raises(LiveTradingRefused, match=r"broker host 'api\.alpaca\.markets' .* is Alpaca's live"):
        AlpacaBroker(KEY, SECRET, url)


@pytest.mark.parametrize("allow_live", [False, True])
@pytest.mark.parametrize("url", AMBIGUOUS)
def test_an_ambiguous_spelling_of_a_host_is_refused_even_with_allow_live(url, allow_live, no_network):
    with pytest.raises(ConfigError, match="the trading URL"):
        AlpacaBroker(KEY, SECRET, url, allow_live=allow_live)


@pytest.mark.parametrize("url", ["https://user:hunter2-pw@api.alpaca.markets", "https://k:hunter2-pw@127.0.0.1:8765",
                                 "https://x\\y:hunter2-pw@paper-api.alpaca.markets"])
def test_a_password_in_a_refused_url_is_not_in_the_message(url, no_network):
    with pytest.raises(ConfigError) as refused:
        AlpacaBroker(KEY, SECRET, url, allow_live=True)
    assert "hunter2" not in str(refused.value) and "***@" in str(refused.value)


@pytest.mark.parametrize("url", NOT_LIVE)
def test_alpaca_paper_and_a_loopback_simulator_need_no_switch(url, no_network):
    assert not AlpacaBroker(KEY, SECRET, url).live


@pytest.mark.parametrize("host", ["127.0.0.1.nip.io", "127.evil.example", "localhost.example.com", "::ffff:10.0.0.1",
                                  "", None])
def test_a_host_that_only_looks_local_is_not_loopback(host):
    assert not is_loopback_host(host)


@pytest.mark.parametrize("host, port, schema, url", [
    ("::1", 8765, None, "http://[::1]:8765"),
    ("[::1]", 8765, None, "http://[::1]:8765"),
    ("127.evil.example", 8765, None, "https://127.evil.example:8765"),
    ("localhost.", 8765, None, "http://localhost.:8765"),
])
def test_a_connection_host_is_given_its_scheme_by_what_it_is_not_how_it_starts(host, port, schema, url):
    """http only for this machine; a bare IPv6 address gets its brackets instead of a bad port."""
    assert url_from_parts(host, port, schema) == url


# ----------------------------------------------------------------- both switches, from every source


@pytest.fixture
def live_config(project):
    """The project with `broker.allow_live: true`."""
    config = project / "config" / "config.yaml"
    text = config.read_text()
    assert text.count("\n  allow_live: false") == 1
    config.write_text(text.replace("\n  allow_live: false", "\n  allow_live: true"))
    return project


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("APCA_API_BASE_URL", "APCA_API_DATA_URL", "APCA_API_KEY_ID", "APCA_API_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("host, port, schema", [
    ("api.alpaca.markets", None, "https"),
    ("API.ALPACA.MARKETS.", 443, None),
    ("https://api.alpaca.markets/v2", None, None),
    ("api.alpaca.markets:443", None, "https"),
])
def test_the_live_endpoint_in_the_airflow_connection_is_refused_by_the_shipped_config(project, clean_env, host, port,
                                                                                       schema, no_network):
    with pytest.raises(LiveTradingRefused):
        broker_for(project, key=KEY, secret=SECRET, host=host, port=port, schema=schema)


def test_the_live_endpoint_in_the_airflow_connection_trades_live_with_allow_live(live_config, clean_env, no_network):
    broker = broker_for(live_config, key=KEY, secret=SECRET, host="api.alpaca.markets", schema="https")
    assert broker.live and broker.trading_url == "https://api.alpaca.markets"


def test_the_live_endpoint_in_the_environment_is_refused_by_the_shipped_config(project, clean_env, no_network):
    from paper_trading.config import load_config

    clean_env.setenv("APCA_API_BASE_URL", "https://API.alpaca.markets:443/v2/")
    with pytest.raises(LiveTradingRefused):
        make_broker(load_config("config/config.yaml", project), key=KEY, secret=SECRET)


def test_the_live_endpoint_in_the_config_is_refused_without_allow_live(project, clean_env, no_network):
    config = project / "config" / "config.yaml"
    config.write_text(config.read_text().replace("  trading_url: null", "  trading_url: https://api.alpaca.markets."))
    with pytest.raises(LiveTradingRefused):
        broker_for(project, key=KEY, secret=SECRET)


def test_allow_live_alone_changes_nothing(live_config, clean_env, no_network):
    """The switch in the config, the endpoint still paper (the default) or the simulator."""
    assert not broker_for(live_config, key=KEY, secret=SECRET).live
    assert not broker_for(live_config, key=KEY, secret=SECRET, host="127.0.0.1", port=8765, schema="http").live
