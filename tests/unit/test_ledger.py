"""The ledger database (`paper_trading.ledger`): migrations, upserts, the lock, the exports, the URL.

Here on SQLite (a file in the test's tmp_path), in-process. tests/integration/test_ledger_postgresql.py
runs every one of these tests again on PostgreSQL, the deployment's backend (the server at
127.0.0.1:5432, trust auth, user `postgres`, database `test`, which this machine and CI start), with
the fixtures below: `backend` is "sqlite" here and "postgresql" there. On PostgreSQL each session
creates its own database (`pt_ledger_<random>`, dropped with FORCE at the end) and each test its own
schema in it (the schema is put first on the connection's search_path through the URL), so every test
starts from an empty ledger and never sees another test's, or another session's, rows.

On both backends, in tests/integration: the tests that start other processes
(test_ledger_processes.py), the URL tests that need a PostgreSQL server whatever the backend
(test_ledger_url_postgresql.py) and the lock's lease kept alive and lost in real time
(test_ledger_lease.py, seconds of sleeping).
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import os
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from paper_trading.errors import ConfigError, LedgerBusy, LedgerUnavailable
from paper_trading.ledger import Ledger, ledger_url, store
from paper_trading.ledger.schema import metadata

PG_HOST, PG_PORT, PG_USER, PG_ADMIN_DB = "127.0.0.1", 5432, "postgres", "test"
PG_ADMIN_CONNINFO = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={PG_ADMIN_DB} connect_timeout=5"
TABLES = {"runs", "orders", "locks", "fills", "positions_eod", "cash_ledger", "equity_daily", "recon",
          store.VERSION_TABLE}
DAY = dt.date(2025, 12, 30)


# --------------------------------------------------------------------------------------- backends

def _pg_admin():
    """An autocommit connection to the admin database: a failure in CI, a skip elsewhere, if none."""
    from tests.postgres import admin_connection

    return admin_connection()


@pytest.fixture(scope="session")
def pg_database():
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"pt_ledger_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_url(database: str, schema: str) -> str:
    """The database, with `schema` first on the search path: the ledger's tables go there."""
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite"])
def backend(request) -> str:
    """The ledger's backend: SQLite in the unit tier (tests/integration overrides it with PostgreSQL)."""
    return request.param


@pytest.fixture
def db_url(backend: str, request, tmp_path: Path) -> str:
    """The URL of an empty ledger database on `backend`: a new SQLite file, or a new PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    database = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}")
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    yield _pg_url(database, schema)
    engine = sa.create_engine(f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}")
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


@pytest.fixture
def ledger(db_url: str):
    with Ledger(db_url) as opened:
        yield opened


def _engine(url: str) -> sa.Engine:
    """A plain engine on the ledger's database (no ledger set-up, no migration)."""
    return sa.create_engine(url)


def _table_names(url: str) -> set[str]:
    engine = _engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _order(coid: str = "pt-20251230-AAPL-buy-1", **changes) -> dict:
    row = {"client_order_id": coid, "trade_date": DAY, "round": 1, "run_id": "manual__2025-12-30",
           "mode": "real", "env": "paper", "symbol": "AAPL", "side": "buy", "qty": 10.0, "planned_qty": 10.0,
           "order_type": "market", "order_class": "simple", "time_in_force": "day", "tp_price": None,
           "sl_price": None, "ref_price": 250.5, "notional": 2505.0, "status": "new", "broker_order_id": None,
           "submitted_at": dt.datetime(2025, 12, 30, 15, 0, 1, tzinfo=dt.UTC), "last_error": None}
    row.update(changes)
    return row


