"""Schema upgrades: explicit, all or nothing, and able to repair a collection a failed one stranded.

An upgrade runs every pending migration in **one transaction**:

- SQLite: the driver's own transaction handling is switched off and the upgrade issues
  `BEGIN IMMEDIATE` itself, so table changes (DDL) are part of the transaction (SQLAlchemy's
  documented recipe for transactional DDL on pysqlite). Foreign keys are switched off for the
  upgrade's connection before the transaction starts (`PRAGMA foreign_keys=OFF`), as Alembic's
  batch mode requires when it copies and drops a table that others reference, and checked with
  `PRAGMA foreign_key_check` before the commit: an upgrade that would leave a dangling reference
  is rolled back.
- PostgreSQL: its DDL is transactional; the same single transaction.

A failure leaves the database exactly as it was (no temporary table, the old version number). A
collection stranded by an earlier release's failed upgrade (an `_alembic_tmp_<table>` left beside
its table at an old version) is repaired inside the same transaction: the leftover copy is dropped
when its table is still there (the table is the truth: the version number says the step never
finished), or renamed back when the step had dropped the table before it failed.

Nothing here backs up: `gallery.admin.upgrade` takes the verified backup before calling `upgrade_schema`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from db.engine import (Database, DatabaseError, alembic_config, busy_timeout_ms, current_revision,
                       newer_schema_message, storage_fault)
from db.version import SCHEMA_HEAD

log = logging.getLogger(__name__)
LEFTOVER_PREFIX = "_alembic_tmp_"


class UpgradeError(DatabaseError):
    """An upgrade that did not happen; the database is as it was before."""


@dataclass(frozen=True)
class Step:
    revision: str
    title: str  # the migration's docstring's first paragraph


@dataclass(frozen=True)
class SchemaState:
    """Where a collection database stands against this release's schema."""

    database: str
    current: str | None  # None: an empty database
    head: str
    pending: list[Step] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # tables a failed upgrade left behind

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head and not self.leftovers

    @property
    def needs_upgrade(self) -> bool:
        """An existing collection behind this release (an empty one is created at the latest schema)."""
        return self.current is not None and not self.up_to_date

    def to_json(self) -> dict:
        return {"database": self.database, "schema": self.current, "head": self.head, "up_to_date": self.up_to_date,
                "pending": [{"revision": s.revision, "title": s.title} for s in self.pending],
                "leftovers": self.leftovers}


def _script():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(None))


def known_revisions() -> list[str]:
    """Every schema revision this release knows, oldest first."""
    return [s.revision for s in reversed(list(_script().walk_revisions()))]


def pending_steps(current: str | None, target: str = "head") -> list[Step]:
    script = _script()
    steps = []
    for revision in reversed(list(script.iterate_revisions(target, current or "base"))):
        first_paragraph = (revision.doc or "").strip().split("\n\n")[0]
        steps.append(Step(revision.revision, " ".join(first_paragraph.split())))
    return steps


def leftover_tables(connectable: Engine | Connection) -> list[str]:
    return sorted(t for t in inspect(connectable).get_table_names() if t.startswith(LEFTOVER_PREFIX))


def schema_state(database: Database) -> SchemaState:
    """The database's revision, the steps an upgrade would run, and any leftovers to repair. A
    revision this release does not know (a newer release wrote it) is an UpgradeError."""
    current = current_revision(database.engine)
    if current is not None and current not in known_revisions():
        raise UpgradeError(newer_schema_message(database.label, current))
    if current is None:  # empty: created at the latest schema on first use, no steps
        return SchemaState(database.label, None, SCHEMA_HEAD)
    leftovers = leftover_tables(database.engine) if current != SCHEMA_HEAD else []
    return SchemaState(database.label, current, SCHEMA_HEAD, pending_steps(current), leftovers)


def migration_engine(database: Database) -> Engine:
    """An engine for upgrades only: one connection, transactional DDL, SQLite foreign keys off."""
    engine = create_engine(database.url, poolclass=NullPool, future=True)
    if database.url.get_backend_name() != "sqlite":
        return engine
    busy_ms = busy_timeout_ms(database.url)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # the driver starts no transaction; "begin" below does
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")  # only outside a transaction does this take effect
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock for the whole upgrade

    return engine


def upgrade_schema(database: Database, target: str = "head") -> SchemaState:
    """Repair leftovers and run every pending migration up to `target` in one transaction.
    Returns the state after; raises UpgradeError (nothing changed) on any failure."""
    before = schema_state(database)
    if before.up_to_date and target in ("head", SCHEMA_HEAD):
        return before
    engine = migration_engine(database)
    try:
        with engine.begin() as connection:
            _repair(connection, before.leftovers)
            broken_before = _foreign_key_violations(connection)
            from alembic import command

            command.upgrade(alembic_config(connection), target)
            broken = _foreign_key_violations(connection) - broken_before
            if broken:
                raise UpgradeError(f"the upgrade would leave {len(broken)} broken reference(s), e.g. "
                                   f"{sorted(broken)[0]}; it was rolled back")
    except UpgradeError:
        raise
    except SQLAlchemyError as err:
        plain = storage_fault(err) or str(getattr(err, "orig", err)).splitlines()[0]
        raise UpgradeError(f"the upgrade of {database.label} from schema {before.current} failed and was rolled "
                           f"back; the database is as it was. Cause: {plain}") from err
    finally:
        engine.dispose()
    after = schema_state(database)
    log.info("database %s: schema %s -> %s", database.label, before.current, after.current)
    return after


def _repair(connection: Connection, leftovers: list[str]) -> None:
    tables = set(inspect(connection).get_table_names())
    for leftover in leftovers:
        table = leftover[len(LEFTOVER_PREFIX):]
        if table in tables:
            log.warning("dropping %s, the copy a failed upgrade left beside %s", leftover, table)
            connection.exec_driver_sql(f'DROP TABLE "{leftover}"')
        else:
            log.warning("renaming %s back to %s: a failed upgrade had dropped the table", leftover, table)
            connection.exec_driver_sql(f'ALTER TABLE "{leftover}" RENAME TO "{table}"')


def _foreign_key_violations(connection: Connection) -> set[tuple]:
    if connection.dialect.name != "sqlite":
        return set()  # PostgreSQL checks every reference as it is written
    return {tuple(row) for row in connection.exec_driver_sql("PRAGMA foreign_key_check")}
