"""Connecting to the ledger, migrating it, and every read and write the steps make.

Writes are upserts on the tables' natural keys, one transaction per call, so a step re-run for the
same date rewrites its rows instead of adding to them, and a process killed in the middle of a
write leaves the ledger as it was. On SQLite every transaction starts with `BEGIN IMMEDIATE` (one
writer at a time, readers undisturbed in WAL mode), which also makes the first-use migration safe
when two processes start at once; on PostgreSQL the migration takes an advisory lock.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import io
import logging
import os
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, overload

from sqlalchemy import create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError

from paper_trading.atomic import write_text_atomic
from paper_trading.errors import ConfigError, LedgerBusy, LedgerUnavailable
from paper_trading.ledger.schema import (
    cash_ledger,
    equity_daily,
    fills,
    locks,
    orders,
    positions_eod,
    recon,
    runs,
)
from paper_trading.logging_setup import get_logger, register_secret

log = get_logger("ledger")

URL_ENV = "PAPER_TRADING_DB_URL"
DEFAULT_URL = "sqlite:///data/ledger.sqlite"
VERSION_TABLE = "paper_trading_alembic_version"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
EXECUTION_LOG_COLUMNS = ["datetime", "env", "mode", "symbol", "side", "qty", "order_type", "tp_price", "sl_price",
                         "ref_price", "notional", "client_order_id", "status", "order_id", "error"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@overload
def _aware(value: dt.datetime) -> dt.datetime: ...
@overload
def _aware(value: None) -> None: ...
@overload
def _aware(value: dt.datetime | None) -> dt.datetime | None: ...
def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """Every timestamp we write is UTC: SQLite gives it back without its zone, PostgreSQL in the
    session's TimeZone (a server setting); both are handed on in UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def ledger_url(root: Path, configured: str | None = None, given: str | None = None) -> URL:
    """The ledger's URL: the one given (the DAG's Airflow Connection), else `$PAPER_TRADING_DB_URL`,
    else `ledger.url` of the config, else a SQLite file under `data/`. A relative SQLite path is
    relative to the project root. A password may come from the environment or a Connection, never
    from the config file."""
    text, origin = given, "the ledger connection"
    if not text and os.environ.get(URL_ENV):
        text, origin = os.environ[URL_ENV], f"${URL_ENV}"
    if not text:
        text, origin = configured or DEFAULT_URL, "ledger.url in the config" if configured else "the default"
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigError(f"{origin}: not a database URL (expected e.g. sqlite:///data/ledger.sqlite or "
                          "postgresql+psycopg://user@host/db)") from None
    if configured and text == configured and url.password:
        raise ConfigError("ledger.url in the config holds a password; put the URL in $PAPER_TRADING_DB_URL or the "
                          "Airflow Connection 'paper_trading_ledger' instead")
    if url.password:
        register_secret(str(url.password))
        # the password as written in the URL (percent-encoded), which is what a quoted URL shows
        with contextlib.suppress(ValueError):
            register_secret(urllib.parse.urlsplit(text).password)
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"{origin}: the ledger runs on sqlite or postgresql, not {backend}")
    if backend == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and url.database and url.database != ":memory:" and not Path(url.database).is_absolute():
        url = url.set(database=str(root / url.database))
    return url