def _alembic_config():
    """The Alembic configuration `Ledger._migrate` builds: same scripts, same version table."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(store.MIGRATIONS))
    cfg.attributes["version_table"] = store.VERSION_TABLE
    return cfg


# ------------------------------------------------------------------------------------ migrations

def test_new_database_is_migrated_to_the_latest_revision(ledger: Ledger, db_url: str) -> None:
    assert ledger.revision() == "0003"
    names = _table_names(db_url)
    assert names >= TABLES
    assert "alembic_version" not in names  # Airflow's name: the ledger must not take it


def test_airflow_alembic_version_table_is_left_untouched(db_url: str) -> None:
    engine = _engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES ('29ce7909c52b')")
    with Ledger(db_url) as ledger:
        assert ledger.revision() == "0003"
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == ["29ce7909c52b"]
        assert conn.exec_driver_sql(f"SELECT version_num FROM {store.VERSION_TABLE}").scalars().all() == ["0003"]
    engine.dispose()


def test_database_at_previous_revision_is_upgraded_on_open_keeping_its_rows(db_url: str) -> None:
    from alembic import command

    engine = _engine(db_url)
    with engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        assert conn.exec_driver_sql(f"SELECT version_num FROM {store.VERSION_TABLE}").scalar_one() == "0001"
        conn.execute(sa.insert(metadata.tables["orders"]).values(**_order(), updated_at=dt.datetime(
            2025, 12, 30, 15, 0, 2, tzinfo=dt.UTC)))
        conn.execute(sa.insert(metadata.tables["runs"]).values(
            run_id="r1", trade_date=DAY, step="execute", mode="real", round=1, outcome="success",
            started_at=dt.datetime(2025, 12, 30, 15, tzinfo=dt.UTC)))
    assert "locks" not in _table_names(db_url)
    engine.dispose()

    with Ledger(db_url) as ledger:
        assert ledger.revision() == "0003"
        assert "locks" in _table_names(db_url)
        assert ledger.order("pt-20251230-AAPL-buy-1")["qty"] == 10.0
        assert [r["outcome"] for r in ledger.runs(DAY)] == ["success"]


def test_migrations_create_exactly_the_schema_of_schema_py(ledger: Ledger) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with ledger.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": store.VERSION_TABLE, "compare_type": True,
                                                         "compare_server_default": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


# -------------------------------------------------------------------------------------- upserts

def test_upserting_an_order_twice_keeps_one_row_with_the_second_values(ledger: Ledger) -> None:
    ledger.upsert_orders([_order(status="new")])
    ledger.upsert_orders([_order(status="filled", qty=7.0, broker_order_id="b-1", filled_qty=7.0,
                                 filled_avg_price=251.0)])
    rows = ledger.orders(DAY)
    assert len(rows) == 1
    assert (rows[0]["status"], rows[0]["qty"], rows[0]["broker_order_id"], rows[0]["filled_avg_price"]) == \
        ("filled", 7.0, "b-1", 251.0)
    assert rows[0]["updated_at"].tzinfo is not None


def test_record_run_started_then_outcome_gives_one_closed_row(ledger: Ledger) -> None:
    ledger.record_run("r1", DAY, "execute", "real", "running", started=True)
    opened = ledger.run("r1", DAY, "execute")
    assert opened["outcome"] == "running" and opened["ended_at"] is None
    ledger.record_run("r1", DAY, "execute", "real", "success", detail='{"orders": 3}')
    rows = ledger.runs(DAY)
    assert len(rows) == 1
    assert rows[0]["outcome"] == "success" and rows[0]["ended_at"] is not None
    assert rows[0]["detail"] == '{"orders": 3}'
    assert rows[0]["started_at"] == opened["started_at"]


def test_re_recording_the_same_step_replaces_its_row(ledger: Ledger) -> None:
    for attempt in range(3):
        ledger.record_run("r1", DAY, "execute", "real", "running", started=True)
        ledger.record_run("r1", DAY, "execute", "real", "failed" if attempt < 2 else "success")
    ledger.record_run("r1", DAY, "plan", "real", "success")  # closed without being opened: inserted once
    ledger.record_run("r1", DAY, "plan", "real", "success")
    rows = ledger.runs(DAY)
    assert sorted((r["step"], r["outcome"]) for r in rows) == [("execute", "success"), ("plan", "success")]


def test_an_upsert_that_fails_midway_writes_none_of_its_rows(ledger: Ledger) -> None:
    bad = _order("pt-20251230-MSFT-buy-1", symbol="MSFT")
    bad["status"] = None  # NOT NULL: the second row fails after the first was written
    with pytest.raises(sa.exc.IntegrityError):
        ledger.upsert_orders([_order(), bad])
    assert ledger.orders() == []


def test_an_exception_inside_a_transaction_leaves_the_ledger_as_it_was(ledger: Ledger) -> None:
    ledger.upsert_orders([_order(status="new")])
    with pytest.raises(RuntimeError), ledger.engine.begin() as conn:
        ledger._upsert(conn, metadata.tables["orders"],
                       [_order(f"pt-20251230-X{i:03d}-buy-1", updated_at=store.utcnow()) for i in range(200)],
                       ["client_order_id"])
        conn.execute(sa.update(metadata.tables["orders"]).values(status="filled"))
        raise RuntimeError("killed mid-write")
    assert [(r["client_order_id"], r["status"]) for r in ledger.orders()] == [("pt-20251230-AAPL-buy-1", "new")]


# --------------------------------------------------------------------------------------- exports

def test_export_execution_log_writes_the_spec_columns_one_row_per_order(ledger: Ledger, tmp_path: Path) -> None:
    ledger.upsert_orders([
        _order(),
        _order("pt-20251230-MSFT-sell-1", symbol="MSFT", side="sell", qty=3.0, order_type="bracket",
               tp_price=520.0, sl_price=480.0, ref_price=500.0, notional=1500.0, status="rejected",
               last_error="insufficient qty", submitted_at=None),
    ])
    path = tmp_path / "out" / "execution_log.csv"
    assert ledger.export_execution_log(path) == 2
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames == ["datetime", "env", "mode", "symbol", "side", "qty", "order_type", "tp_price",
                                 "sl_price", "ref_price", "notional", "client_order_id", "status", "order_id",
                                 "error"]
    assert [r["client_order_id"] for r in rows] == ["pt-20251230-AAPL-buy-1", "pt-20251230-MSFT-sell-1"]
    aapl, msft = rows
    assert aapl["datetime"] == "2025-12-30T15:00:01+00:00"
    assert (aapl["env"], aapl["mode"], aapl["symbol"], aapl["side"], aapl["qty"], aapl["order_type"]) == \
        ("paper", "real", "AAPL", "buy", "10", "market")
    assert (aapl["tp_price"], aapl["sl_price"], aapl["order_id"], aapl["error"]) == ("", "", "", "")
    assert (msft["tp_price"], msft["sl_price"], msft["ref_price"], msft["notional"]) == ("520", "480", "500", "1500")
    assert (msft["status"], msft["error"]) == ("rejected", "insufficient qty")
    assert dt.datetime.fromisoformat(msft["datetime"]).tzinfo is not None  # updated_at when never submitted


def test_export_execution_log_after_re_runs_has_no_duplicates_and_no_temp_file(ledger: Ledger,
                                                                               tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = out / "execution_log.csv"
    for status in ("new", "accepted", "filled"):  # the same step re-run three times
        ledger.upsert_orders([_order(status=status), _order("pt-20251230-MSFT-buy-1", symbol="MSFT")])
        assert ledger.export_execution_log(path) == 2
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["client_order_id"], r["status"]) for r in rows) == [
        ("pt-20251230-AAPL-buy-1", "filled"), ("pt-20251230-MSFT-buy-1", "new")]
    assert [p.name for p in out.iterdir()] == ["execution_log.csv"]  # no temporary file left beside it


def test_export_execution_log_that_fails_keeps_the_previous_file(ledger: Ledger, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    path = out / "execution_log.csv"
    ledger.upsert_orders([_order()])
    ledger.export_execution_log(path)
    before = path.read_bytes()
    ledger.upsert_orders([_order("pt-20251230-MSFT-buy-1", symbol="MSFT")])

    def disk_full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        ledger.export_execution_log(path)
    assert path.read_bytes() == before
    assert [p.name for p in out.iterdir()] == ["execution_log.csv"]


# ----------------------------------------------------------------------------------------- locks

def test_lock_second_holder_waits_then_gets_ledger_busy(ledger: Ledger) -> None:
    with ledger.lock("execute:real:20251230", "run-a"):
        started = time.monotonic()
        with pytest.raises(LedgerBusy, match="run-a"), ledger.lock("execute:real:20251230", "run-b",
                                                                   wait_s=0.4, poll_s=0.05):
            pytest.fail("the second holder got the lock")
        assert time.monotonic() - started >= 0.4


def test_two_processes_of_one_run_are_two_holders(db_url: str, ledger: Ledger) -> None:
    # the same run id in another process (an overlapping retry, a second CLI)
    with (ledger.lock("execute:real:20251230", "run-a"), Ledger(db_url) as other,
          pytest.raises(LedgerBusy, match="held by run 'run-a'"),
          other.lock("execute:real:20251230", "run-a", wait_s=0.3, poll_s=0.05)):
        pytest.fail("a second process of the same run got the lock")


def test_lock_with_an_expired_lease_is_taken_over(ledger: Ledger) -> None:
    assert ledger.try_lock("execute:real:20251230", "killed-run", lease_s=0.05) is None
    time.sleep(0.1)
    with ledger.lock("execute:real:20251230", "run-b", wait_s=0):  # taken over at once, not waited for
        assert ledger.try_lock("execute:real:20251230", "killed-run", lease_s=300).startswith("run-b#")


def test_lock_is_released_when_the_block_ends(ledger: Ledger) -> None:
    with pytest.raises(RuntimeError), ledger.lock("execute:real:20251230", "run-a"):
        raise RuntimeError("the step failed")
    assert ledger.try_lock("execute:real:20251230", "run-b", lease_s=300) is None


def test_lock_waiter_gets_the_lock_when_the_holder_lets_go(ledger: Ledger) -> None:
    released = threading.Event()

    def hold() -> None:
        with ledger.lock("execute:real:20251230", "run-a"):
            held.set()
            time.sleep(0.3)
        released.set()

    held = threading.Event()
    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    with ledger.lock("execute:real:20251230", "run-b", wait_s=10, poll_s=0.05):
        assert released.is_set()
    holder.join(10)


def test_lock_holder_whose_lease_was_taken_over_does_not_release_the_new_holder(ledger: Ledger) -> None:
    with ledger.lock("execute:real:20251230", "slow-run", lease_s=0.05):
        time.sleep(0.1)  # the lease runs out while the slow run still works
        assert ledger.try_lock("execute:real:20251230", "run-b", lease_s=300) is None
    assert ledger.try_lock("execute:real:20251230", "run-c", lease_s=300) == "run-b"


def _race(db_url: str, name: str, contenders: int) -> dict:
    """`contenders` workers (one engine each, as separate processes have) call try_lock at once."""
    ledgers = [Ledger(db_url) for _ in range(contenders)]
    barrier = threading.Barrier(contenders)
    results: dict[str, object] = {}

    def contend(i: int) -> None:
        barrier.wait()
        try:
            results[f"run-{i}"] = ledgers[i].try_lock(name, f"run-{i}", lease_s=300)
        except BaseException as exc:
            results[f"run-{i}"] = exc

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(contenders)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for opened in ledgers:
            opened.close()
    return results


def _one_winner(results: dict) -> None:
    assert not [r for r in results.values() if isinstance(r, BaseException)], results
    winners = [holder for holder, other in results.items() if other is None]
    assert len(winners) == 1, results


def test_lock_racing_for_an_expired_lock_exactly_one_wins(db_url: str, ledger: Ledger) -> None:
    for round_ in range(3):
        name = f"execute:real:expired{round_}"
        assert ledger.try_lock(name, "killed-run", lease_s=0.01) is None
        time.sleep(0.02)
        _one_winner(_race(db_url, name, 4))


def test_lock_racing_for_a_free_lock_exactly_one_wins(db_url: str, ledger: Ledger) -> None:
    for round_ in range(3):
        results = _race(db_url, f"execute:real:race{round_}", 4)
        _one_winner(results)
        winner = next(holder for holder, other in results.items() if other is None)
        assert all(other == winner for holder, other in results.items() if holder != winner), results


# ---------------------------------------------------------------------------------------- the URL

def _backend_url(backend: str, tmp_path: Path, request, *, password: str | None = None) -> str:
    """A URL of `backend` (PostgreSQL as written by a person: `postgresql://`, no driver)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'elsewhere' / 'ledger.sqlite'}"
    database = request.getfixturevalue("pg_database")
    auth = PG_USER if password is None else f"{PG_USER}:{password}"
    return f"postgresql://{auth}@{PG_HOST}:{PG_PORT}/{database}"


