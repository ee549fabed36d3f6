"""Alembic environment: migrations run on the connection the ledger hands over (no alembic.ini)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None,
                  version_table=context.config.attributes["version_table"], render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