def _guarded(method):
    """A database that cannot be reached (or is locked past the busy timeout) is `LedgerUnavailable`:
    transient, one line, never the password; a retry of the step finishes the job."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except IntegrityError:
            raise
        except DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise LedgerUnavailable(f"ledger {self.shown}: {reason}") from None

    return call


def _sqlite_setup(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and transactions we begin ourselves (`BEGIN IMMEDIATE`)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # pysqlite must not begin transactions behind our back
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextlib.contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic's INFO lines ("Context impl SQLiteImpl.", "Will assume non-transactional DDL.",
    "Running upgrade ...") say nothing to a person reading a task log: only its warnings pass."""
    logger = logging.getLogger("alembic")
    before = logger.level
    logger.setLevel(max(before, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(before)


def _alembic_config():  # returns alembic.config.Config (imported late)
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["version_table"] = VERSION_TABLE
    return cfg


@functools.cache
def _head_revision() -> str | None:
    """The newest revision of our migrations (read from their scripts once per process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


class Ledger:
    """The ledger at `url` (see `ledger_url`), migrated to the latest schema on first use."""

    def __init__(self, url: URL | str) -> None:
        self.url = make_url(url) if isinstance(url, str) else url
        self.shown = self.url.render_as_string(hide_password=True)
        self.backend = self.url.get_backend_name()
        if self.backend == "sqlite" and self.url.database not in (None, "", ":memory:"):
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"future": True}
        if self.backend == "postgresql":
            kwargs.update(pool_pre_ping=True, connect_args={"connect_timeout": 10})
        self.engine = create_engine(self.url, **kwargs)
        if self.backend == "sqlite":
            _sqlite_setup(self.engine)
        if self.backend == "sqlite" and self.url.database not in (None, "", ":memory:"):
            # Processes opening a new SQLite ledger at once (Airflow tasks of one run) take turns: the
            # first connection turns the file to WAL, which needs it alone, and SQLite answers "database
            # is locked" there without waiting out the busy timeout; the next ones then find the schema
            # at head. PostgreSQL serializes the same with an advisory lock (`_migrate`).
            from paper_trading.atomic import file_lock

            with file_lock(Path(f"{self.url.database}.lock")):
                self._migrate()
        else:
            self._migrate()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.shown})"

    # ------------------------------------------------------------------------------ schema

    def _migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to `revision`. A ledger already at the head costs one read of its
        version: a replay opens the ledger four times a session, and running Alembic's upgrade
        (loading its scripts and environment) each time cost more than most steps' own work."""
        from alembic import command

        try:
            if revision == "head" and self._current_revision() == _head_revision():
                return
            cfg = _alembic_config()
            with self.engine.begin() as conn:
                if self.backend == "postgresql":
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('paper_trading_ledger_migrate'))")
                cfg.attributes["connection"] = conn
                with _quiet_alembic():
                    command.upgrade(cfg, revision)
        except OperationalError as exc:
            raise LedgerUnavailable(f"ledger {self.shown}: cannot open or migrate the database "
                                    f"({str(exc.orig).splitlines()[0] if exc.orig else exc})") from None

    @_guarded
    def revision(self) -> str | None:
        return self._current_revision()

    def _current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn, _quiet_alembic():
            return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()

    # ------------------------------------------------------------------------------ writes

    def _upsert(self, conn, table, rows: list[dict], keys: list[str]) -> None:
        """INSERT ... ON CONFLICT DO UPDATE, one statement per set of columns, executed for all its
        rows at once (a day of 10,000 orders is one round of statements, not 10,000)."""
        if not rows:
            return
        dialect_insert: Callable[..., Any]  # the two dialects' `insert`, each with ON CONFLICT
        if self.backend == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        last = {tuple(row[k] for k in keys): row for row in rows}  # one row per key (PostgreSQL's batched
        groups: dict[tuple[str, ...], list[dict]] = {}               # VALUES may not update a row twice)
        for row in last.values():
            groups.setdefault(tuple(sorted(row)), []).append(row)
        for columns, group in groups.items():
            conn.execute(_upsert_statement(dialect_insert, table, columns, tuple(keys)), group)

    @_guarded
    def upsert_orders(self, rows: Iterable[dict]) -> None:
        """Insert or update orders by client_order_id, all in one transaction."""
        rows = [{**row, "updated_at": row.get("updated_at") or utcnow()} for row in rows]
        if not rows:
            return
        with self.engine.begin() as conn:
            self._upsert(conn, orders, rows, ["client_order_id"])

    @_guarded
    def record_run(self, run_id: str, trade_date: dt.date, step: str, mode: str, outcome: str, *,
                   round_no: int = 1, detail: str | None = None, started: bool = False) -> None:
        """The step's row in `runs`: `started=True` opens it (outcome 'running'), later calls close it."""
        now = utcnow()
        row = {"run_id": run_id, "trade_date": trade_date, "step": step, "mode": mode, "round": round_no,
               "outcome": outcome, "detail": detail}
        row.update({"started_at": now, "ended_at": None} if started else {"ended_at": now})
        with self.engine.begin() as conn:
            if started:
                self._upsert(conn, runs, [row], ["run_id", "trade_date", "step"])
                return
            found = conn.execute(update(runs).where(runs.c.run_id == run_id, runs.c.trade_date == trade_date,
                                                    runs.c.step == step).values(**row)).rowcount
            if not found:
                conn.execute(insert(runs).values(**row, started_at=now))

    # ------------------------------------------------------------------------------- reads

    @_guarded
    def order(self, client_order_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(orders).where(orders.c.client_order_id == client_order_id)).mappings().first()
        return _order_row(row) if row else None

    @_guarded
    def orders(self, trade_date: dt.date | None = None, *, mode: str | None = None,
               round_no: int | None = None) -> list[dict]:
        query = select(orders)
        if trade_date is not None:
            query = query.where(orders.c.trade_date == trade_date)
        if mode is not None:
            query = query.where(orders.c.mode == mode)
        if round_no is not None:
            query = query.where(orders.c.round == round_no)
        with self.engine.connect() as conn:
            return [_order_row(r) for r in _dicts(conn.execute(query.order_by(orders.c.trade_date,
                                                                                orders.c.client_order_id)))]

    @_guarded
    def orders_by_id(self, client_order_ids: list[str]) -> dict[str, dict]:
        """The ledger rows of these client_order_ids (those it has), in one read per 500 ids."""
        out: dict[str, dict] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(client_order_ids), 500):
                chunk = client_order_ids[i:i + 500]
                for row in conn.execute(select(orders).where(orders.c.client_order_id.in_(chunk))).mappings():
                    out[row["client_order_id"]] = _order_row(row)
        return out

    @_guarded
    def order_groups(self, root_ids: list[str]) -> dict[str, list[dict]]:
        """The rows of each bracket or OCO group by its root's client_order_id: the root and its legs
        (a simple order is a group of one)."""
        out: dict[str, list[dict]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(root_ids), 500):
                chunk = root_ids[i:i + 500]
                query = select(orders).where(orders.c.client_order_id.in_(chunk)
                                             | orders.c.parent_client_order_id.in_(chunk))
                for row in _dicts(conn.execute(query.order_by(orders.c.client_order_id))):
                    member = _order_row(row)
                    out.setdefault(member["parent_client_order_id"] or member["client_order_id"], []).append(member)
        return out

    @_guarded
    def unfinished_orders(self, done: frozenset[str] | set[str]) -> list[dict]:
        """Our real orders (and legs) at the broker whose status in the ledger is not in `done`:
        what may still change there on its own (a stop-loss triggering, a DAY order expiring)."""
        query = select(orders).where(orders.c.mode == "real", orders.c.broker_order_id.is_not(None),
                                     orders.c.status.not_in(sorted(done)))
        with self.engine.connect() as conn:
            return [_order_row(r) for r in _dicts(conn.execute(query.order_by(orders.c.client_order_id)))]

    @_guarded
    def run(self, run_id: str, trade_date: dt.date, step: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id, runs.c.trade_date == trade_date,
                                                  runs.c.step == step)).mappings().first()
        return _run_row(row) if row else None

    @_guarded
    def runs(self, trade_date: dt.date | None = None) -> list[dict]:
        query = select(runs) if trade_date is None else select(runs).where(runs.c.trade_date == trade_date)
        with self.engine.connect() as conn:
            return [_run_row(r) for r in conn.execute(query.order_by(runs.c.id)).mappings().all()]

    # ------------------------------------------------------------------------------- locks

    @_guarded
    def try_lock(self, name: str, holder: str, lease_s: float) -> str | None:
        """Take (or renew) the lock `name` for `holder`; None if held now, else the other holder.

        A lock whose lease ran out (its holder was killed) is taken over; its own holder renews it.
        """
        now = utcnow()
        values = {"holder": holder, "acquired_at": now, "expires_at": now + dt.timedelta(seconds=lease_s)}
        try:
            with self.engine.begin() as conn:
                row = conn.execute(select(locks).where(locks.c.name == name)).mappings().first()
                if row is None:
                    conn.execute(insert(locks).values(name=name, **values))
                    return None
                if row["holder"] != holder and _aware(row["expires_at"]) > now:
                    return row["holder"]
                taken = conn.execute(update(locks).where(locks.c.name == name, locks.c.holder == row["holder"],
                                                         locks.c.expires_at == row["expires_at"]).values(**values))
                return None if taken.rowcount == 1 else row["holder"]
        except IntegrityError:  # another process inserted it first (PostgreSQL)
            return self.try_lock(name, holder, lease_s) if lease_s > 0 else holder

    @_guarded
    def unlock(self, name: str, holder: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(locks).where(locks.c.name == name, locks.c.holder == holder))

    @contextlib.contextmanager
    def lock(self, name: str, run_id: str, *, wait_s: float = 30.0, lease_s: float = 300.0,
             poll_s: float = 0.5) -> Iterator[Callable[[], None]]:
        """Hold `name` for the duration of the block, waiting up to `wait_s` for another holder;
        `LedgerBusy` if it does not let go. The holder is this process (two processes of one run are
        two holders); a killed holder's lock is taken over once its lease has run out. Yields
        `keep_alive`: call it during long work — it renews the lease (at most every quarter lease)
        and raises `LedgerBusy` if the lock was lost."""
        holder = f"{run_id}#{os.getpid()}-{uuid.uuid4().hex[:8]}"
        deadline = time.monotonic() + wait_s
        while (other := self.try_lock(name, holder, lease_s)) is not None:
            if time.monotonic() >= deadline:
                raise LedgerBusy(
                    f"ledger lock {name!r} is held by run {other.split('#')[0]!r}; waited {wait_s:g} s. It "
                    "is released when that run ends (or when its lease runs out if it was killed)"
                )
            log.info("waiting for lock %s held by run %s", name, other.split("#")[0])
            time.sleep(poll_s)
        renewed = [time.monotonic()]

        def keep_alive() -> None:
            if time.monotonic() - renewed[0] < lease_s / 4:
                return
            if (other := self.try_lock(name, holder, lease_s)) is not None:
                raise LedgerBusy(
                    f"ledger lock {name!r} was lost to run {other.split('#')[0]!r} (this run stalled past "
                    f"its {lease_s:g} s lease); stopping before sending anything else"
                )
            renewed[0] = time.monotonic()

        try:
            yield keep_alive
        finally:
            self.unlock(name, holder)

    # -------------------------------------------------------------------------- M5: the books

    @_guarded
    def write_books(
        self,
        day: dt.date,
        *,
        fill_rows: list[dict],
        cash_rows: list[dict],
        positions: list[dict],
        equity: dict,
        recon_rows: list[dict],
    ) -> None:
        """One reconciliation of `day`, in one transaction: fills and cash activities upserted by
        activity id; the day's end-of-day positions and reconciliation rows replaced as a whole (a
        re-run rewrites them, never adds); the day's equity upserted."""
        with self.engine.begin() as conn:
            self._upsert(conn, fills, fill_rows, ["activity_id"])
            self._upsert(conn, cash_ledger, cash_rows, ["activity_id"])
            conn.execute(delete(positions_eod).where(positions_eod.c.trade_date == day))
            if positions:
                conn.execute(insert(positions_eod), positions)
            self._upsert(conn, equity_daily, [equity], ["trade_date"])
            conn.execute(delete(recon).where(recon.c.trade_date == day))
            if recon_rows:
                conn.execute(insert(recon), recon_rows)

    @_guarded
    def positions_before(self, day: dt.date) -> tuple[dt.date | None, dict[str, float]]:
        """The latest end-of-day positions before `day` (its date, and symbol -> qty)."""
        with self.engine.connect() as conn:
            last = conn.execute(
                select(positions_eod.c.trade_date)
                .where(positions_eod.c.trade_date < day)
                .order_by(positions_eod.c.trade_date.desc())
                .limit(1)
            ).scalar()
            if last is None:
                last = conn.execute(
                    select(equity_daily.c.trade_date)
                    .where(equity_daily.c.trade_date < day)
                    .order_by(equity_daily.c.trade_date.desc())
                    .limit(1)
                ).scalar()
                return last, {}
            rows = conn.execute(
                select(positions_eod.c.symbol, positions_eod.c.qty).where(positions_eod.c.trade_date == last)
            ).all()
        return last, {r.symbol: r.qty for r in rows}

    @_guarded
    def equity_on(self, day: dt.date) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(equity_daily).where(equity_daily.c.trade_date == day)).mappings().first()
        return dict(row) if row else None

    @_guarded
    def cash_between(self, after: dt.date, until: dt.date) -> float:
        """The sum of the cash ledger's amounts dated in (after, until]."""
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(cash_ledger.c.net_amount), 0.0)).where(
                    cash_ledger.c.date > after, cash_ledger.c.date <= until
                )
            ).scalar()
        return float(total or 0.0)

    def _books_query(
        self,
        name: str,
        until: dt.date | None,
        since: dt.date | None,
        columns: Iterable[str] | None,
        where: dict[str, Any],
    ):
        if name not in BOOKS:
            raise ValueError(f"no books table {name!r}; expected one of {', '.join(BOOKS)}")
        table = BOOKS[name]
        names = list(columns) if columns is not None else None
        for column in (names or []) + list(where):
            if column not in table.c:
                raise ValueError(f"{name} has no column {column!r}")
        query = select(*(table.c[c] for c in names)) if names else select(table)
        for column, value in where.items():
            if isinstance(value, (list, tuple, set, frozenset)):
                query = query.where(table.c[column].in_(list(value)))
            else:
                query = query.where(table.c[column] == value)
        day = table.c[BOOK_DATES[name]]
        if until is not None:
            query = query.where(day <= until)
        if since is not None:
            query = query.where(day >= since)
        return query.order_by(*table.primary_key.columns)

    @_guarded
    def table(
        self,
        name: str,
        *,
        until: dt.date | None = None,
        since: dt.date | None = None,
        columns: Iterable[str] | None = None,
        **where,
    ) -> list[dict]:
        """The rows of one of the books' tables (for exports, reports and tests), in key order,
        filtered in SQL: `column=value` by equality (a list, tuple or set: any of its values),
        `until`/`since` on the table's date (`trade_date`; `date` for the cash ledger), both
        inclusive; `columns`: only these (all by default)."""
        query = self._books_query(name, until, since, columns, where)
        with self.engine.connect() as conn:
            return _dicts(conn.execute(query))

    @_guarded
    def frame(
        self,
        name: str,
        *,
        until: dt.date | None = None,
        since: dt.date | None = None,
        columns: Iterable[str] | None = None,
        **where,
    ):
        """`table(...)` as a pandas DataFrame, built column by column (no dict per row): the same
        filters, rows and values (dates as `datetime.date` objects; a missing value is pandas' own,
        NaN, in a column of numbers or text), the columns in the table's order (or `columns`'); empty
        with those columns if no row matches."""
        import pandas as pd

        query = self._books_query(name, until, since, columns, where)
        with self.engine.connect() as conn:
            result = conn.execute(query)
            keys = list(result.keys())
            rows = result.all()
        if not rows:
            return pd.DataFrame({k: pd.Series(dtype=object) for k in keys}, columns=keys)
        return pd.DataFrame(dict(zip(keys, (list(c) for c in zip(*rows)))), columns=keys)

    @_guarded
    def broker_ids(self, only: Iterable[str] | None = None) -> dict[str, dict]:
        """broker order id -> our order (client_order_id, status, type, parent, date): one narrow read
        (of the orders with the broker ids in `only`, if given; one read per 500)."""
        columns = [
            orders.c.broker_order_id,
            orders.c.client_order_id,
            orders.c.status,
            orders.c.order_type,
            orders.c.parent_client_order_id,
            orders.c.trade_date,
        ]
        query = select(*columns).where(orders.c.broker_order_id.is_not(None))
        with self.engine.connect() as conn:
            if only is None:
                return {r["broker_order_id"]: r for r in _dicts(conn.execute(query))}
            ids, out = sorted(set(only)), {}
            for i in range(0, len(ids), 500):
                out.update(
                    {
                        r["broker_order_id"]: r
                        for r in _dicts(conn.execute(query.where(orders.c.broker_order_id.in_(ids[i : i + 500]))))
                    }
                )
            return out

    # ------------------------------------------------------------------------------ exports

    @_guarded
    def export_execution_log(self, path: Path) -> int:
        """`execution_log.csv` (the spec's columns): every order of the ledger, one row each, written
        atomically. Returns the number of rows."""
        rows = self.orders()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(EXECUTION_LOG_COLUMNS)
        for r in rows:
            when = r["submitted_at"] or r["updated_at"]
            writer.writerow(
                [
                    when.isoformat() if when else "",
                    r["env"],
                    r["mode"],
                    r["symbol"],
                    r["side"],
                    _num(r["qty"]),
                    r["order_type"],
                    _num(r["tp_price"]),
                    _num(r["sl_price"]),
                    _num(r["ref_price"]),
                    _num(r["notional"]),
                    r["client_order_id"],
                    r["status"],
                    r["broker_order_id"] or "",
                    r["last_error"] or "",
                ]
            )
        write_text_atomic(path, buffer.getvalue())
        return len(rows)


