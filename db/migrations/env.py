"""Alembic environment: runs on the connection db.engine hands over (no URL in an ini file)."""

from alembic import context

from db.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
