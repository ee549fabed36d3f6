"""The ledger lock's lease in real time, on SQLite and PostgreSQL: a holder that keeps it alive keeps
it; one that stalls past its lease loses it to another run and is told so (seconds of waiting on the
clock). The backends are those of tests/unit/test_ledger.py, which tests the rest of the lock."""

from __future__ import annotations

import time

import pytest

from paper_trading.errors import LedgerBusy
from paper_trading.ledger import Ledger
from tests.unit.test_ledger import db_url, ledger, pg_database  # noqa: F401 (fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


def test_keep_alive_renews_the_lease_and_says_when_the_lock_was_lost(ledger: Ledger) -> None:
    with ledger.lock("execute:real:20251230", "run-a", lease_s=2.0) as keep_alive:
        for _ in range(4):
            time.sleep(0.6)
            keep_alive()  # renewed: nobody can take it over
            assert ledger.try_lock("execute:real:20251230", "run-b", lease_s=300).startswith("run-a#")
        time.sleep(2.2)  # stalled past the lease: taken over
        assert ledger.try_lock("execute:real:20251230", "run-b", lease_s=300) is None
        with pytest.raises(LedgerBusy, match="was lost to run 'run-b'"):
            keep_alive()
