"""The collection database: migrations, identifications history, sitters, CSV metadata."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from db.engine import Database, DatabaseError, SchemaOutOfDate, current_revision, head_revision, open_database
from db.migrate import upgrade_schema
from db.identifications import (IdentificationError, add_metadata_identification, current_identifications, history,
                                identify)
from db.schema import Artwork, Face
from db.sitters import SitterRecord, import_sitters, list_sitters, sitter_named, sitters_named
from indexer.metadata import MetadataError, read_artwork_csv, read_sitters_csv, sitter_from_folder


@pytest.fixture()
def database(tmp_path):
    return open_database(f"sqlite:///{tmp_path / 'gallery.db'}")


def _face(session, path="/c/a.jpg", index=0) -> Face:
    artwork = session.query(Artwork).filter_by(path=path).one_or_none()
    if artwork is None:
        artwork = Artwork(path=path, collection="/c", sha256="0" * 64, status="present", extras={})
        session.add(artwork)
        session.flush()
    face = Face(artwork_id=artwork.id, face_index=index, box=[0, 0, 10, 10], landmarks=[[1, 1]] * 5, score=0.9,
                active=True)
    session.add(face)
    session.flush()
    return face


def test_new_database_is_at_head_with_sqlite_settings(database):
    assert current_revision(database.engine) == head_revision() == "0007"
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_a_sqlite_url_timeout_sets_the_busy_wait(tmp_path):
    from db.engine import open_database

    database = open_database(f"sqlite:///{tmp_path / 'g.db'}?timeout=2.5")
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500


def test_migrations_match_the_schema_a_new_database_is_created_from(tmp_path, caplog):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from db.schema import Base

    migrated = Database(f"sqlite:///{tmp_path / 'migrated.db'}")
    upgrade_schema(migrated)  # every migration in turn
    with caplog.at_level("INFO", logger="db.engine"):
        created = open_database(f"sqlite:///{tmp_path / 'created.db'}")  # empty: created from the schema
    assert "created at schema" in caplog.text
    for database in (migrated, created):
        assert current_revision(database.engine) == head_revision()
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, Base.metadata) == []
            assert context.get_current_revision() == head_revision()  # the stamp as Alembic reads it
            version = {c["name"]: c for c in inspect(connection).get_columns("alembic_version")}
            assert list(version) == ["version_num"] and not version["version_num"]["nullable"]
            assert inspect(connection).get_pk_constraint("alembic_version")["constrained_columns"] == ["version_num"]
        assert sorted(inspect(database.engine).get_table_names()) == sorted([*Base.metadata.tables, "alembic_version"])
    assert not list(tmp_path.glob("*.before-*"))  # nothing to copy aside for a new database


def test_older_database_upgrades_in_place_and_keeps_its_rows(tmp_path):
    from gallery.config.settings import load_settings
    from gallery.admin.upgrade import upgrade_collection

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Database(url)
    upgrade_schema(old, "0001")
    with old.engine.begin() as connection:
        connection.execute(text("INSERT INTO sitters (name, alternative_names, external_ids, created_at) "
                                "VALUES ('Saskia van Uylenburgh', '[]', '{}', '2020-01-01')"))
        connection.execute(text("INSERT INTO ingest_errors (path, stage, message, at) "
                                "VALUES ('/c/x.jpg', 'read', 'truncated', '2020-01-01')"))
    old.dispose()
    assert "index_runs" not in _tables(url)

    with pytest.raises(SchemaOutOfDate, match="gallery db upgrade"):
        open_database(url)  # no command upgrades on the side
    settings = load_settings(None, {"HOME": str(tmp_path)}, data_dir=str(tmp_path), db_url=url)
    report = upgrade_collection(settings)
    upgraded = open_database(url)
    assert current_revision(upgraded.engine) == "0007"
    assert {"index_runs", "sitter_events", "replica_decisions"} <= set(_tables(url))
    with upgraded.session() as session:
        assert sitter_named(session, "Saskia van Uylenburgh") is not None
        assert session.execute(text("SELECT run_id, message FROM ingest_errors")).one() == (None, "truncated")
    assert (report.backup.folder / "gallery.db").exists()  # a verified backup was taken before upgrading
    assert report.backup.folder.parent == tmp_path / "backups"


def _tables(url):
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_bad_urls_fail_clearly(tmp_path):
    with pytest.raises(DatabaseError, match="not a database URL"):
        open_database("definitely not a url")
    with pytest.raises(DatabaseError, match="cannot use"):
        open_database("nosuchdriver://x/y")
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(DatabaseError):
        open_database(f"sqlite:///{blocked}/inside.db")


def test_identifications_are_history_and_the_latest_per_pair_counts(database):
    with database.session() as session:
        face = _face(session)
        rembrandt = sitter_named(session, "Rembrandt", create=True)
        saskia = sitter_named(session, "Saskia", create=True)
        assert add_metadata_identification(session, face.id, rembrandt.id)
        identify(session, face.id, rembrandt.id, "rejected", "curator", who="anna", note="it is his pupil")
        identify(session, face.id, saskia.id, "probable", "curator", who="anna")
        # metadata never overrides a curator: the pair already has records
        assert not add_metadata_identification(session, face.id, rembrandt.id)
        current = {c.sitter: (c.status, c.source, c.who) for c in current_identifications(session, [face.id])}
        assert current == {"Rembrandt": ("rejected", "curator", "anna"), "Saskia": ("probable", "curator", "anna")}
        assert [h.status for h in history(session, face.id)] == ["confirmed", "rejected", "probable"]
        with pytest.raises(IdentificationError, match="status"):
            identify(session, face.id, saskia.id, "maybe", "curator")
        with pytest.raises(IdentificationError, match="no face"):
            identify(session, 999, saskia.id, "confirmed", "curator")


def test_sitters_named_at_once_as_one_at_a_time(database):
    from sqlalchemy import func, select

    from db.schema import Sitter

    with database.session() as session:
        rembrandt = sitter_named(session, "Rembrandt", create=True)
        saskia = sitter_named(session, "Saskia van Uylenburgh", create=True)
        sitter_named(session, "Saskia", create=True).merged_into_id = saskia.id
        session.flush()
        names = ["Rembrandt", " Saskia ", "Titus  van Rijn", "Titus van Rijn"]
        assert sitters_named(session, names) == {"Rembrandt": rembrandt, " Saskia ": saskia,
                                                 "Titus  van Rijn": None, "Titus van Rijn": None}
        before = session.scalar(select(func.count(Sitter.id)))
        found = sitters_named(session, names, create=True)
        assert session.scalar(select(func.count(Sitter.id))) == before + 1  # the two spellings: one sitter
        assert found["Titus  van Rijn"] is found["Titus van Rijn"] and found["Titus van Rijn"].id is not None
        assert found == {name: sitter_named(session, name) for name in names}


def test_sitters_import_upserts_and_list_counts_current_faces(database):
    with database.session() as session:
        counts = import_sitters(session, [SitterRecord("Saskia van Uylenburgh", ("Saskia",), 1612, 1642,
                                                       external_ids={"wikidata": "Q237217"})])
        assert counts == {"created": 1, "updated": 0}
        # the same person under another spelling, found by the external id
        counts = import_sitters(session, [SitterRecord("Saskia Uylenburgh", ("Saske",), None, None, "wife",
                                                       {"wikidata": "Q237217"})])
        assert counts == {"created": 0, "updated": 1}
        saskia = sitter_named(session, "Saskia van Uylenburgh")
        assert saskia.alternative_names == ["Saske", "Saskia"] and saskia.birth_year == 1612 and saskia.notes == "wife"
        a, b = _face(session, "/c/a.jpg"), _face(session, "/c/b.jpg")
        add_metadata_identification(session, a.id, saskia.id)
        add_metadata_identification(session, b.id, saskia.id)
        identify(session, b.id, saskia.id, "rejected", "curator")
        [summary] = list_sitters(session)
        assert (summary.name, summary.faces, summary.artworks, summary.dates) == \
            ("Saskia van Uylenburgh", 1, 1, "1612–1642")
        assert list_sitters(session, "nobody") == []


def test_artwork_csv_rows_and_problems(tmp_path):
    root = tmp_path / "collection"
    (root / "Rembrandt").mkdir(parents=True)
    (root / "Rembrandt" / "self.jpg").write_bytes(b"x")
    (root / "loose.jpg").write_bytes(b"x")
    csv_file = tmp_path / "catalogue.csv"
    csv_file.write_text("File;Sitter;Title;Year;Accession No;Frame\n"
                        "Rembrandt/self.jpg;Rembrandt van Rijn;Self-portrait;1669;NG221;gilt\n"
                        "loose.jpg;;Unknown man;c. 1650;;\n"
                        "gone.jpg;Someone;;;;\n"
                        "../outside.jpg;x;;;;\n", encoding="utf-8")
    found, problems = read_artwork_csv(csv_file, root)
    assert found["Rembrandt/self.jpg"].sitter == "Rembrandt van Rijn"
    assert found["Rembrandt/self.jpg"].fields == {"title": "Self-portrait", "year": 1669, "accession_number": "NG221"}
    assert found["Rembrandt/self.jpg"].extras == {"frame": "gilt"}
    assert found["loose.jpg"].fields["year"] is None
    messages = " | ".join(f"{p.where}: {p.message}" for p in problems)
    assert "line 3: year 'c. 1650' is not a number" in messages
    assert "line 4: gone.jpg does not exist" in messages and "line 5: ../outside.jpg is outside" in messages
    (tmp_path / "bad.csv").write_text("sitter,title\nx,y\n")
    with pytest.raises(MetadataError, match="no 'file' column"):
        read_artwork_csv(tmp_path / "bad.csv", root)
    with pytest.raises(MetadataError, match="does not exist"):
        read_artwork_csv(tmp_path / "none.csv", root)


def test_sitters_csv_and_folder_names(tmp_path):
    from pathlib import PurePosixPath

    path = tmp_path / "sitters.csv"
    path.write_text("name,alternative_names,birth_year,death_year,wikidata,ulan\n"
                    "Saskia van Uylenburgh,Saskia; Saske,1612,1642,Q237217,500115493\n"
                    "Titus van Rijn,,1641,1668,not-a-qid,\n"
                    ",,,,,\n", encoding="utf-8")
    records, problems = read_sitters_csv(path)
    assert records[0].alternative_names == ("Saskia", "Saske")
    assert records[0].external_ids == {"wikidata": "Q237217", "ulan": "500115493"}
    assert records[1].external_ids == {} and "not a QID" in problems[0].message
    assert sitter_from_folder(PurePosixPath("Jan_Six/portrait.jpg")) == "Jan Six"
    assert sitter_from_folder(PurePosixPath("portrait.jpg")) is None


def test_statistics_steer_the_planner_to_the_artworks_hash_not_the_active_flag(database):
    """Without ANALYZE's statistics SQLite looks up a file's faces through the index on `active`,
    scanning every active face; with them, through the artwork's hash."""
    from sqlalchemy import event

    from db.collection import face_in_file

    with database.engine.begin() as connection:
        connection.execute(Artwork.__table__.insert(), [
            {"id": i, "path": f"/c/{i}.jpg", "collection": "/c", "sha256": f"{i:064d}", "status": "present",
             "extras": {}} for i in range(1, 301)])
        connection.execute(Face.__table__.insert(), [
            {"id": i, "artwork_id": i, "face_index": 0, "box": [0, 0, 10, 10], "landmarks": [[0, 0]] * 5,
             "score": 0.9, "active": True} for i in range(1, 301)])
    emitted = []
    event.listen(database.engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, parameters, _context, _many: emitted.append((statement, parameters)))
    with database.session() as session:
        assert face_in_file(session, f"{7:064d}", [0, 0, 10, 10]).face_id == 7
    [(statement, parameters)] = [e for e in emitted if "sha256" in e[0]]

    def plan() -> str:
        with database.engine.connect() as connection:
            return " ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                                           parameters))

    assert "ix_faces_active" in plan()  # the guess without statistics
    database.refresh_statistics()
    assert "ix_artworks_sha256" in plan() and "ix_faces_active" not in plan()
