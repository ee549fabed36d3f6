"""An Airflow Connection's fields -> the broker URL, every field used, contradictions refused."""

from __future__ import annotations

import pytest

from paper_trading.connections import url_from_parts
from paper_trading.errors import ConfigError


@pytest.mark.parametrize("host, port, schema, url", [
    ("127.0.0.1", 8765, "http", "http://127.0.0.1:8765"),
    ("127.0.0.1", "8765", None, "http://127.0.0.1:8765"),
    ("localhost", 8765, "", "http://localhost:8765"),
    ("127.0.0.1:8765", None, None, "http://127.0.0.1:8765"),
    ("http://127.0.0.1", 8765, None, "http://127.0.0.1:8765"),
    ("http://127.0.0.1:8765", None, "http", "http://127.0.0.1:8765"),
    ("paper-api.alpaca.markets", None, None, "https://paper-api.alpaca.markets"),
    ("https://paper-api.alpaca.markets/v2", None, None, "https://paper-api.alpaca.markets/v2"),
    (" paper-api.alpaca.markets ", 443, "HTTPS", "https://paper-api.alpaca.markets:443"),
])
def test_the_url_is_built_from_every_field_of_the_connection(host, port, schema, url):
    assert url_from_parts(host, port, schema) == url


def test_no_host_means_no_url_so_the_defaults_apply():
    assert url_from_parts(None) is None and url_from_parts("") is None


@pytest.mark.parametrize("host, port, schema, message", [
    ("http://127.0.0.1:8765", 8766, None, "has port 8765 but port says 8766"),
    ("http://127.0.0.1", None, "https", "says http but schema says https"),
    ("127.0.0.1", "eighty", None, "port expected a number, got 'eighty'"),
    ("127.0.0.1", 70000, None, "port expected 1-65535, got 70000"),
    ("127.0.0.1", None, "ftp", "schema expected http or https (the URL scheme), got 'ftp'"),
    ("", 8765, "http", "port/schema are set but host is empty"),
])
def test_contradicting_or_invalid_fields_are_refused(host, port, schema, message):
    with pytest.raises(ConfigError, match=rf"^connection 'alpaca': .*{message.replace('(', '.').replace(')', '.')}"):
        url_from_parts(host, port, schema, conn_id="connection 'alpaca'")


def test_a_loopback_trading_url_alone_also_serves_market_data():
    from paper_trading.broker.alpaca import AlpacaBroker
    from paper_trading.broker.endpoint import DATA_URL

    assert AlpacaBroker("key-id-123", "secret-456", "http://127.0.0.1:8765").data_url == "http://127.0.0.1:8765"
    assert AlpacaBroker("key-id-123", "secret-456").data_url == DATA_URL
