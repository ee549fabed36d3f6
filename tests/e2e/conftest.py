"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import pytest

from paper_trading.broker.alpaca import AlpacaBroker

#: 09:45 New York on the sample data's last session: the market is open.
OPEN = "2025-12-31T14:45:00Z"


@pytest.fixture
def broker(sim) -> AlpacaBroker:
    """The adapter on the simulator at OPEN, without client-side pacing (the tests send hundreds of requests)."""
    sim.admin("POST", "/sim/clock", {"to": OPEN})
    return AlpacaBroker(sim.key, sim.secret, sim.url, sim.url, timeout=2.0, backoff_seconds=0.01,
                        requests_per_minute=100_000)


@pytest.fixture
def postgres_ledger(monkeypatch):
    """A fresh PostgreSQL database as the ledger (the deployment's backend), dropped afterwards."""
    import secrets

    from tests.postgres import admin_connection

    name = f"pt_exec_{secrets.token_hex(4)}"
    admin = admin_connection()
    admin.execute(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv("PAPER_TRADING_DB_URL", f"postgresql://postgres@127.0.0.1:5432/{name}")
    yield name
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()
