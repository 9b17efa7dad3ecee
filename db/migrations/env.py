"""Alembic environment: runs on the connection db.migrate hands over (no URL in an ini file), inside
the one transaction that connection holds: every step of an upgrade commits together or not at all
(transactional_ddl: on SQLite too, where db.migrate makes the driver leave DDL inside it)."""

from alembic import context

from db.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
