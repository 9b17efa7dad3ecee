"""The same collection on a real PostgreSQL server: migrations, indexing, incremental rerun, history."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.engine import Database, current_revision, head_revision, open_database
from db.migrate import upgrade_schema
from db.identifications import current_identifications, identify
from db.schema import Face
from db.sitters import list_sitters, sitter_named
from gallery.config.settings import load_settings
from indexer.runner import index_collection
from indexer.status import collection_status
from tests.collections import copy_sitters

pytestmark = pytest.mark.slow


def test_collection_on_postgresql(postgres_url, lfw_dir, onnx_profile, onnx_pipeline, tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from db.schema import Base

    from sqlalchemy import create_engine, text

    with create_engine(postgres_url, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text("CREATE DATABASE created"))
    upgrade_schema(Database(postgres_url))  # the migrations, in turn, on PostgreSQL
    created = open_database(postgres_url.rsplit("/", 1)[0] + "/created")  # empty: created from the schema
    database = open_database(postgres_url)
    for each in (database, created):
        assert current_revision(each.engine) == head_revision()
        with each.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    created.dispose()

    collection = tmp_path / "collection"
    copy_sitters(lfw_dir, collection, 3)
    (collection / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    settings = load_settings(onnx_profile, {"HOME": str(tmp_path)}, data_dir=str(tmp_path / "data"),
                             db_url=postgres_url, workers=0)
    first = index_collection(settings, collection, pipeline=onnx_pipeline)
    assert first.counts["new"] == 12 and first.counts["failed"] == 1
    with database.session() as session:
        face = session.scalar(select(Face).order_by(Face.id).limit(1))
        other = sitter_named(session, "Another sitter", create=True)
        identify(session, face.id, other.id, "disputed", "curator", who="anna")
    again = index_collection(settings, collection, pipeline=onnx_pipeline)
    assert again.counts["unchanged"] == 12 and not again.counts.get("new")

    state = collection_status(settings)
    assert state.database.startswith("postgresql+psycopg://postgres@127.0.0.1")
    assert (state.counts["artworks"], state.counts["sitters"], state.counts["errors"]) == (12, 4, 1)
    assert state.embedding_sets[0]["index_health"] == "consistent"
    with database.session() as session:
        statuses = {c.sitter: c.status for c in current_identifications(session, [face.id])}
        assert statuses["Another sitter"] == "disputed" and len(statuses) == 2
        assert sum(s.artworks for s in list_sitters(session)) == 13  # 12 labelled + the disputed face's painting

    # gallery backup / restore through pg_dump and pg_restore, into a second, empty database
    from gallery.admin.backup import backup, restore

    with create_engine(postgres_url, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text("CREATE DATABASE restored"))
    made = backup(settings, tmp_path / "backup")
    assert made.backend == "postgresql" and (tmp_path / "backup" / "gallery.pgdump").stat().st_size > 0
    target_url = postgres_url.rsplit("/", 1)[0] + "/restored"
    target = load_settings(onnx_profile, {"HOME": str(tmp_path)}, data_dir=str(tmp_path / "restored"),
                           db_url=target_url)
    restore(target, tmp_path / "backup")
    after = collection_status(target)
    assert after.counts == state.counts
    assert [s["index_health"] for s in after.embedding_sets] == ["consistent"]
    with pytest.raises(Exception, match="already holds a collection"):
        restore(target, tmp_path / "backup")
