"""Durable state of the simulator in one SQLite file.

Every mutation of a request happens in one transaction (`with store.tx():`), so a crash or a
restart never leaves half an order: a restarted server continues with the same account, orders,
positions, activities and clock. Orders and activities are stored as JSON documents (the API
shape) beside the few columns that queries filter on.

The meta values, the asset documents, the positions and the open orders, read on nearly every
request (the open orders at every instant the clock passes), are also kept in memory as last
written: the server is this file's only writer (one process, one event loop), so the copy is what
the file holds; a rolled-back transaction drops it.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .common import dumps, loads, opens_position

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bars (
    symbol TEXT NOT NULL, date TEXT NOT NULL, o TEXT, h TEXT, l TEXT, c TEXT, v INTEGER, n INTEGER, vw TEXT,
    PRIMARY KEY (symbol, date));
CREATE TABLE IF NOT EXISTS assets (symbol TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    client_order_id TEXT NOT NULL UNIQUE,
    parent_id TEXT,
    symbol TEXT NOT NULL,
    status TEXT NOT NULL,
    open INTEGER NOT NULL,
    submitted_at TEXT NOT NULL,
    doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_open ON orders (open, symbol);
CREATE INDEX IF NOT EXISTS orders_parent ON orders (parent_id);
CREATE INDEX IF NOT EXISTS orders_submitted ON orders (submitted_at, seq);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, qty TEXT NOT NULL, cost_basis TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS activities (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    activity_type TEXT NOT NULL,
    at TEXT NOT NULL,
    doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS equity_history (date TEXT PRIMARY KEY, equity TEXT NOT NULL);
"""


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        # an index of an earlier version, on whether an order can hold buying power: the open orders
        # are now kept in memory (`open_orders`), and the index only cost every write
        self.conn.execute("DROP INDEX IF EXISTS orders_opening")
        self._depth = 0
        #: Order changes of the open transaction, handed to `on_commit` once it commits (a change
        #: rolled back was never true, so it is never streamed): [(order doc, fill activity or None)].
        self.changes: list[list] = []
        self.on_commit: Any = None
        self._meta: dict[str, str | None] = {}
        self._assets: dict[str, dict | None] = {}
        self._positions: dict[str, tuple[str, str]] | None = None
        #: The open orders by id, in the order they were made (`seq`), as rows of the table.
        self._open: dict[str, dict[str, Any]] | None = None

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction; nested uses join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            self.changes = []
            self._meta.clear()
            self._assets.clear()
            self._positions = None
            self._open = None
            raise
        else:
            self.conn.execute("COMMIT")
            changes, self.changes = self.changes, []
            if changes and self.on_commit is not None:
                try:
                    self.on_commit(changes)
                except Exception:  # the request did commit: a stream that fails must not turn it into a 500
                    logging.getLogger("alpaca_sim").exception("streaming the order changes failed")
        finally:
            self._depth = 0

    # ------------------------------------------------------------------------------------ meta

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under `key` (a fresh object each call: callers may change it)."""
        if key not in self._meta:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            self._meta[key] = None if row is None else row["value"]
        text = self._meta[key]
        return default if text is None else loads(text)

    def put(self, key: str, value: Any) -> None:
        text = dumps(value)
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, text),
        )
        self._meta[key] = text

    # ---------------------------------------------------------------------------------- assets

    def asset(self, symbol: str) -> dict | None:
        """The stored asset document of `symbol` (a copy each call: callers may change it), or None."""
        doc = self._asset(symbol)
        return None if doc is None else {k: list(v) if isinstance(v, list) else v for k, v in doc.items()}

    def asset_field(self, symbol: str, field: str, default: Any = None) -> Any:
        """One field of the stored asset document (no copy: for the hot paths that read one flag)."""
        doc = self._asset(symbol)
        return default if doc is None else doc.get(field, default)

    def _asset(self, symbol: str) -> dict | None:
        if symbol not in self._assets:
            row = self.conn.execute("SELECT doc FROM assets WHERE symbol = ?", (symbol,)).fetchone()
            self._assets[symbol] = None if row is None else loads(row["doc"])
        return self._assets[symbol]

    def assets(self) -> list[dict]:
        return [loads(row["doc"]) for row in self.conn.execute("SELECT doc FROM assets ORDER BY symbol")]

    def put_asset(self, symbol: str, doc: dict) -> None:
        text = dumps(doc)
        self.conn.execute("INSERT INTO assets (symbol, doc) VALUES (?, ?) ON CONFLICT(symbol) DO UPDATE SET "
                          "doc = excluded.doc", (symbol, text))
        self._assets[symbol] = loads(text)

    # ---------------------------------------------------------------------------------- orders

    def insert_order(self, doc: dict, parent_id: str | None, is_open: bool) -> None:
        text = dumps(doc)
        seq = self.conn.execute(
            "INSERT INTO orders (id, client_order_id, parent_id, symbol, status, open, submitted_at, doc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (doc["id"], doc["client_order_id"], parent_id, doc["symbol"], doc["status"], int(is_open),
             doc["submitted_at"], text),
        ).lastrowid
        if is_open and self._open is not None:
            self._open[doc["id"]] = {"seq": seq, "id": doc["id"], "parent_id": parent_id, "symbol": doc["symbol"],
                                     "opens": opens_position(doc), "doc": text}
        self.changes.append([dict(doc), None])

    def update_order(self, doc: dict, is_open: bool) -> None:
        text = dumps(doc)
        self.conn.execute(
            "UPDATE orders SET status = ?, open = ?, doc = ? WHERE id = ?",
            (doc["status"], int(is_open), text, doc["id"]),
        )
        if self._open is not None:
            if not is_open:
                self._open.pop(doc["id"], None)
            elif (row := self._open.get(doc["id"])) is not None:
                row["doc"] = text
            else:  # (an order is never opened again; read the book afresh rather than guess its place)
                self._open = None
        self.changes.append([dict(doc), None])

    def open_orders(self, symbol: str | None = None, group: str | None = None, parent: str | None = None,
                    opening: bool = False) -> list[dict[str, Any]]:
        """The open orders (rows with `seq`, `id`, `parent_id`, `symbol`, `opens` and the JSON `doc`;
        the book's own, not to be changed: a row whose order changes later shows its new `doc`),
        oldest first: of `symbol`; of the `group` whose root has that id (the root and its legs);
        the legs of `parent`; only those that open a position (`opening`: `opens_position`). From
        memory: matching reads them at every instant the clock passes."""
        rows = self._book().values()
        if symbol is None and group is None and parent is None and not opening:
            return list(rows)
        return [row for row in rows
                if (symbol is None or row["symbol"] == symbol)
                and (group is None or row["id"] == group or row["parent_id"] == group)
                and (parent is None or row["parent_id"] == parent)
                and (not opening or row["opens"])]

    def open_order(self, order_id: str) -> dict[str, Any] | None:
        """The open order `order_id` as `open_orders` gives it, or None once it is closed."""
        return self._book().get(order_id)

    def _book(self) -> dict[str, dict[str, Any]]:
        if self._open is None:
            self._open = {row["id"]: {**row, "opens": opens_position(loads(row["doc"]))} for row in self.conn.execute(
                "SELECT seq, id, parent_id, symbol, doc FROM orders WHERE open = 1 ORDER BY seq")}
        return self._open

    def order_rows(self, where: str = "1=1", params: tuple = (), order: str = "seq",
                   limit: int | None = None) -> list[sqlite3.Row]:
        if limit is not None:
            where, params = f"{where} ORDER BY {order} LIMIT ?", (*params, limit)
        else:
            where = f"{where} ORDER BY {order}"
        return self.conn.execute(f"SELECT * FROM orders WHERE {where}", params).fetchall()

    # -------------------------------------------------------------------------------- positions

    def positions(self) -> dict[str, tuple[str, str]]:
        """{symbol: (qty, cost basis)}, by symbol (a copy: callers may change it)."""
        return dict(sorted(self._position_map().items()))

    def position(self, symbol: str) -> tuple[str, str] | None:
        return self._position_map().get(symbol)

    def _position_map(self) -> dict[str, tuple[str, str]]:
        if self._positions is None:
            self._positions = {r["symbol"]: (r["qty"], r["cost_basis"])
                               for r in self.conn.execute("SELECT * FROM positions ORDER BY symbol")}
        return self._positions

    def set_position(self, symbol: str, qty: str, cost_basis: str) -> None:
        if qty in ("0", "0.0") or float(qty) == 0:
            self.conn.execute("DELETE FROM positions WHERE symbol = ?", (symbol,))
            if self._positions is not None:
                self._positions.pop(symbol, None)
        else:
            if self._positions is not None:
                self._positions[symbol] = (qty, cost_basis)
            self.conn.execute(
                "INSERT INTO positions (symbol, qty, cost_basis) VALUES (?, ?, ?) "
                "ON CONFLICT(symbol) DO UPDATE SET qty = excluded.qty, cost_basis = excluded.cost_basis",
                (symbol, qty, cost_basis),
            )

    # ------------------------------------------------------------------------------- activities

    def add_activity(self, doc: dict, at: str) -> None:
        if doc["activity_type"] == "FILL":  # the fill that made the order's latest change
            change = next((c for c in reversed(self.changes) if c[0]["id"] == doc["order_id"] and c[1] is None), None)
            if change is not None:
                change[1] = {**doc, "position_qty": (self.position(doc["symbol"]) or ("0", ""))[0]}
        self.conn.execute(
            "INSERT INTO activities (id, activity_type, at, doc) VALUES (?, ?, ?, ?)",
            (doc["id"], doc["activity_type"], at, dumps(doc)),
        )

    def reset_trading_state(self) -> None:
        for table in ("orders", "positions", "activities", "equity_history"):
            self.conn.execute(f"DELETE FROM {table}")
        self._positions = None
        self._open = None

    def close(self) -> None:
        self.conn.close()

