"""The ledger's URL when it names a PostgreSQL server, whichever backend the project runs on: a
password from the environment (plain or percent-encoded) is redacted and never shown, and
`postgresql://` as a person writes it gets the psycopg driver, which connects. They create schemas in
the session's database on the server of tests/unit/test_ledger.py, whose fixtures and helpers they use."""

from __future__ import annotations

import urllib.parse
import uuid
from pathlib import Path

import pytest

from paper_trading.ledger import Ledger, ledger_url, store
from paper_trading.logging_setup import MASK, redact
from tests.unit.test_ledger import PG_USER, _backend_url, _engine, _other_url, pg_database  # noqa: F401 (fixture)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


def test_ledger_url_password_from_the_environment_is_redacted(backend: str, tmp_path: Path, request,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    env_url = _backend_url("postgresql", tmp_path, request, password=password)  # trust auth: any password works
    monkeypatch.setenv(store.URL_ENV, env_url)
    url = ledger_url(tmp_path, _other_url("postgresql") if backend == "sqlite" else None)
    assert url.password == password
    assert redact(f"connecting to {env_url}") == f"connecting to {env_url.replace(password, MASK)}"
    schema = f"t_{uuid.uuid4().hex[:16]}"
    engine = _engine(str(url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    with Ledger(url.update_query_dict({"options": f"-csearch_path={schema}"})) as opened:
        assert password not in repr(opened)
        assert password not in opened.shown
        assert opened.revision() == "0003"


def test_ledger_url_postgresql_gets_the_psycopg_driver(backend: str, tmp_path: Path, request,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # `postgresql://` as a person writes it, from the config (postgresql param) or given (sqlite param)
    monkeypatch.delenv(store.URL_ENV, raising=False)
    plain = _backend_url("postgresql", tmp_path, request)
    url = ledger_url(tmp_path, plain) if backend == "postgresql" else ledger_url(tmp_path, None, plain)
    assert url.drivername == "postgresql+psycopg"
    assert ledger_url(tmp_path, None, "postgresql+psycopg://u@h/d").drivername == "postgresql+psycopg"
    schema = f"t_{uuid.uuid4().hex[:16]}"
    engine = _engine(url.render_as_string(hide_password=False))
    with engine.begin() as conn:  # the driver is installed and connects
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}"')
    engine.dispose()


def test_ledger_url_percent_encoded_password_from_the_environment_is_redacted(
        backend: str, tmp_path: Path, request, monkeypatch: pytest.MonkeyPatch) -> None:
    # a password with URL-special characters must be percent-encoded in the URL: it is the encoded
    # text that a log line quoting $PAPER_TRADING_DB_URL (or an error about it) would show
    password = f"p@ss/{uuid.uuid4().hex[:8]}:w0rd"
    encoded = urllib.parse.quote(password, safe="")
    env_url = _backend_url("postgresql", tmp_path, request).replace(f"{PG_USER}@", f"{PG_USER}:{encoded}@")
    monkeypatch.setenv(store.URL_ENV, env_url)
    url = ledger_url(tmp_path, _other_url("postgresql") if backend == "sqlite" else None)
    assert url.password == password
    assert password not in redact(f"password {password}")
    assert encoded not in redact(f"connecting to {env_url}")