#: The books' tables (what `Ledger.table` and `Ledger.frame` read), and the date column of each.
BOOKS = {
    "fills": fills,
    "positions_eod": positions_eod,
    "cash_ledger": cash_ledger,
    "equity_daily": equity_daily,
    "recon": recon,
}
BOOK_DATES = {
    "fills": "trade_date",
    "positions_eod": "trade_date",
    "cash_ledger": "date",
    "equity_daily": "trade_date",
    "recon": "trade_date",
}


@functools.lru_cache(maxsize=256)
def _upsert_statement(dialect_insert, table, columns: tuple[str, ...], keys: tuple[str, ...]):
    """The INSERT ... ON CONFLICT statement for one set of columns, built once: building it (the
    `excluded` pseudo-table proxies every column of the table) cost more than executing it."""
    stmt = dialect_insert(table)
    changed = {c: stmt.excluded[c] for c in columns if c not in keys}
    return (
        stmt.on_conflict_do_update(index_elements=list(keys), set_=changed)
        if changed
        else stmt.on_conflict_do_nothing(index_elements=list(keys))
    )


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.10g}"


def _dicts(result) -> list[dict]:
    """Rows as dicts, the keys looked up once (a mapping per row costs more than the query)."""
    keys = list(result.keys())
    return [dict(zip(keys, row)) for row in result.all()]


def _run_row(row: Any) -> dict:
    out = dict(row)
    for key in ("started_at", "ended_at"):
        out[key] = _aware(out[key])
    return out


def _order_row(row: Any) -> dict:
    out = dict(row)
    for key in ("submitted_at", "updated_at"):
        out[key] = _aware(out[key])
    return out
