"""The ledger database: the system of record of what the system did (M4) and what really happened
(M5). SQLAlchemy Core on SQLite (the embedded default, a file under `data/`, WAL mode) or
PostgreSQL (deployment); the schema is versioned with Alembic and brought up to date on first use.

`schema.py` holds the tables, `store.py` the connection, the upserts, the lock and the exports.
"""

from paper_trading.ledger.store import DEFAULT_URL, Ledger, ledger_url

__all__ = ["DEFAULT_URL", "Ledger", "ledger_url"]
