"""Every test of tests/unit/test_ledger.py again, on PostgreSQL: the deployment's ledger backend (the
server at 127.0.0.1:5432; tests/postgres.py says what happens when it does not answer).

The tests are those of the unit module, collected here a second time with its fixtures; only the
`backend` fixture differs, so `db_url` and `ledger` give each test a fresh schema in the session's
PostgreSQL database instead of a SQLite file.
"""

from __future__ import annotations

import pytest

from tests.unit.test_ledger import *  # noqa: F403 - the unit module's tests and fixtures


@pytest.fixture(params=["postgresql"])
def backend(request) -> str:
    return request.param
