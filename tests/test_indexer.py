"""The batch indexer on real faces with the real shared ONNX models."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from db.collection import find_embedding_set, set_face_ids
from db.engine import open_database
from db.identifications import current_identifications, identify
from db.schema import Artwork, Face, FaceVector, IngestError
from db.sitters import sitter_named
from db.vectors import index_folder, open_set_index
from gallery.config.settings import load_settings, with_overrides
from gallery.index.files import INDEX_FILE, VECTORS_FILE
from indexer.plan import CollectionError
from indexer.runner import index_collection
from indexer.status import collection_status
from tests.collections import copy_sitters

pytestmark = pytest.mark.slow


@pytest.fixture()
def settings(onnx_profile, tmp_path):
    return load_settings(onnx_profile, {"HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}, data_dir=str(tmp_path / "data"),
                         workers=0)


def run(settings, collection, pipeline, **kwargs):
    return index_collection(settings, collection, pipeline=pipeline, **kwargs)


def test_held_out_portraits_find_their_sitter(lfw_dir, onnx_pipeline, tmp_path, settings):
    collection = tmp_path / "collection"
    held_out = copy_sitters(lfw_dir, collection, 100, skip_first=True)
    summary = run(with_overrides(settings, workers=1), collection, onnx_pipeline)  # a real reader process
    assert summary.counts["new"] == 300 and summary.counts["identifications_added"] == 300
    state = collection_status(settings)
    assert (state.counts["artworks"], state.counts["sitters"], state.counts["identified_faces"]) == (300, 100, 300)
    assert state.counts["faces"] >= 300 and state.embedding_sets[0]["index_health"] == "consistent"

    database = open_database(settings.database_url)
    with database.engine.connect() as connection:  # the run left the query planner its statistics
        analysed = {row[0] for row in connection.exec_driver_sql("SELECT idx FROM sqlite_stat1")}
    assert {"ix_faces_active", "ix_artworks_sha256"} <= analysed
    with database.session() as session:
        eset = find_embedding_set(session, summary.embedding_set)
    index = open_set_index(database, eset, settings.index_dir).index
    right = 0
    for image in held_out:
        vector = onnx_pipeline.process(onnx_pipeline.load(image)).faces[0].vector
        _scores, ids = index.search(vector, 20)
        with database.session() as session:
            named = {c.face_id: c.sitter for c in current_identifications(session, [int(i) for i in ids[0]])}
        best = next(named[int(i)] for i in ids[0] if int(i) in named)
        right += best == image.parent.name.replace("_", " ")
    # measured: 100 of 100 held-out sitters come first (SCRFD-500M + MobileFaceNet)
    assert right >= 90, f"{right} of 100 held-out portraits found their sitter first"


def _faces_of(session, path):
    return list(session.scalars(select(Face).join(Artwork).where(Artwork.path == str(path)).order_by(Face.id)))


def test_changed_moved_deleted_and_corrupt_files(lfw_dir, onnx_pipeline, tmp_path, settings):
    collection = tmp_path / "collection"
    copy_sitters(lfw_dir, collection, 3)
    first = run(settings, collection, onnx_pipeline)
    assert first.counts["new"] == 12
    database = open_database(settings.database_url)
    changed, moved, deleted = (sorted((collection / d).glob("*.jpg"))[0] for d in sorted(p.name for p in
                                                                                        collection.iterdir()))
    with database.session() as session:
        [changed_face] = [f for f in _faces_of(session, changed) if f.face_index == 0]
        curator = sitter_named(session, "A curator's attribution", create=True)
        identify(session, changed_face.id, curator.id, "probable", "curator", who="anna")
        moved_faces = [f.id for f in _faces_of(session, moved)]
        moved_artwork = session.scalar(select(Artwork.id).where(Artwork.path == str(moved)))

    # a better scan (1.5x larger), a renamed file, a deleted file, two broken files
    Image.open(changed).resize((375, 375)).save(changed, quality=95)
    new_path = moved.with_name("renamed.jpg")
    moved.rename(new_path)
    deleted.unlink()
    (collection / "broken.jpg").write_bytes(changed.read_bytes()[:300])
    (collection / "empty.png").write_bytes(b"")

    second = run(settings, collection, onnx_pipeline)
    c = second.counts
    assert (c["changed"], c["moved"], c["missing"], c["failed"], c["unchanged"]) == (1, 1, 1, 2, 9)
    assert {Path(p).name for p, _ in second.errors} == {"broken.jpg", "empty.png"}
    with database.session() as session:
        # the moved file kept its artwork row and faces
        assert session.scalar(select(Artwork.id).where(Artwork.path == str(new_path))) == moved_artwork
        assert [f.id for f in _faces_of(session, new_path)] == moved_faces
        # the changed file: old faces retired, new ones carry both the catalogue and the curator's word
        faces = _faces_of(session, changed)
        assert not any(f.active for f in faces if f.id <= changed_face.id)
        new_largest = next(f for f in faces if f.active and f.face_index == 0)
        carried = {(i.sitter, i.status, i.source) for i in current_identifications(session, [new_largest.id])}
        assert ("A curator's attribution", "probable", "curator") in carried
        assert (changed.parent.name.replace("_", " "), "confirmed", "metadata") in carried
        # the deleted file is marked, not erased
        gone = session.scalar(select(Artwork).where(Artwork.path == str(deleted)))
        assert gone.status == "missing" and _faces_of(session, deleted)
        assert {Path(e.path).name for e in session.scalars(select(IngestError))} == {"broken.jpg", "empty.png"}
        eset = find_embedding_set(session, second.embedding_set)
        truth = set_face_ids(session, eset.id)
    index = open_set_index(database, eset, settings.index_dir)
    assert index.health == "consistent" and np.array_equal(np.sort(index.index.ids), truth)

    shutil.copy(new_path, collection / "broken.jpg")  # repaired: its error goes away
    third = run(settings, collection, onnx_pipeline)
    assert third.counts.get("new") == 1 and third.counts.get("failed") == 1
    with database.session() as session:
        assert [Path(e.path).name for e in session.scalars(select(IngestError))] == ["empty.png"]


def test_new_model_adds_an_embedding_set_and_keeps_faces(lfw_dir, onnx_pipeline, tmp_path, settings, models_dir):
    from gallery.faces.pipeline import FacePipeline
    from tests.conftest import write_profile

    collection = tmp_path / "collection"
    copy_sitters(lfw_dir, collection, 2)
    first = run(settings, collection, onnx_pipeline)
    other = write_profile(tmp_path / "other.toml", models_dir, extra="").read_text().replace(
        'name = "mobilefacenet"', 'name = "mobilefacenet-v2"')
    (tmp_path / "other.toml").write_text(other)
    settings2 = load_settings(tmp_path / "other.toml", {"HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"},
                              data_dir=str(tmp_path / "data"), workers=0)
    second = run(settings2, collection, FacePipeline(settings2))
    assert second.embedding_set != first.embedding_set
    assert second.counts["embed"] == 8 and not second.counts.get("faces_added")
    database = open_database(settings.database_url)
    with database.session() as session:
        faces = session.scalar(select(func.count(Face.id)))
        assert faces == first.counts["faces_added"]
        per_set = dict(session.execute(select(FaceVector.set_id, func.count()).group_by(FaceVector.set_id)).all())
        assert sorted(per_set.values()) == [faces, faces]
    assert {s["key"]: s["active"] for s in collection_status(settings2).embedding_sets} == \
        {first.embedding_set: False, second.embedding_set: True}


def test_damaged_index_is_rebuilt_from_the_database(lfw_dir, onnx_pipeline, tmp_path, settings, caplog):
    collection = tmp_path / "collection"
    copy_sitters(lfw_dir, collection, 2)
    summary = run(settings, collection, onnx_pipeline)
    folder = settings.index_dir / summary.embedding_set

    def health():
        return collection_status(settings).embedding_sets[0]["index_health"]

    assert health() == "consistent"
    (folder / INDEX_FILE).unlink()
    assert health() == "rebuilt"
    assert health() == "consistent"
    (folder / VECTORS_FILE).write_bytes((folder / VECTORS_FILE).read_bytes()[:50])  # truncated
    assert health() == "rebuilt"
    shutil.rmtree(folder)
    assert health() == "rebuilt"
    assert "rebuilt from stored vectors" in caplog.text
    database = open_database(settings.database_url)
    with database.session() as session:
        eset = find_embedding_set(session, summary.embedding_set)
    assert len(open_set_index(database, eset, settings.index_dir).index) == summary.counts["faces_added"]
    assert index_folder(settings.index_dir, eset) == folder


def test_an_index_behind_the_database_is_caught_up_not_rebuilt(lfw_dir, onnx_pipeline, tmp_path, settings, caplog):
    from db.collection import set_vectors

    collection = tmp_path / "collection"
    copy_sitters(lfw_dir, collection, 3)
    first = run(settings, collection, onnx_pipeline)
    folder = settings.index_dir / first.embedding_set
    shutil.copytree(folder, tmp_path / "saved")
    # the next run commits new files and a changed one; its save is then undone, as if it had
    # stopped between its commits and its save
    copy_sitters(lfw_dir, collection, 5)
    changed = sorted(collection.rglob("*.jpg"))[0]
    shutil.copy(sorted(collection.rglob("*.jpg"))[-1], changed)
    second = run(settings, collection, onnx_pipeline)
    assert second.counts["changed"] == 1 and second.counts["faces_retired"] >= 1
    shutil.rmtree(folder)
    shutil.copytree(tmp_path / "saved", folder)

    database = open_database(settings.database_url)
    with database.session() as session:
        eset = find_embedding_set(session, first.embedding_set)
        truth_ids, truth_vectors = set_vectors(session, eset.id, eset.dim)
    opened = open_set_index(database, eset, settings.index_dir)
    added, removed = second.counts["faces_added"], second.counts["faces_retired"]
    assert opened.health == "caught up", opened.detail
    assert f"{added} faces added and {removed} removed" in opened.detail and "caught up" in caplog.text
    assert np.array_equal(np.sort(opened.index.ids), truth_ids)
    assert np.array_equal(opened.index.vectors_for(truth_ids), truth_vectors.astype(np.float32))
    again = open_set_index(database, eset, settings.index_dir)  # the caught-up index was saved
    assert again.health == "consistent" and np.array_equal(np.sort(again.index.ids), truth_ids)


def test_metadata_csv_labels_another_face_and_reports_bad_rows(onnx_pipeline, group_photo, tmp_path, settings):
    collection = tmp_path / "collection"
    collection.mkdir()
    shutil.copy(group_photo, collection / "group.jpg")
    shutil.copy(group_photo, collection / "group2.jpg")
    csv_file = tmp_path / "catalogue.csv"
    csv_file.write_text("file,sitter,face,title,artist,frame\n"
                        "group.jpg,Second Person,1,The family,Unknown hand,gilt\n"
                        "group2.jpg,Nobody,9,,,\n"
                        "missing.jpg,Ghost,,,,\n")
    summary = run(settings, collection, onnx_pipeline, metadata_csv=csv_file)
    messages = " | ".join(m for _, m in summary.errors)
    assert "missing.jpg does not exist" in messages and "names face 9, but 6 face(s)" in messages
    database = open_database(settings.database_url)
    with database.session() as session:
        artwork = session.scalar(select(Artwork).where(Artwork.path.endswith("/group.jpg")))
        assert (artwork.title, artwork.artist, artwork.extras) == ("The family", "Unknown hand", {"frame": "gilt"})
        faces = {f.id: f.face_index for f in artwork.faces}
        [labelled] = current_identifications(session, list(faces))
        assert labelled.sitter == "Second Person" and faces[labelled.face_id] == 1
        assert all(f.thumbnail[:2] == b"\xff\xd8" for f in artwork.faces)  # JPEG thumbnails


def test_an_emptied_collection_folder_is_refused(lfw_dir, onnx_pipeline, tmp_path, settings):
    collection = tmp_path / "collection"
    copy_sitters(lfw_dir, collection, 1)
    run(settings, collection, onnx_pipeline)
    shutil.rmtree(collection)
    collection.mkdir()  # an unmounted drive looks like this
    with pytest.raises(CollectionError, match="is the drive mounted"):
        run(settings, collection, onnx_pipeline)
    with pytest.raises(CollectionError, match="does not exist"):
        run(settings, tmp_path / "nowhere", onnx_pipeline)
