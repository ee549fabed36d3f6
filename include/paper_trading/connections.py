"""Airflow Connections as plain fields -> the URLs the library needs (no Airflow import here).

Airflow's connection form splits a URL into host, port and schema (for HTTP-like connections the
schema field holds the scheme, as `HttpHook` reads it), and users fill it in every way: the whole
URL in host, or host `127.0.0.1` + port `8765` + schema `http`. Dropping a field silently points
the broker somewhere else (the default port of the default scheme), so every field is used, and
contradictions are errors.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

from paper_trading.errors import ConfigError


def is_loopback_host(host: str | None) -> bool:
    """Whether a URL's host (as `urlsplit(...).hostname` gives it, or bracketed) is this machine:
    `localhost` or a loopback IP address (127.0.0.0/8, ::1, ::ffff:127.0.0.1), one trailing dot
    allowed. A name that merely starts with `127.` (`127.0.0.1.example.com`) is a remote host like
    any other."""
    host = (host or "").strip().lower().removeprefix("[").removesuffix("]")
    host = host.removesuffix(".")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def url_from_parts(host: str | None, port: int | str | None = None, schema: str | None = None,
                   *, conn_id: str = "the connection") -> str | None:
    """`host` (a host name or a whole URL), `port` and `schema` (the scheme) -> one absolute URL.

    None when `host` is empty (the caller falls back to its defaults). The scheme defaults to
    http for loopback hosts (the local simulator) and https for every other host.
    """
    host = (host or "").strip()
    schema = (schema or "").strip().lower() or None
    if not host:
        if port or schema:
            raise ConfigError(f"{conn_id}: port/schema are set but host is empty; set host (e.g. 127.0.0.1)")
        return None
    if port in ("", None):
        port = None
    else:
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise ConfigError(f"{conn_id}: port expected a number, got {port!r}") from None
        if not 0 < port < 65536:
            raise ConfigError(f"{conn_id}: port expected 1-65535, got {port}")
    if schema is not None and schema not in ("http", "https"):
        raise ConfigError(f"{conn_id}: schema expected http or https (the URL scheme), got {schema!r}")
    if "://" in host:
        parts = urlsplit(host)
        if schema and parts.scheme.lower() != schema:
            raise ConfigError(f"{conn_id}: host {host!r} says {parts.scheme} but schema says {schema}")
        try:
            own_port = parts.port
        except ValueError:
            raise ConfigError(f"{conn_id}: host {host!r} has an invalid port") from None
        if port is not None and own_port is not None and own_port != port:
            raise ConfigError(f"{conn_id}: host {host!r} has port {own_port} but port says {port}")
        netloc = parts.netloc if port is None or own_port is not None else f"{parts.netloc}:{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    if _is_ipv6(host):  # Airflow's form may hold a bare IPv6 address: a URL needs it in brackets
        host = f"[{host}]"
    scheme = schema or ("http" if is_loopback_host(urlsplit(f"//{host}").hostname) else "https")
    return url_from_parts(f"{scheme}://{host}", port, schema, conn_id=conn_id)


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


def ledger_url_from_parts(conn_type: str | None, host: str | None = None, schema: str | None = None,
                          login: str | None = None, password: str | None = None, port: int | None = None,
                          *, conn_id: str = "the ledger connection") -> str:
    """An Airflow Connection of type postgres (host, port, schema = database, login, password) or
    sqlite (host = the file's path) -> a SQLAlchemy URL for the ledger."""
    from sqlalchemy.engine import URL

    kind = (conn_type or "").lower()
    if kind in ("postgres", "postgresql"):
        if not host or not schema:
            raise ConfigError(f"{conn_id}: a postgres connection needs host and schema (the database name)")
        return URL.create("postgresql+psycopg", username=login or None, password=password or None, host=host,
                          port=int(port) if port else None, database=schema).render_as_string(hide_password=False)
    if kind == "sqlite":
        if not host:
            raise ConfigError(f"{conn_id}: a sqlite connection needs host (the database file's path)")
        return f"sqlite:///{host}"
    raise ConfigError(f"{conn_id}: conn_type {conn_type!r} is not supported for the ledger; use postgres or sqlite")