def _other_url(backend: str) -> str:
    return "postgresql://someone@db.invalid/other" if backend == "sqlite" else "sqlite:///data/other.sqlite"


def test_ledger_url_defaults_to_a_sqlite_file_under_data(backend: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # `backend` is the one a deployment would configure; with nothing configured it is SQLite either way
    monkeypatch.delenv(store.URL_ENV, raising=False)
    root = tmp_path / "project"
    url = ledger_url(root, None if backend == "sqlite" else "")
    assert url.get_backend_name() == "sqlite"
    assert Path(url.database) == root / "data" / "ledger.sqlite"
    with Ledger(url) as opened:
        assert opened.revision() == "0003"
    assert (root / "data" / "ledger.sqlite").is_file()


def test_ledger_url_environment_wins_over_the_config(backend: str, tmp_path: Path, request,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.URL_ENV, _backend_url(backend, tmp_path, request))
    url = ledger_url(tmp_path, _other_url(backend))
    assert url.get_backend_name() == backend
    assert url.render_as_string() == make_url(_backend_url(backend, tmp_path, request)).set(
        drivername="postgresql+psycopg" if backend == "postgresql" else "sqlite").render_as_string()


def test_ledger_url_given_url_wins_over_environment_and_config(backend: str, tmp_path: Path, request,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.URL_ENV, _other_url(backend))
    url = ledger_url(tmp_path, _other_url(backend), _backend_url(backend, tmp_path, request))
    assert url.get_backend_name() == backend
    assert url.database == make_url(_backend_url(backend, tmp_path, request)).database


def test_ledger_url_relative_sqlite_path_is_under_the_root(backend: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # from each of the three sources (given, environment, config) by backend: given for sqlite, env for pg
    monkeypatch.delenv(store.URL_ENV, raising=False)
    if backend == "postgresql":
        monkeypatch.setenv(store.URL_ENV, "sqlite:///var/ledger.sqlite")
        url = ledger_url(tmp_path, "postgresql://someone@db.invalid/x")
    else:
        url = ledger_url(tmp_path, None, "sqlite:///var/ledger.sqlite")
    assert Path(url.database) == tmp_path / "var" / "ledger.sqlite"


def test_ledger_url_password_in_the_config_is_a_config_error(backend: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(store.URL_ENV, raising=False)
    # SQLite URLs carry no password; a PostgreSQL URL does, whichever backend the project runs on
    configured = ("postgresql://postgres:hunter2hunter2@127.0.0.1/test" if backend == "postgresql"
                  else "postgresql+psycopg://ledger:hunter2hunter2@db.internal/ledger")
    with pytest.raises(ConfigError, match="password") as raised:
        ledger_url(tmp_path, configured)
    assert "hunter2hunter2" not in str(raised.value)


def test_ledger_url_unsupported_backend_is_a_config_error(backend: str, tmp_path: Path, request,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # mysql from any source is refused, even when a lower-priority source holds a valid `backend` URL
    valid = _backend_url(backend, tmp_path, request)
    mysql = "mysql+pymysql://ledger@db.internal/ledger"
    monkeypatch.delenv(store.URL_ENV, raising=False)
    with pytest.raises(ConfigError, match="mysql"):
        ledger_url(tmp_path, mysql)
    with pytest.raises(ConfigError, match="mysql"):
        ledger_url(tmp_path, valid, mysql)
    monkeypatch.setenv(store.URL_ENV, mysql)
    with pytest.raises(ConfigError, match="mysql"):
        ledger_url(tmp_path, valid)


# ----------------------------------------------------------------------------------- availability

def test_an_unreachable_database_is_ledger_unavailable(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        (tmp_path / "ledger.sqlite").mkdir()  # a directory where the database file should be
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        url = f"postgresql+psycopg://{PG_USER}:closed-port-pw@{PG_HOST}:1/{PG_ADMIN_DB}"  # nothing listens on 1
    with pytest.raises(LedgerUnavailable, match="cannot open") as raised:
        Ledger(url)
    assert "closed-port-pw" not in str(raised.value)


@pytest.fixture
def foreign_time_zone(backend: str, db_url: str):
    """The ledger's URL with a session time zone that is not UTC: PostgreSQL's TimeZone setting (it
    hands timestamptz back in it), or the process's local zone for SQLite."""
    if backend == "postgresql":
        yield db_url.replace("?options=", "?options=-ctimezone%3DAmerica/New_York%20")
        return
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield db_url
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_order_timestamps_and_the_export_are_utc_whatever_the_session_time_zone(foreign_time_zone: str,
                                                                                tmp_path: Path) -> None:
    with Ledger(foreign_time_zone) as ledger:
        ledger.upsert_orders([_order()])
        submitted = ledger.order("pt-20251230-AAPL-buy-1")["submitted_at"]
        assert submitted == dt.datetime(2025, 12, 30, 15, 0, 1, tzinfo=dt.UTC)
        assert submitted.utcoffset() == dt.timedelta(0)
        ledger.export_execution_log(tmp_path / "out" / "execution_log.csv")
    with (tmp_path / "out" / "execution_log.csv").open(newline="") as fh:
        assert next(csv.DictReader(fh))["datetime"] == "2025-12-30T15:00:01+00:00"


def test_run_timestamps_read_back_are_utc_aware(foreign_time_zone: str) -> None:
    with Ledger(foreign_time_zone) as ledger:
        ledger.record_run("r1", DAY, "execute", "real", "running", started=True)
        ledger.record_run("r1", DAY, "execute", "real", "success")
        for run in (ledger.run("r1", DAY, "execute"), *ledger.runs(DAY)):
            assert run["started_at"].utcoffset() == dt.timedelta(0), run
            assert run["ended_at"].utcoffset() == dt.timedelta(0), run
            assert run["started_at"] <= run["ended_at"] <= store.utcnow()


# ------------------------------------------------------------------------- reading the books


def _books(ledger: Ledger) -> None:
    """Three sessions of books: fills, cash, positions, equity and reconciliation rows."""
    days = [dt.date(2025, 12, 29), dt.date(2025, 12, 30), dt.date(2025, 12, 31)]
    for i, day in enumerate(days):
        t = dt.datetime.combine(day, dt.time(15, 0), dt.UTC)
        fills = [{"activity_id": f"{day:%Y%m%d}-{s}", "trade_date": day, "transaction_time": t,
                  "order_id": f"o-{day}-{s}", "client_order_id": None, "symbol": s, "side": "buy", "qty": 1.0 + i,
                  "price": 10.0 * (i + 1), "fill_type": "fill"} for s in ("AAPL", "MSFT")]
        cash = [{"activity_id": f["activity_id"], "date": day, "activity_type": "FILL", "symbol": f["symbol"],
                 "qty": f["qty"], "price": f["price"], "net_amount": -f["qty"] * f["price"], "description": "buy"}
                for f in fills] + [{"activity_id": f"fee-{day}", "date": day, "activity_type": "FEE", "symbol": None,
                                    "qty": None, "price": None, "net_amount": -1.5, "description": "fee"}]
        positions = [{"trade_date": day, "symbol": s, "qty": 5.0, "close_price": 10.0, "market_value": 50.0,
                      "implied_qty": 5.0} for s in ("AAPL", "MSFT")]
        recon = [{"trade_date": day, "key": f"pt-{day}-{s}", "kind": "order", "symbol": s, "side": "buy",
                  "planned_qty": 1.0, "sent_qty": 1.0, "filled_qty": 1.0, "remaining_qty": 0.0, "status": "filled",
                  "classification": "filled", "ref_price": 10.0, "avg_fill_price": 10.1, "slippage_bps": 100.0,
                  "message": "filled", "alert": False} for s in ("AAPL", "MSFT")]
        recon += [{"trade_date": day, "key": f"position:{s}", "kind": "position", "symbol": s, "side": None,
                   "planned_qty": 5.0, "sent_qty": None, "filled_qty": 5.0, "remaining_qty": 0.0, "status": "ok",
                   "classification": "position_ok", "ref_price": None, "avg_fill_price": None, "slippage_bps": None,
                   "message": "ok", "alert": False} for s in ("AAPL", "MSFT")]
        ledger.write_books(day, fill_rows=fills, cash_rows=cash, positions=positions, recon_rows=recon,
                           equity={"trade_date": day, "equity": 1000.0 + i, "cash": 900.0, "long_market_value": 100.0,
                                   "short_market_value": 0.0, "source": "test"})


def test_table_filters_by_date_range_values_and_columns_in_sql(ledger: Ledger) -> None:
    _books(ledger)
    dec30 = dt.date(2025, 12, 30)
    assert [r["trade_date"] for r in ledger.table("equity_daily", until=dec30)] == [dt.date(2025, 12, 29), dec30]
    assert [r["trade_date"] for r in ledger.table("equity_daily", since=dec30)] == [dec30, dt.date(2025, 12, 31)]
    assert {r["date"] for r in ledger.table("cash_ledger", until=dec30)} == {dt.date(2025, 12, 29), dec30}
    orders = ledger.table("recon", until=dec30, kind="order")
    assert [(r["trade_date"], r["key"]) for r in orders] == [
        (dt.date(2025, 12, 29), "pt-2025-12-29-AAPL"), (dt.date(2025, 12, 29), "pt-2025-12-29-MSFT"),
        (dec30, "pt-2025-12-30-AAPL"), (dec30, "pt-2025-12-30-MSFT")]  # in key order
    assert orders[0]["alert"] is False and orders[0]["slippage_bps"] == 100.0
    narrow = ledger.table("fills", until=dec30, columns=["trade_date", "qty", "price"])
    assert narrow == [{"trade_date": dt.date(2025, 12, 29), "qty": 1.0, "price": 10.0}] * 2 + \
        [{"trade_date": dec30, "qty": 2.0, "price": 20.0}] * 2
    fees = ledger.table("cash_ledger", activity_type=["FEE", "CFEE"], columns=["date", "net_amount"])
    assert fees == [{"date": d, "net_amount": -1.5} for d in (dt.date(2025, 12, 29), dec30, dt.date(2025, 12, 31))]
    assert ledger.table("recon", trade_date=dec30, kind="position", symbol="AAPL")[0]["key"] == "position:AAPL"
    assert ledger.table("fills", until=dt.date(2025, 12, 1)) == []
    # the unfiltered read is unchanged: every row, every column, key order
    everything = ledger.table("recon")
    assert len(everything) == 12 and set(everything[0]) == {c.name for c in metadata.tables["recon"].c}


def test_frame_is_the_table_as_a_dataframe(ledger: Ledger) -> None:
    _books(ledger)
    dec30 = dt.date(2025, 12, 30)
    for name, kwargs in (("fills", {"until": dec30}), ("recon", {}), ("recon", {"kind": "order"}),
                         ("equity_daily", {}), ("positions_eod", {"trade_date": dec30}),
                         ("cash_ledger", {"columns": ["date", "activity_type", "net_amount"], "since": dec30})):
        frame = ledger.frame(name, **kwargs)
        rows = ledger.table(name, **kwargs)
        assert list(frame.columns) == list(rows[0])
        # the same values; a missing one is pandas' own (NaN) in a column of numbers or text
        got = [{k: None if isinstance(v, float) and v != v else v for k, v in r.items()}
               for r in frame.to_dict("records")]
        assert got == rows
    frame = ledger.frame("recon")
    assert frame["slippage_bps"].dtype == float and frame["alert"].dtype == bool
    assert isinstance(frame["trade_date"].iloc[0], dt.date)
    empty = ledger.frame("recon", until=dt.date(2025, 1, 1), columns=["trade_date", "kind"])
    assert empty.empty and list(empty.columns) == ["trade_date", "kind"]


def test_table_refuses_unknown_tables_and_columns(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="no books table 'orders'"):
        ledger.table("orders")
    with pytest.raises(ValueError, match="recon has no column 'nope'"):
        ledger.table("recon", nope=1)
    with pytest.raises(ValueError, match="fills has no column 'nope'"):
        ledger.frame("fills", columns=["qty", "nope"])


def test_creating_a_ledger_logs_no_alembic_info_lines(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    with Ledger(f"sqlite:///{tmp_path / 'new.sqlite'}") as ledger:
        assert ledger.revision() is not None
    said = [r.getMessage() for r in caplog.records if r.name.startswith("alembic")]
    assert said == []
    assert logging.getLogger("alembic").level == logging.NOTSET  # left as it was
