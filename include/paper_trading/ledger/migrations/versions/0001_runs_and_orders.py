"""runs and orders: what each step did, and every order the system sent (or would have sent)

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("trade_date", sa.Date, nullable=False),
        sa.Column("step", sa.String(40), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text),
        sa.UniqueConstraint("run_id", "trade_date", "step", name="uq_runs_run_date_step"),
    )
    op.create_table(
        "orders",
        sa.Column("client_order_id", sa.String(48), primary_key=True),
        sa.Column("trade_date", sa.Date, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("env", sa.String(8), nullable=False),
        sa.Column("symbol", sa.String(24), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", sa.Float, nullable=False),
        sa.Column("planned_qty", sa.Float),
        sa.Column("order_type", sa.String(16), nullable=False),
        sa.Column("order_class", sa.String(12)),
        sa.Column("time_in_force", sa.String(4)),
        sa.Column("tp_price", sa.Float),
        sa.Column("sl_price", sa.Float),
        sa.Column("ref_price", sa.Float),
        sa.Column("notional", sa.Float),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("broker_order_id", sa.String(64), unique=True),
        sa.Column("parent_client_order_id", sa.String(48)),
        sa.Column("filled_qty", sa.Float),
        sa.Column("filled_avg_price", sa.Float),
        sa.Column("submitted_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_orders_trade_date", "orders", ["trade_date"])


def downgrade() -> None:
    op.drop_index("ix_orders_trade_date", "orders")
    op.drop_table("orders")
    op.drop_table("runs")
