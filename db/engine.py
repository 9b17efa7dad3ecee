"""Opening the collection database: any SQLAlchemy URL, at this release's schema.

SQLite (the default, one file in the data folder) runs in WAL mode with foreign keys on and a
busy timeout, so the curator's page can read while the indexer writes. An empty database is
created from the schema and stamped with the latest revision (Alembic's recipe for a new database:
one statement per table instead of every migration in turn, 0.02 s instead of 0.2 s); tests hold
the migrations and the schema equal.

A database at an older schema is never upgraded on the side of another command: `open_database`
refuses it with `SchemaOutOfDate`, which names `gallery db upgrade` (a verified backup, then every
migration in one transaction: `db.migrate`, `gallery.admin.upgrade`). One at a newer schema (a newer
release wrote it) is refused too.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gallery.core.errors import GalleryError

from db.version import SCHEMA_HEAD

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class DatabaseError(GalleryError):
    """The collection database cannot be opened or used."""


ANALYSIS_ROWS = 1000  # rows ANALYZE samples per index (SQLite's analysis_limit)
BUSY_TIMEOUT_S = 30.0  # how long a SQLite writer waits for another; `?timeout=S` in the URL sets it


def busy_timeout_ms(url) -> int:
    """How long a SQLite writer waits for another: the URL's `?timeout=S`, else BUSY_TIMEOUT_S."""
    return int(float(url.query.get("timeout", BUSY_TIMEOUT_S)) * 1000)


def _sqlite_pragmas(busy_ms: int):
    def apply(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    return apply


# SQLite's words for a storage fault -> what the person running the command can do about it
_STORAGE_FAULTS = (
    ("database or disk is full", "the disk holding the database is full"),
    ("disk i/o error", "the disk holding the database failed to write (full, removed or faulty)"),
    ("readonly database", "the database or its folder is read-only"),
    ("database is locked", "the database is locked by another writer (another `gallery index`, a backup "
                           "or a tool holding a transaction)"),
    ("unable to open database file", "the database file cannot be opened (missing folder, no permission "
                                     "or a read-only disk)"),
)


def storage_fault(err: BaseException) -> str | None:
    """A plain description of a database storage fault, or None for any other error."""
    text = str(getattr(err, "orig", err)).lower()
    return next((plain for words, plain in _STORAGE_FAULTS if words in text), None)


class SchemaOutOfDate(DatabaseError):
    """The database is at another schema than this release's; nothing was changed."""

    def __init__(self, label: str, current: str):
        self.current = current
        if current > SCHEMA_HEAD:  # revisions are zero-padded numbers: "0007" > "0006"
            text = newer_schema_message(label, current)
        else:
            text = (f"the collection database {label} is at schema {current}, from an earlier release; this release "
                    f"needs schema {SCHEMA_HEAD}. Upgrade it with `gallery db upgrade` (it takes a verified backup "
                    "first and says where; `--dry-run` shows the steps), then run this command again. "
                    "Nothing was changed.")
        super().__init__(text)


def newer_schema_message(label: str, current: str) -> str:
    return (f"the collection database {label} is at schema {current}, which a newer release of Portrait Gallery "
            f"wrote; this release knows schemas up to {SCHEMA_HEAD}. Use that newer release (the CHANGELOG says "
            "which release has which schema), or restore the backup taken before its upgrade.")


def alembic_config(connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The schema revision stamped in the database (Alembic's `alembic_version` table), None when it
    has none. Read with one query rather than through Alembic, whose import (0.14 s) every command
    opening a collection would otherwise pay; Alembic is imported only to create or upgrade."""
    from sqlalchemy import text

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        stamped = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(stamped) > 1:
        raise DatabaseError(f"the database is stamped with several schema revisions ({', '.join(stamped)}); "
                            "it was changed outside Portrait Gallery")
    return stamped[0] if stamped else None


def create_at_head(engine: Engine) -> None:
    """An empty database: the schema's tables, stamped with the latest revision, in one transaction.
    The stamp is Alembic's own table (`alembic stamp head` writes the same), written here without
    importing Alembic (0.07 s of the first `gallery index` of a collection)."""
    from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table

    from db.schema import Base

    stamp = Table("alembic_version", MetaData(), Column("version_num", String(32), nullable=False),
                  PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))
    with engine.begin() as connection:
        Base.metadata.create_all(connection)
        stamp.create(connection)
        connection.execute(stamp.insert().values(version_num=SCHEMA_HEAD))


class Database:
    """An engine and its session factory. Cheap to build; `open_database` migrates."""

    def __init__(self, url: str, echo: bool = False):
        try:
            parsed = make_url(url)
        except ArgumentError as err:
            raise DatabaseError(f"not a database URL: {url!r} ({err})") from None
        self.url = parsed
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            folder = Path(parsed.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise DatabaseError(f"cannot make the database folder {folder}: {err.strerror or err}") from None
        try:
            self.engine = create_engine(parsed, echo=echo, future=True)
        except (ImportError, ArgumentError) as err:
            raise DatabaseError(f"cannot use {parsed.render_as_string(hide_password=True)}: {err}") from None
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas(busy_timeout_ms(parsed)))
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def label(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any error. A storage
        fault (disk full, read-only, locked) becomes a DatabaseError that says so and that
        nothing of this transaction was written."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except OperationalError as err:
            _rollback(session)
            plain = storage_fault(err)
            if plain is None:
                raise
            raise DatabaseError(f"{plain}: {self.label}. Nothing of this change was written; "
                                "fix that and try again.") from err
        except BaseException:
            _rollback(session)
            raise
        finally:
            session.close()

    def refresh_statistics(self) -> None:
        """SQLite: gather the query planner's statistics (ANALYZE, sampled: milliseconds even for a
        million faces). Without them SQLite guesses that every index narrows a search to a few rows,
        and may read every active face through the index on `active` where the artwork's hash or
        id would find a handful: about 1 s of each search at a million faces.
        PostgreSQL keeps its own statistics (autovacuum)."""
        if self.url.get_backend_name() != "sqlite":
            return
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_ROWS}")
            connection.exec_driver_sql("ANALYZE")

    def dispose(self) -> None:
        self.engine.dispose()


def _rollback(session: Session) -> None:
    try:
        session.rollback()
    except OperationalError:  # the connection itself failed; SQLite has already undone the transaction
        pass


def open_database(url: str) -> Database:
    """Open the collection database, creating it at the latest schema when it is empty. One at
    another schema raises SchemaOutOfDate (see the module's docstring)."""
    database = Database(url)
    try:
        current = current_revision(database.engine)
        if current is None and not inspect(database.engine).get_table_names():
            log.info("database %s: created at schema %s", database.label, SCHEMA_HEAD)
            create_at_head(database.engine)
        elif current is None:
            raise DatabaseError(f"the database {database.label} holds tables but no schema version: it is not a "
                                "Portrait Gallery collection; point --db or --data-dir at the collection's database")
        elif current != SCHEMA_HEAD:
            raise SchemaOutOfDate(database.label, current)
    except OperationalError as err:
        plain = storage_fault(err)
        raise DatabaseError(f"cannot open the database {database.label}: {plain or err.orig}") from None
    except SQLAlchemyError as err:
        raise DatabaseError(f"database {database.label}: {err}") from None
    return database
