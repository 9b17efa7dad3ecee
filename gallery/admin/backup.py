"""`gallery backup DEST` and `gallery restore SRC`: the collection database, the vector indexes and
the weights manifest in one folder that can be restored into an empty data folder.

- SQLite: the online backup API (a consistent copy while the page serves and the indexer writes).
- PostgreSQL: `pg_dump --format=custom` (and `pg_restore` back); the binaries must be installed.
- Vector indexes: every embedding set's folder, copied as it is. The database is the truth: an
  index copied a moment before or after the database is checked against it on the first open and
  rebuilt from the stored vectors when they disagree (`gallery.index.opening.open_index`).
- The weights manifest: for every embedding set, the profile and the sha256 of each weights file
  it was made with (the weights themselves are large and come from their registry sources; restore
  says which ones the new machine lacks or holds in another version).
- `backup.json` lists every file with its sha256; a backup is written to `DEST.partial` and
  renamed when complete, and restore checks every checksum before it writes anything.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

from db.engine import Database, current_revision
from db.migrate import upgrade_schema
from db.schema import EmbeddingSet

from gallery.core.errors import GalleryError
from gallery.config.settings import Settings
from gallery.weights.hashing import sha256_file

FORMAT = 1
MANIFEST = "backup.json"
SQLITE_FILE = "gallery.db"
PG_FILE = "gallery.pgdump"
WEIGHTS_FILE = "weights.json"
INDEX_DIR = "index"


class BackupError(GalleryError):
    """A backup or a restore that cannot be done; nothing was changed."""


@dataclass(frozen=True)
class BackupSummary:
    folder: Path
    backend: str
    schema: str | None
    files: int
    bytes: int
    embedding_sets: list[str]
    warnings: list[str]

    def to_json(self) -> dict:
        return {"folder": str(self.folder), "backend": self.backend, "schema": self.schema, "files": self.files,
                "bytes": self.bytes, "embedding_sets": self.embedding_sets, "warnings": self.warnings}


def _sqlite_copy(source: str, target: Path) -> None:
    """SQLite's online backup: a consistent copy even while another process writes."""
    with closing(sqlite3.connect(source, uri=True)) as src, closing(sqlite3.connect(target)) as out:
        src.backup(out)


def sqlite_path(database: Database) -> Path | None:
    if database.url.get_backend_name() != "sqlite" or database.url.database in (None, "", ":memory:"):
        return None
    return Path(database.url.database).expanduser()


def _pg_tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if not found:
        raise BackupError(f"{name} is not installed; PostgreSQL backups use {name} "
                          "(apt-get install postgresql-client)")
    return str(found)


def _pg_env(database: Database) -> tuple[list[str], dict]:
    url = database.url
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    args = ["--host", url.host or "127.0.0.1", "--port", str(url.port or 5432), "--username", url.username or "",
            "--dbname", url.database or ""]
    return args, env


def _run(command: list[str], env: dict, what: str) -> None:
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupError(f"{what} failed ({proc.returncode}): {proc.stderr.strip()[:2000]}")


