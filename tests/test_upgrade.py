"""Upgrading collections made by earlier releases (tests/data/releases, built by each release's own
code with scripts/build-upgrade-fixtures.py): every row kept, the status, a search and the
identification history as that release gave them; all or nothing; a stranded collection repaired;
nothing upgraded on the side of another command."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing, nullcontext
from datetime import timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, create_engine, event, select, text
from sqlalchemy.engine import Engine

from db.engine import Database, SchemaOutOfDate, current_revision, open_database
from db.migrate import UpgradeError, leftover_tables, schema_state, upgrade_schema
from db.version import SCHEMA_HEAD
from gallery.cli import main

RELEASES = Path(__file__).parent / "data" / "releases"
VERSIONS = sorted(p.name for p in RELEASES.iterdir() if (p / "expected.json").exists())
LABELLED_COUNTS = ("artworks", "faces", "sitters", "identified_faces", "errors")


def _expected(version: str) -> dict:
    return json.loads((RELEASES / version / "expected.json").read_text())


def _copy(version: str, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(RELEASES / version / "data", data)
    return data


def _cli(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def _rows(engine: Engine) -> dict[str, list[dict]]:
    """Every row of every table, ordered by its key; datetimes as naive UTC (SQLite keeps them so)."""
    meta = MetaData()
    meta.reflect(engine)
    out = {}
    with engine.connect() as connection:
        for table in meta.sorted_tables:
            rows = connection.execute(select(table).order_by(*table.primary_key.columns or table.columns)).all()
            out[table.name] = [{k: _plain(v) for k, v in row._mapping.items()} for row in rows]
    return out


def _plain(value):
    if hasattr(value, "tzinfo") and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def _kept(before: dict, after: dict) -> None:
    """Every row of every table before is in the table after, with the same values in the columns
    it had (new columns may be added)."""
    for table, rows in before.items():
        if table == "alembic_version":
            continue
        assert len(after[table]) == len(rows), table
        for old, new in zip(rows, after[table]):
            assert {k: new[k] for k in old} == old, table


def _sqlite_rows(path: Path) -> dict:
    engine = create_engine(f"sqlite:///{path}")
    try:
        return _rows(engine)
    finally:
        engine.dispose()


def _dump(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as connection:
        return list(connection.iterdump())


def _same_answers(expected: dict, data: Path, profile: Path, db: str | None = None) -> None:
    where = ["--data-dir", data, "--config", profile] + (["--db", db] if db else [])
    status = json.loads(_cli("status", "--json", *where).output)
    counts = status.get("counts", status)
    assert {k: counts[k] for k in LABELLED_COUNTS} == {k: expected["status"][k] for k in LABELLED_COUNTS}
    query = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "lfw-mini" / expected["query"]
    found = json.loads(_cli("search", query, "--json", *where).output)
    before = expected["search"]["candidates"]
    assert [c["sitter"] for c in found["candidates"]] == [c["sitter"] for c in before]
    for new, old in zip(found["candidates"], before):
        assert new["score"] == pytest.approx(old["score"], abs=1e-4)
        assert [a["face_id"] for a in new["artworks"]] == [a["face_id"] for a in old["artworks"]]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_collection_of_every_release_upgrades_and_answers_as_it_did(version, tmp_path, onnx_profile, lfw_dir):
    expected = _expected(version)
    data = _copy(version, tmp_path)
    db_file = data / "gallery.db"
    before = _sqlite_rows(db_file)
    assert current_revision(Database(f"sqlite:///{db_file}").engine) == expected["schema"]

    upgraded = _cli("db", "upgrade", "--data-dir", data)
    _kept(before, _sqlite_rows(db_file))
    if expected["schema"] == SCHEMA_HEAD:
        assert "up to date" in upgraded.output and not (data / "backups").exists()
    else:  # a verified backup holds the collection as it was
        assert "backup (verified)" in upgraded.output and f"upgraded to schema {SCHEMA_HEAD}" in upgraded.output
        backups = list((data / "backups").iterdir())
        assert len(backups) == 1 and _sqlite_rows(backups[0] / "gallery.db") == before
    _same_answers(expected, data, onnx_profile)


def test_postgresql_collections_of_every_release_upgrade(postgres_url, tmp_path, onnx_profile, lfw_dir):
    """Each release's collection, row for row, in PostgreSQL at that release's schema (its tables made
    by the migrations up to it, as that release made them), then upgraded there."""
    server = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    for version in VERSIONS:
        expected = _expected(version)
        name = "release_" + version.replace(".", "_")
        with server.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        url = postgres_url.rsplit("/", 1)[0] + "/" + name
        data = _copy(version, tmp_path / name)
        before = _sqlite_rows(data / "gallery.db")
        _load_into_postgres(data / "gallery.db", url, expected["schema"])
        with pytest.raises(SchemaOutOfDate) if expected["schema"] != SCHEMA_HEAD else nullcontext():
            open_database(url).dispose()
        _cli("db", "upgrade", "--data-dir", data, "--db", url)
        database = open_database(url)
        _kept(before, _rows(database.engine))
        database.dispose()
        _same_answers(expected, data, onnx_profile, db=url)
    server.dispose()


def _load_into_postgres(sqlite_file: Path, url: str, revision: str) -> None:
    target = Database(url)
    upgrade_schema(target, revision)
    source = create_engine(f"sqlite:///{sqlite_file}")
    meta = MetaData()
    meta.reflect(target.engine)
    rows = _rows(source)
    with target.engine.begin() as connection:
        for table in meta.sorted_tables:
            if table.name != "alembic_version" and rows[table.name]:
                connection.execute(table.insert(), rows[table.name])
                if "id" in table.c:
                    connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                            f"(SELECT max(id) FROM {table.name}))"))
    source.dispose()
    target.dispose()


def _strand(db_file: Path) -> None:
    """What an upgrade did before this release: Alembic on the ordinary connection, foreign keys on,
    DDL outside any transaction."""
    from alembic import command

    from db.engine import alembic_config

    database = Database(f"sqlite:///{db_file}")
    with pytest.raises(Exception, match="FOREIGN KEY constraint failed"):
        with database.engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
    database.dispose()


def test_a_collection_a_failed_upgrade_stranded_is_repaired(tmp_path):
    data = _copy("0.2.0", tmp_path)
    db_file = data / "gallery.db"
    before = _sqlite_rows(db_file)
    _strand(db_file)
    stranded = Database(f"sqlite:///{db_file}")
    assert leftover_tables(stranded.engine) == ["_alembic_tmp_sitters"]
    assert current_revision(stranded.engine) == "0003"
    with pytest.raises(SchemaOutOfDate, match="gallery db upgrade"):
        open_database(f"sqlite:///{db_file}")
    assert "to repair: _alembic_tmp_sitters" in _cli("db", "version", "--data-dir", data, ok=False).output

    _cli("db", "upgrade", "--data-dir", data)
    assert leftover_tables(stranded.engine) == [] and current_revision(stranded.engine) == SCHEMA_HEAD
    _kept(before, _sqlite_rows(db_file))


def test_a_leftover_whose_table_was_dropped_is_renamed_back(tmp_path):
    data = _copy("0.2.0", tmp_path)
    db_file = data / "gallery.db"
    before = _sqlite_rows(db_file)
    with closing(sqlite3.connect(db_file)) as connection:  # the step had dropped sitters before it failed
        connection.execute("PRAGMA legacy_alter_table=ON")  # references to sitters stay as they are
        connection.execute("ALTER TABLE sitters RENAME TO _alembic_tmp_sitters")
        connection.commit()
    state = schema_state(Database(f"sqlite:///{db_file}"))
    assert state.leftovers == ["_alembic_tmp_sitters"] and not state.up_to_date
    upgrade_schema(Database(f"sqlite:///{db_file}"))
    _kept(before, _sqlite_rows(db_file))


def test_an_upgrade_that_fails_midway_leaves_the_database_exactly_as_it_was(tmp_path):
    data = _copy("0.2.0", tmp_path)
    db_file = data / "gallery.db"
    before = _dump(db_file)

    def fail(_conn, _cursor, statement, *_args):
        if "CREATE TABLE replica_decisions" in statement:  # step 0005, after 0004 rebuilt sitters
            raise RuntimeError("the disk went away")

    event.listen(Engine, "before_cursor_execute", fail)
    try:
        with pytest.raises(Exception, match="the disk went away"):
            upgrade_schema(Database(f"sqlite:///{db_file}"))
    finally:
        event.remove(Engine, "before_cursor_execute", fail)
    assert _dump(db_file) == before  # no new column, no temporary table, still 0003


def test_a_database_error_midway_is_an_upgrade_error_and_changes_nothing(tmp_path):
    data = _copy("0.3.0", tmp_path)
    db_file = data / "gallery.db"
    with closing(sqlite3.connect(db_file)) as connection:  # step 0005 will find its table already there
        connection.execute("CREATE TABLE replica_decisions (id INTEGER PRIMARY KEY)")
        connection.commit()
    before = _dump(db_file)
    result = _cli("db", "upgrade", "--data-dir", data, ok=False)
    assert result.exit_code == 1 and "rolled back" in result.output and "as it was" in result.output
    assert _dump(db_file) == before


def test_commands_refuse_an_old_collection_and_change_nothing(tmp_path, onnx_profile, lfw_dir):
    data = _copy("0.2.0", tmp_path)
    before = _dump(data / "gallery.db")
    for args in (["status"], ["index", lfw_dir / "Al_Gore"], ["sitters", "list"]):
        result = _cli(*args, "--data-dir", data, "--config", onnx_profile, ok=False)
        assert result.exit_code == 1 and "gallery db upgrade" in result.output and "schema 0003" in result.output
    dry = _cli("db", "upgrade", "--dry-run", "--data-dir", data)
    assert "to do: 0004" in dry.output and "to do: 0006" in dry.output and "would back up to" in dry.output
    assert _cli("db", "version", "--data-dir", data, ok=False).exit_code == 3
    assert _dump(data / "gallery.db") == before and not (data / "backups").exists()


def test_a_collection_of_a_newer_release_is_refused_by_name(tmp_path):
    data = _copy("0.5.0", tmp_path)
    with closing(sqlite3.connect(data / "gallery.db")) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
        connection.commit()
    with pytest.raises(SchemaOutOfDate, match="newer release"):
        open_database(f"sqlite:///{data / 'gallery.db'}")
    with pytest.raises(UpgradeError, match="newer release"):
        upgrade_schema(Database(f"sqlite:///{data / 'gallery.db'}"))


def test_an_empty_or_current_collection_needs_no_upgrade(tmp_path):
    version = _cli("db", "version", "--data-dir", tmp_path / "new")
    assert "up to date" in version.output and "to do" not in version.output
    assert not (tmp_path / "new" / "gallery.db").exists()  # asking created nothing
    result = _cli("db", "upgrade", "--data-dir", tmp_path / "new")
    assert "nothing to do" in result.output
    open_database(f"sqlite:///{tmp_path / 'new' / 'gallery.db'}").dispose()
    assert "up to date" in _cli("db", "version", "--data-dir", tmp_path / "new").output


def test_the_release_is_named_the_same_everywhere():
    import re
    import tomllib

    from db.engine import head_revision
    from gallery import __version__

    root = Path(__file__).resolve().parent.parent
    assert tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"] == __version__
    assert SCHEMA_HEAD == head_revision()  # the constant open_database compares against
    changelog = (root / "CHANGELOG.md").read_text()
    releases = re.findall(r"^\| (\d+\.\d+\.\d+) \| (\d{4}) \|", changelog, re.M)
    assert releases[0] == (__version__, SCHEMA_HEAD)  # the newest first, with this release's schema
    assert f"## {__version__} — schema {SCHEMA_HEAD}" in changelog
    for version in VERSIONS:  # every release a test collection comes from, with its schema
        assert (version, _expected(version)["schema"]) in releases
    assert _cli("--version").output.strip() == f"gallery {__version__} (collection schema {SCHEMA_HEAD})"


def test_faces_are_drawn_and_rejected_on_a_collection_of_the_last_release(tmp_path, onnx_profile):
    """The collection 0.6.0 made, upgraded: its faces are detected ones; a face drawn on it is searchable,
    a rejected one leaves search, and a sitter gets a chosen likeness."""
    data = _copy("0.6.0", tmp_path)
    _cli("db", "upgrade", "--data-dir", data)
    where = ["--data-dir", data, "--config", onnx_profile]
    with closing(sqlite3.connect(data / "gallery.db")) as connection:
        assert set(connection.execute("select distinct origin from faces")) == {("detected",)}
        assert connection.execute("select count(*) from faces where rejected_at is not null").fetchone() == (0,)
        path, (width, height) = connection.execute("select path, width, height from artworks order by id").fetchone()[0], \
            connection.execute("select width, height from artworks order by id").fetchone()
        [(face, sitter)] = connection.execute(
            "select f.id, s.name from faces f join identifications i on i.face_id = f.id join sitters s on "
            "s.id = i.sitter_id where i.status = 'confirmed' order by f.id limit 1").fetchall()
    expected = _expected("0.6.0")
    query = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "lfw-mini" / expected["query"]
    before = json.loads(_cli("search", query, "--json", *where).output)

    drawn = json.loads(_cli("faces", "add", path, "--box", f"2,2,{width // 4},{height // 4}", "--json",
                            *where).output)
    assert drawn["face_index"] >= 1
    rejected_face = before["candidates"][0]["artworks"][0]["face_id"]
    _cli("faces", "reject", rejected_face, *where)
    after = json.loads(_cli("search", query, "--json", *where).output)
    assert rejected_face not in {a["face_id"] for c in after["candidates"] for a in c["artworks"]}
    _cli("sitters", "edit", sitter, "--portrait", face, *where)
    [listed] = [s for s in json.loads(_cli("sitters", "list", "--json", *where).output) if s["name"] == sitter]
    assert listed["portrait_face_id"] == face and listed["portrait_chosen"]
