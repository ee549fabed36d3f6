"""The ledger's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

Every table has a natural unique key, so every write is an upsert and re-running a step never
adds a row: `orders` by `client_order_id` (deterministic per date, symbol, side and round),
`runs` by (run id, trade date, step), `locks` by name. The migrations in `migrations/versions`
create exactly these tables; a test checks the two agree.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

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

# ------------------------------------------------------------------------------- M5: the books

fills = Table(
    "fills",
    metadata,
    Column("activity_id", String(80), primary_key=True),
    Column("trade_date", Date, nullable=False),
    Column("transaction_time", DateTime(timezone=True), nullable=False),
    Column("order_id", String(64), nullable=False),  # the broker's order id
    Column("client_order_id", String(128)),  # ours, when the order is in `orders` (else a manual trade)
    Column("symbol", String(24), nullable=False),
    Column("side", String(4), nullable=False),
    Column("qty", Float, nullable=False),
    Column("price", Float, nullable=False),
    Column("fill_type", String(16), nullable=False),  # fill | partial_fill
    Index("ix_fills_trade_date", "trade_date"),
)

positions_eod = Table(
    "positions_eod",
    metadata,
    Column("trade_date", Date, primary_key=True),
    Column("symbol", String(24), primary_key=True),
    Column("qty", Float, nullable=False),
    Column("close_price", Float),
    Column("market_value", Float),
    Column("implied_qty", Float),  # what the ledger implies (previous end of day + the day's fills)
)

cash_ledger = Table(
    "cash_ledger",
    metadata,
    Column("activity_id", String(80), primary_key=True),
    Column("date", Date, nullable=False),
    Column("activity_type", String(12), nullable=False),  # FILL, DIV, FEE, JNLC, CSD, ...
    Column("symbol", String(24)),
    Column("qty", Float),
    Column("price", Float),
    Column("net_amount", Float, nullable=False),  # signed: what it did to cash
    Column("description", Text),
    Index("ix_cash_ledger_date", "date"),
)

equity_daily = Table(
    "equity_daily",
    metadata,
    Column("trade_date", Date, primary_key=True),
    Column("equity", Float, nullable=False),
    Column("cash", Float, nullable=False),
    Column("long_market_value", Float, nullable=False),
    Column("short_market_value", Float, nullable=False),
    Column("source", String(40), nullable=False),
)

recon = Table(
    "recon",
    metadata,
    Column("trade_date", Date, primary_key=True),
    Column("key", String(140), primary_key=True),  # client_order_id, gate:side:SYMBOL, position:SYMBOL, cash
    Column("kind", String(12), nullable=False),  # order | leg | manual | position | cash
    Column("symbol", String(24)),
    Column("side", String(4)),
    Column("planned_qty", Float),
    Column("sent_qty", Float),
    Column("filled_qty", Float),
    Column("remaining_qty", Float),
    Column("status", String(24)),
    Column("classification", String(24), nullable=False),
    Column("ref_price", Float),
    Column("avg_fill_price", Float),
    Column("slippage_bps", Float),
    Column("message", Text, nullable=False),
    Column("alert", Boolean, nullable=False),
)