# -- backup ----------------------------------------------------------------------------------
def backup(settings: Settings, dest: Path, database: Database | None = None) -> BackupSummary:
    """Back the collection up into the new folder `dest`. A collection at an earlier release's
    schema is backed up as it is (that is what `gallery db upgrade` does first)."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} exists and is not empty; back up into a new folder")
    database = database or Database(settings.database_url)
    source = sqlite_path(database)
    if source is not None and not source.is_file():
        raise BackupError(f"there is no collection database at {source}; nothing to back up")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        backend = _dump_database(database, partial)
        with database.session() as session:  # columns every schema has: earlier releases' collections too
            sets = session.execute(select(EmbeddingSet.key, EmbeddingSet.profile, EmbeddingSet.dim,
                                          EmbeddingSet.components).order_by(EmbeddingSet.id)).all()
            weights = {s.key: {"profile": s.profile, "dim": s.dim, "components": s.components} for s in sets}
        (partial / WEIGHTS_FILE).write_text(json.dumps(weights, indent=2, sort_keys=True))
        warnings = _copy_indexes(settings.index_dir, partial / INDEX_DIR, [s.key for s in sets])
        files = _checksums(partial)
        manifest = {"format": FORMAT, "created": datetime.now(timezone.utc).isoformat(), "backend": backend,
                    "source": database.label, "schema": current_revision(database.engine),
                    "embedding_sets": list(weights), "files": files}
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
        _fsync_tree(partial)
        if dest.exists():
            dest.rmdir()
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    size = sum(f["bytes"] for f in files.values())
    return BackupSummary(dest, backend, manifest["schema"], len(files), size, list(weights), warnings)


def _dump_database(database: Database, folder: Path) -> str:
    source = sqlite_path(database)
    if source is not None:
        _sqlite_copy(f"file:{source}?mode=ro", folder / SQLITE_FILE)
        return "sqlite"
    if database.url.get_backend_name() == "postgresql":
        args, env = _pg_env(database)
        _run([_pg_tool("pg_dump"), *args, "--format=custom", "--no-owner", "--file", str(folder / PG_FILE)], env,
             "pg_dump")
        return "postgresql"
    raise BackupError(f"backups cover SQLite and PostgreSQL databases, not {database.url.get_backend_name()}; "
                      "use that database's own backup tool")


def _copy_indexes(index_dir: Path, target: Path, keys: list[str]) -> list[str]:
    warnings = []
    for key in keys:
        source = Path(index_dir) / key
        if not source.is_dir():
            warnings.append(f"embedding set {key} has no index folder; it is rebuilt from the database on restore")
            continue
        (target / key).mkdir(parents=True)
        for item in sorted(source.iterdir()):
            if item.is_file() and not item.name.startswith("."):  # not an interrupted save's temporary file
                shutil.copy2(item, target / key / item.name)
    return warnings


def _checksums(folder: Path) -> dict:
    return {str(p.relative_to(folder)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


# -- restore ---------------------------------------------------------------------------------
def read_manifest(source: Path) -> dict:
    source = Path(source)
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{source} is not a backup (no {MANIFEST})") from None
    except (OSError, ValueError) as err:
        raise BackupError(f"{source / MANIFEST} is unreadable: {err}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source} is a backup of format {manifest.get('format')!r}; this version reads {FORMAT}")
    for name, expected in manifest["files"].items():
        path = source / name
        if not path.is_file():
            raise BackupError(f"the backup is incomplete: {name} is missing")
        if sha256_file(path) != expected["sha256"]:
            raise BackupError(f"the backup is damaged: {name} does not match its checksum")
    return manifest


def restore(settings: Settings, source: Path) -> BackupSummary:
    """Restore into the settings' database and data folder, which must hold no collection yet."""
    source = Path(source)
    manifest = read_manifest(source)
    target = Database(settings.database_url)
    _refuse_existing(target, Path(settings.index_dir))
    if manifest["backend"] == "sqlite":
        _restore_sqlite(source / SQLITE_FILE, target)
    else:
        _restore_postgresql(source / PG_FILE, target)
    target.dispose()
    for key in manifest["embedding_sets"]:
        if (source / INDEX_DIR / key).is_dir():
            shutil.copytree(source / INDEX_DIR / key, Path(settings.index_dir) / key)
    database = Database(settings.database_url)
    upgrade_schema(database)  # an earlier release's backup: the backup itself is the copy to go back to
    warnings = _weights_warnings(settings, json.loads((source / WEIGHTS_FILE).read_text()))
    size = sum(f["bytes"] for f in manifest["files"].values())
    return BackupSummary(source, manifest["backend"], current_revision(database.engine), len(manifest["files"]),
                         size, manifest["embedding_sets"], warnings)


def _refuse_existing(target: Database, index_dir: Path) -> None:
    from sqlalchemy import inspect

    path = sqlite_path(target)
    if path is not None and not (path.exists() and path.stat().st_size):
        tables = []  # no file yet: do not create one by connecting
    else:
        tables = _tables(target, inspect)
    if tables:
        raise BackupError(f"the target database {target.label} already holds a collection ({len(tables)} tables); "
                          "restore into an empty data folder or database, nothing was changed")
    if index_dir.is_dir() and any(index_dir.iterdir()):
        raise BackupError(f"{index_dir} already holds vector indexes; restore into an empty data folder")


def _tables(target: Database, inspect) -> list[str]:
    try:
        return inspect(target.engine).get_table_names()
    except Exception as err:  # noqa: BLE001 (any driver error: the target cannot be reached)
        raise BackupError(f"cannot reach the target database {target.label}: {err}") from None


def _restore_sqlite(dump: Path, target: Database) -> None:
    path = sqlite_path(target)
    if path is None:
        raise BackupError(f"this backup is of a SQLite database; restore it to a SQLite URL, not {target.label} "
                          "(or restore to SQLite, then move the data with your own tools)")
    partial = path.with_name(path.name + ".restoring")
    _sqlite_copy(f"file:{dump}?mode=ro", partial)
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    os.replace(partial, path)


def _restore_postgresql(dump: Path, target: Database) -> None:
    if target.url.get_backend_name() != "postgresql":
        raise BackupError(f"this backup is of a PostgreSQL database; restore it to a PostgreSQL URL, "
                          f"not {target.label}")
    args, env = _pg_env(target)
    _run([_pg_tool("pg_restore"), *args, "--no-owner", "--single-transaction", "--exit-on-error", str(dump)], env,
         "pg_restore")


def _weights_warnings(settings: Settings, sets: dict) -> list[str]:
    """The weights files the embedding sets were made with that this machine lacks, or holds in
    another version (search with such a set needs them back)."""
    from gallery.weights.store import WeightStore

    store = WeightStore(settings.weights_dir, offline=True)
    wanted = {}
    for info in sets.values():
        detector = info["components"].get("detector") or {}
        if detector.get("weights") and detector.get("sha256"):
            wanted[detector["weights"]] = detector["sha256"]
        for encoder in info["components"].get("encoders", []):
            wanted.update(encoder.get("weights") or {})
    warnings = []
    for ref, sha in sorted(wanted.items()):
        try:
            found = store.resolve(ref).sha256
        except GalleryError as err:
            warnings.append(f"weights {ref}: {str(err).splitlines()[0]}")
            continue
        if found != sha:
            warnings.append(f"weights {ref} here have sha256 {found[:12]}…, the collection was made with "
                            f"{sha[:12]}…: its vectors will not match new queries")
    return warnings
