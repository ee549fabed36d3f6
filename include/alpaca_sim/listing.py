"""`python -m alpaca_sim orders`: the simulator's own orders, read from its database file.

The keys of a simulator that `make airflow` or `alpaca_sim run` started are random and live only in
the processes that use them, so a person who wants to see what the broker received cannot ask it
over HTTP. The database file holds the same documents the API answers with; this reads it
read-only (safe while the server runs: SQLite's WAL lets a reader in beside the writer) and prints
one line per order or leg, oldest first, with the time in New York.

    python -m alpaca_sim orders --db data/sim/airflow.sqlite [--date 2025-12-31] [--status open|closed|all]
                                [--symbol AAPL] [--limit 200] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import sys
from pathlib import Path

from .common import loads, parse_time
from .sessions import NY

COLUMNS = ("submitted (New York)", "client_order_id", "symbol", "side", "qty", "type", "class", "status", "filled",
           "avg price", "parent")


def read_orders(db: Path, *, day: dt.date | None = None, status: str = "all", symbol: str | None = None,
                limit: int = 200) -> list[dict]:
    """The orders (and legs) of the simulator's database `db`, oldest first, as the API shapes them."""
    if not db.is_file():
        raise FileNotFoundError(f"{db}: no simulator database here (make airflow uses data/sim/airflow.sqlite)")
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        where, params = ["1=1"], []
        if status == "open":
            where.append("open = 1")
        elif status == "closed":
            where.append("open = 0")
        if symbol:
            where.append("symbol = ?")
            params.append(symbol.upper())
        rows = conn.execute(f"SELECT doc, parent_id FROM orders WHERE {' AND '.join(where)} ORDER BY submitted_at, seq",
                            params).fetchall()
        parents = dict(conn.execute("SELECT id, client_order_id FROM orders WHERE id IN "
                                    "(SELECT DISTINCT parent_id FROM orders WHERE parent_id IS NOT NULL)").fetchall())
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{db}: not a simulator database ({exc})") from None
    finally:
        conn.close()
    docs = [dict(loads(doc), _parent=parents.get(parent, "") if parent else "") for doc, parent in rows]
    if day is not None:
        docs = [d for d in docs if parse_time(d["submitted_at"]).astimezone(NY).date() == day]
    return docs[-limit:] if limit else docs


def _line(doc: dict) -> list[str]:
    at = parse_time(doc["submitted_at"]).astimezone(NY)
    return [f"{at:%Y-%m-%d %H:%M:%S}", doc["client_order_id"], doc["symbol"], doc["side"], doc.get("qty") or "",
            doc.get("type") or doc.get("order_type") or "", doc.get("order_class") or "simple", doc["status"],
            doc.get("filled_qty") or "0", doc.get("filled_avg_price") or "", doc["_parent"]]


def table(docs: list[dict]) -> str:
    lines = [list(COLUMNS), *(_line(d) for d in docs)]
    widths = [max(len(str(r[i])) for r in lines) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alpaca_sim orders", description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("data/sim/airflow.sqlite"),
                        help="the simulator's database (default: data/sim/airflow.sqlite, make airflow's)")
    parser.add_argument("--date", type=dt.date.fromisoformat, help="only orders submitted on this New York date")
    parser.add_argument("--status", choices=("open", "closed", "all"), default="all")
    parser.add_argument("--symbol")
    parser.add_argument("--limit", type=int, default=200, help="the newest N (0: all; default 200)")
    parser.add_argument("--json", action="store_true", help="the orders as the API returns them, one JSON per line")
    args = parser.parse_args(argv)
    try:
        docs = read_orders(args.db, day=args.date, status=args.status, symbol=args.symbol, limit=args.limit)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        for doc in docs:
            print(json.dumps({k: v for k, v in doc.items() if not k.startswith("_")}))
    elif docs:
        print(table(docs))
    else:
        print("no order matches")
    return 0
