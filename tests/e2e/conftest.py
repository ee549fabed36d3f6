"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import pytest


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
