"""the books (M5): fills, end-of-day positions, the cash ledger, daily equity, the reconciliation

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fills",
        sa.Column("activity_id", sa.String(80), primary_key=True),
        sa.Column("trade_date", sa.Date, nullable=False),
        sa.Column("transaction_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("client_order_id", sa.String(128)),
        sa.Column("symbol", sa.String(24), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", sa.Float, nullable=False),
        sa.Column("price", sa.Float, nullable=False),
        sa.Column("fill_type", sa.String(16), nullable=False),
    )
    op.create_index("ix_fills_trade_date", "fills", ["trade_date"])
    op.create_table(
        "positions_eod",
        sa.Column("trade_date", sa.Date, primary_key=True),
        sa.Column("symbol", sa.String(24), primary_key=True),
        sa.Column("qty", sa.Float, nullable=False),
        sa.Column("close_price", sa.Float),
        sa.Column("market_value", sa.Float),
        sa.Column("implied_qty", sa.Float),
    )
    op.create_table(
        "cash_ledger",
        sa.Column("activity_id", sa.String(80), primary_key=True),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("activity_type", sa.String(12), nullable=False),
        sa.Column("symbol", sa.String(24)),
        sa.Column("qty", sa.Float),
        sa.Column("price", sa.Float),
        sa.Column("net_amount", sa.Float, nullable=False),
        sa.Column("description", sa.Text),
    )
    op.create_index("ix_cash_ledger_date", "cash_ledger", ["date"])
    op.create_table(
        "equity_daily",
        sa.Column("trade_date", sa.Date, primary_key=True),
        sa.Column("equity", sa.Float, nullable=False),
        sa.Column("cash", sa.Float, nullable=False),
        sa.Column("long_market_value", sa.Float, nullable=False),
        sa.Column("short_market_value", sa.Float, nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
    )
    op.create_table(
        "recon",
        sa.Column("trade_date", sa.Date, primary_key=True),
        sa.Column("key", sa.String(140), primary_key=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("symbol", sa.String(24)),
        sa.Column("side", sa.String(4)),
        sa.Column("planned_qty", sa.Float),
        sa.Column("sent_qty", sa.Float),
        sa.Column("filled_qty", sa.Float),
        sa.Column("remaining_qty", sa.Float),
        sa.Column("status", sa.String(24)),
        sa.Column("classification", sa.String(24), nullable=False),
        sa.Column("ref_price", sa.Float),
        sa.Column("avg_fill_price", sa.Float),
        sa.Column("slippage_bps", sa.Float),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("alert", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recon")
    op.drop_table("equity_daily")
    op.drop_index("ix_cash_ledger_date", "cash_ledger")
    op.drop_table("cash_ledger")
    op.drop_table("positions_eod")
    op.drop_index("ix_fills_trade_date", "fills")
    op.drop_table("fills")
