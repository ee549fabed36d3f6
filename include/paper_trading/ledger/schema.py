"""The ledger's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

Every table has a natural unique key, so every write is an upsert and re-running a step never
adds a row: `orders` by `client_order_id` (deterministic per date, symbol, side and round),
`runs` by (run id, trade date, step), `locks` by name. The migrations in `migrations/versions`
create exactly these tables; a test checks the two agree.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(250), nullable=False),
    Column("trade_date", Date, nullable=False),
    Column("step", String(40), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("round", Integer, nullable=False, default=1),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("outcome", String(20), nullable=False),  # running | success | failed | refused | unknown
    Column("detail", Text),  # JSON: counts, the approved file's hash, the reason of a failure
    UniqueConstraint("run_id", "trade_date", "step", name="uq_runs_run_date_step"),
)

orders = Table(
    "orders",
    metadata,
    Column("client_order_id", String(48), primary_key=True),
    Column("trade_date", Date, nullable=False),
    Column("round", Integer, nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("mode", String(8), nullable=False),  # real | dry
    Column("env", String(8), nullable=False),  # paper | live
    Column("symbol", String(24), nullable=False),
    Column("side", String(4), nullable=False),
    Column("qty", Float, nullable=False),
    Column("planned_qty", Float),  # what the gate approved (qty may be scaled down for cash)
    Column("order_type", String(16), nullable=False),  # market | limit | bracket | oco | take_profit | stop_loss
    Column("order_class", String(12)),
    Column("time_in_force", String(4)),
    Column("tp_price", Float),
    Column("sl_price", Float),
    Column("ref_price", Float),
    Column("notional", Float),
    Column("status", String(24), nullable=False),
    Column("broker_order_id", String(64), unique=True),
    Column("parent_client_order_id", String(48)),  # bracket / OCO legs point at their parent
    Column("filled_qty", Float),
    Column("filled_avg_price", Float),
    Column("submitted_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text),  # why this order looks the way it does (scaled for cash, re-protection, ...)
    Column("last_error", Text),
    Index("ix_orders_trade_date", "trade_date"),
)

locks = Table(
    "locks",
    metadata,
    Column("name", String(120), primary_key=True),
    Column("holder", String(250), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
