"""`gallery db upgrade` and `gallery db version`: bringing a collection made by an earlier release to
this release's schema, the way a museum's IT department expects.

1. Where it stands: the schema revision, the steps an upgrade would run, leftovers of a failed
   upgrade to repair (`db.migrate.schema_state`). `--dry-run` stops here.
2. A verified backup, unless told not to: the `gallery backup` machinery (database, vector indexes,
   weights manifest, a checksum per file) into `<data folder>/backups/before-upgrade-<schema>-<time>`
   or the folder given; then every checksum is read back, and a SQLite copy must pass
   `PRAGMA integrity_check` and hold as many rows in every table as the collection. Any doubt and
   nothing is upgraded.
3. The upgrade: every pending migration in one transaction (`db.migrate.upgrade_schema`); a failure
   leaves the database as it was, and the backup is still there.

Vector index folders need no upgrade: an index whose files or manifest an earlier release wrote is
opened as it is when it matches the database, and rebuilt from the stored vectors (saying so) when
it does not (`gallery.index.opening.open_index`).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from db.engine import Database
from db.migrate import SchemaState, schema_state, upgrade_schema
from db.version import SCHEMA_HEAD

from gallery.admin.backup import SQLITE_FILE, BackupError, BackupSummary, backup, read_manifest, sqlite_path
from gallery.config.settings import Settings


@dataclass(frozen=True)
class UpgradeReport:
    before: SchemaState
    after: SchemaState | None  # None: a dry run, or nothing to do
    backup: BackupSummary | None
    planned_backup: Path | None  # a dry run: where the backup would go

    def to_json(self) -> dict:
        return {"before": self.before.to_json(), "after": self.after.to_json() if self.after else None,
                "backup": self.backup.to_json() if self.backup else None,
                "planned_backup": str(self.planned_backup) if self.planned_backup else None}


def database_state(settings: Settings) -> SchemaState:
    """`gallery db version`: where the collection's database stands. Changes nothing (a SQLite file
    that does not exist is not created)."""
    database = Database(settings.database_url)
    path = sqlite_path(database)
    if path is not None and not path.exists():
        database.dispose()
        return SchemaState(database.label, None, SCHEMA_HEAD)
    try:
        return schema_state(database)
    finally:
        database.dispose()


def default_backup_folder(settings: Settings, state: SchemaState) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(settings.data_dir).expanduser() / "backups" / f"before-upgrade-{state.current or 'empty'}-{stamp}"


def upgrade_collection(settings: Settings, *, dry_run: bool = False, take_backup: bool = True,
                       backup_to: Path | None = None, say: Callable[[str], None] = lambda _: None) -> UpgradeReport:
    """Back up (verified), then upgrade the collection's database to this release's schema."""
    database = Database(settings.database_url)
    try:
        before = schema_state(database)
        if not before.needs_upgrade:
            return UpgradeReport(before, None, None, None)
        target = Path(backup_to) if backup_to else default_backup_folder(settings, before)
        if dry_run:
            return UpgradeReport(before, None, None, target if take_backup else None)
        summary = None
        if take_backup:
            say(f"backing up to {target} ...")
            summary = backup(settings, target, database)
            verify_backup(database, target)
            say(f"backup verified: {summary.files} file(s), {summary.bytes / 1e6:.1f} MB")
        say(f"upgrading schema {before.current} -> {before.head} ({len(before.pending)} step(s))")
        after = upgrade_schema(database)
        return UpgradeReport(before, after, summary, None)
    finally:
        database.dispose()


def verify_backup(database: Database, folder: Path) -> None:
    """Every checksum read back; a SQLite copy intact and holding every table's rows."""
    read_manifest(folder)
    copy = folder / SQLITE_FILE
    if not copy.exists():
        return  # PostgreSQL: pg_dump's archive, checked by its checksum
    with closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True)) as connection:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"the backup copy {copy} fails SQLite's integrity check ({verdict}); nothing was "
                              "upgraded")
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        copied = {t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    with database.engine.connect() as connection:
        held = {t: connection.exec_driver_sql(f'SELECT count(*) FROM "{t}"').scalar() for t in tables}
    differ = [t for t in tables if copied[t] != held[t]]
    if differ:
        raise BackupError(f"the backup copy holds other row counts than the collection in {', '.join(differ)}; "
                          "nothing was upgraded (was another command writing? try again)")
