"""The ledger shared by processes, on SQLite and PostgreSQL: several opening a new database at once all
get it migrated once, and a process killed in the middle of a write leaves the ledger as it was.
The backends and the helpers are those of tests/unit/test_ledger.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from paper_trading.ledger import Ledger, store
from tests.unit.test_ledger import TABLES, _engine, _order, _table_names, db_url, ledger, pg_database  # noqa: F401 (fixtures)

#: What a child process needs to import the project the way this test does.
CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


def _count(url: str, table: str) -> int:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


def _child(code: str, url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), url], env=CHILD_ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_processes_opening_a_new_database_at_once_all_succeed(db_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = f"""
        import os, pathlib, sys, time
        from alembic import command, config  # noqa: F401 - imported before the start, as the Ledger will
        from paper_trading.ledger import Ledger
        go = pathlib.Path({str(go)!r})
        (go.parent / f"ready-{{os.getpid()}}").touch()
        while not go.exists():
            time.sleep(0.001)
        with Ledger(sys.argv[1]) as ledger:
            print(ledger.revision())
    """
    children = [_child(code, db_url) for _ in range(4)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < len(children) and time.monotonic() < deadline:
        assert all(child.poll() is None for child in children), [child.communicate() for child in children]
        time.sleep(0.01)
    go.touch()  # all at the starting line: go
    results = [child.communicate(timeout=120) for child in children]
    for child, (out, err) in zip(children, results):
        assert child.returncode == 0, err
        assert out.strip() == "0003", err
    assert _table_names(db_url) >= TABLES
    assert _count(db_url, store.VERSION_TABLE) == 1


def test_a_process_killed_in_the_middle_of_a_write_leaves_the_ledger_as_it_was(ledger: Ledger,
                                                                                db_url: str) -> None:
    ledger.upsert_orders([_order(status="new")])
    code = """
        import sys, time
        import sqlalchemy as sa
        from paper_trading.ledger import Ledger, store
        from paper_trading.ledger.schema import orders
        ledger = Ledger(sys.argv[1])
        with ledger.engine.begin() as conn:
            conn.execute(sa.update(orders).values(status="filled"))
            for i in range(500):
                conn.execute(sa.insert(orders).values(
                    client_order_id=f"pt-20251230-K{i:03d}-buy-1", trade_date=store.dt.date(2025, 12, 30),
                    round=1, run_id="r", mode="real", env="paper", symbol=f"K{i}", side="buy", qty=1.0,
                    order_type="market", status="new", updated_at=store.utcnow()))
            print("written", flush=True)
            time.sleep(120)
    """
    child = _child(code, db_url)
    try:
        line = child.stdout.readline()
        assert line.strip() == "written", child.stderr.read() if child.poll() is not None else line
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert [(r["client_order_id"], r["status"]) for r in ledger.orders()] == [("pt-20251230-AAPL-buy-1", "new")]
    # and the ledger is writable again: the dead writer's lock / transaction is gone
    ledger.upsert_orders([_order(status="accepted")])
    assert ledger.order("pt-20251230-AAPL-buy-1")["status"] == "accepted"
    assert len(ledger.orders()) == 1
