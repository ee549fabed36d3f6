"""The PostgreSQL server the ledger tests use (127.0.0.1:5432, trust auth, database `test`).

`.ci/run` sets `PAPER_TRADING_TEST_POSTGRES=required`: in CI a server that does not answer fails
those tests, it never skips them. Elsewhere they skip with a message when no server answers.
"""

from __future__ import annotations

import os

import pytest

HOST, PORT, USER, ADMIN_DB = "127.0.0.1", 5432, "postgres", "test"
CONNINFO = f"host={HOST} port={PORT} user={USER} dbname={ADMIN_DB} connect_timeout=5"
REQUIRED = os.environ.get("PAPER_TRADING_TEST_POSTGRES", "").lower() in ("1", "true", "required")


def admin_connection():
    """An autocommit psycopg connection to the admin database (fail in CI, skip elsewhere if none)."""
    import psycopg

    try:
        return psycopg.connect(CONNINFO, autocommit=True)
    except psycopg.OperationalError as exc:
        message = (f"PostgreSQL is not reachable at {HOST}:{PORT} (user {USER}, database {ADMIN_DB}): "
                   f"{str(exc).strip()}")
        if REQUIRED:
            pytest.fail(f"{message}; PAPER_TRADING_TEST_POSTGRES=required: these tests must run", pytrace=False)
        pytest.skip(f"{message} (set PAPER_TRADING_TEST_POSTGRES=required to make this a failure)")
