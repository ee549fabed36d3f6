"""Which Alpaca endpoint a URL is, and the guard that refuses live trading unless asked for.

Apart from the adapter, so the rule reads on its own: Alpaca's paper host and a loopback simulator
are paper; anything else — any spelling of the live host, any other host — counts as live (real
money) and needs `broker.allow_live: true`. A URL with credentials, or one the URL parser and the
HTTP client would read differently, is refused whatever its host.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from paper_trading.connections import is_loopback_host
from paper_trading.errors import ConfigError

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"


def base_url(url: str | None) -> str | None:
    if not url:
        return None
    url = url.strip().rstrip("/")
    return url[: -len("/v2")] if url.endswith("/v2") else url


PAPER_HOSTS = {"paper-api.alpaca.markets"}
LIVE_HOSTS = {"api.alpaca.markets"}


def host_of(url: str) -> str:
    """The URL's host as DNS reads it: lower case, without the one trailing dot of a full name."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removesuffix(".")


def shown_url(url: str) -> str:
    """A URL for an error message: a user name or password in it is replaced by `***`."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def checked_url(url: str, what: str) -> str:
    """An absolute http(s) URL with a host, or a ConfigError that shows what was given.

    Refused too, whatever the host: a user name or password in the URL (credentials belong in the
    key id and secret, and a URL is shown in logs and errors), and a backslash, a space or a control
    character, on which Python's URL parser and the HTTP client's disagree about the host
    (`https://api.alpaca.markets\\@paper-api.alpaca.markets` is paper to one, live to the other)."""
    parts = urlsplit(url)
    if any(ch == "\\" or ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ConfigError(f"the {what} URL {shown_url(url)!r} has a backslash, a space or a control character; "
                          "HTTP clients read such a URL differently")
    if "@" in parts.netloc:
        raise ConfigError(f"the {what} URL {shown_url(url)!r} has a user name or password in it; give the key id "
                          "and secret as credentials (APCA_API_KEY_ID/APCA_API_SECRET_KEY, or the login and "
                          "password of the Airflow connection), never in the URL")
    if client_host(url) != (parts.hostname or ""):
        raise ConfigError(f"the {what} URL {url!r} names its host ambiguously (encoded or not plain ASCII); "
                          "write it as scheme://host[:port]")
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ConfigError(f"the {what} URL {url!r} has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"the {what} URL {url!r} is not an absolute http(s) URL with a host, e.g. "
                          f"{PAPER_URL} or http://127.0.0.1:8765")
    return url


def client_host(url: str) -> str | None:
    """The host the HTTP client (urllib3, under requests and alpaca-py) would connect to."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    try:
        host = parse_url(url).host
    except LocationParseError:
        return None
    return (host or "").lower().removeprefix("[").removesuffix("]")


def live_refusal(url: str) -> str:
    """Why a URL was refused: what to use instead first, the live switch last."""
    host = host_of(url) or url
    known = host in LIVE_HOSTS
    what = "is Alpaca's live (real-money) endpoint" if known else "is neither Alpaca paper nor a local simulator"
    return (f"broker host {host!r} ({url}) {what}. For paper trading use {PAPER_URL}; for the local simulator "
            "use http://127.0.0.1:<port> (in an Airflow connection: host 127.0.0.1, port, schema http). Only to "
            "trade real money on purpose: broker.allow_live: true in config/config.yaml")


def may_be_live(url: str) -> bool:
    """Anything but Alpaca's paper host or a loopback simulator counts as live (real money): a
    different spelling of the live host (port, case, scheme, a trailing dot, an encoded or
    internationalized form) must not slip past `allow_live`."""
    host = host_of(url)
    return not (host in PAPER_HOSTS or is_loopback_host(host))
