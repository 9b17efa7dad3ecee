"""Faults: a full disk, a read-only data folder, a locked database, index files deleted or damaged
under a running service, the server killed during curators' decisions. Each ends with a clear
message and the whole change or none of it; the next start is consistent."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from tests.collections import copy_sitters
from tests.test_ui import _free_port
from tests.waiting import GENEROUS_S, sqlite_count, wait_until

pytestmark = pytest.mark.slow


@contextmanager
def small_disk(path: Path, size: str):
    """A tmpfs of `size` mounted at `path` (root only; the test is skipped where it cannot mount)."""
    path.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here ({made.stderr.strip() or 'not root'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True, capture_output=True)


def _faces_per_artwork(url: str) -> dict:
    from db.engine import open_database
    from db.schema import Artwork, Face

    database = open_database(url)
    with database.session() as session:
        rows = session.execute(select(Artwork.path, func.count(Face.id)).outerjoin(
            Face, (Face.artwork_id == Artwork.id) & Face.active.is_(True)).group_by(Artwork.path)).all()
    database.dispose()
    return {Path(path).name: count for path, count in rows}


@pytest.fixture(scope="module")
def small_collection(lfw_dir, onnx_profile, onnx_pipeline, tmp_path_factory):
    """20 sitters (80 images) and what a clean run makes of them."""
    from gallery.config.settings import load_settings
    from indexer.runner import index_collection

    root = tmp_path_factory.mktemp("faults")
    copy_sitters(lfw_dir, root / "collection", 20)
    settings = load_settings(onnx_profile, {"HOME": str(root)}, data_dir=str(root / "reference"))
    index_collection(settings, root / "collection", pipeline=onnx_pipeline)
    return root / "collection", _faces_per_artwork(settings.database_url)


def test_disk_full_during_indexing_keeps_whole_batches(small_collection, onnx_profile, gallery_cli, env, tmp_path):
    collection, expected = small_collection
    env["GALLERY_BATCH_SIZE"] = "4"  # several commits before the disk fills
    with small_disk(tmp_path / "disk", "500k") as data:
        args = ["index", collection, "--config", onnx_profile, "--data-dir", data]
        full = gallery_cli(*args, check=False)
        assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr[-2000:]
        assert "is full" in full.stderr and "Nothing of this change was written" in full.stderr
        _remount(data, "size=50m")
        partial = _faces_per_artwork(f"sqlite:///{data / 'gallery.db'}")
        assert 0 < len(partial) < len(expected)
        assert all(expected[name] == faces for name, faces in partial.items())  # no artwork without its faces
        gallery_cli(*args)  # room again: the same command completes the job
        assert _faces_per_artwork(f"sqlite:///{data / 'gallery.db'}") == expected
        status = gallery_cli("status", "--json", "--config", onnx_profile, "--data-dir", data).stdout
        assert '"index_health": "consistent"' in status


def test_index_save_on_a_full_disk_keeps_the_previous_index(tmp_path):
    from gallery.index.opening import open_index
    from gallery.index.store import VectorIndexError
    from gallery.index.vector_index import VectorIndex

    rng = np.random.default_rng(0)
    with small_disk(tmp_path / "disk", "64k") as folder:
        index = VectorIndex(128)
        index.add(np.arange(10), rng.standard_normal((10, 128)))
        index.save(folder / "set", "set")
        index.add(np.arange(10, 1000), rng.standard_normal((990, 128)))
        with pytest.raises(VectorIndexError, match="cannot save the vector index .*No space left"):
            index.save(folder / "set", "set")
        assert not [p for p in (folder / "set").iterdir() if p.name.startswith(".")]  # no half-written files
        opened = open_index(folder / "set", "set", 128)
        assert opened.health == "consistent" and len(opened.index) == 10  # the previous save, whole


def test_read_only_data_folder_says_so_and_changes_nothing(small_collection, onnx_profile, gallery_cli, tmp_path):
    collection, expected = small_collection
    with small_disk(tmp_path / "disk", "50m") as data:
        gallery_cli("index", collection, "--config", onnx_profile, "--data-dir", data)
        shutil.copy(next(collection.glob("*/*.jpg")), collection / "extra.jpg")
        try:
            _remount(data, "ro")
            refused = gallery_cli("index", collection, "--config", onnx_profile, "--data-dir", data, check=False)
            assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr[-2000:]
            assert "read-only" in refused.stderr
        finally:
            (collection / "extra.jpg").unlink()
            _remount(data, "rw")
        assert _faces_per_artwork(f"sqlite:///{data / 'gallery.db'}") == expected


def test_a_locked_database_is_a_clear_refusal_and_nothing_is_written(indexed, tmp_path):
    import sqlite3

    from db.engine import DatabaseError, open_database
    from db.decisions import curate
    from db.schema import Identification

    settings = indexed[0]
    copy = tmp_path / "gallery.db"
    with sqlite3.connect(Path(settings.database_url.removeprefix("sqlite:///"))) as src, \
            sqlite3.connect(copy) as dst:
        src.backup(dst)
    database = open_database(f"sqlite:///{copy}?timeout=0.5")
    with database.session() as session:
        face_id = session.scalar(select(Identification.face_id).limit(1))
        before = session.scalar(select(func.count(Identification.id)))
    other = sqlite3.connect(copy, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with pytest.raises(DatabaseError, match="locked by another writer.*Nothing of this change was written"):
            with database.session() as session:
                curate(session, face_id, "confirmed", "A new sitter", "anna")
    finally:
        other.execute("ROLLBACK")
        other.close()
    with database.session() as session:
        assert session.scalar(select(func.count(Identification.id))) == before
        curate(session, face_id, "confirmed", "A new sitter", "anna")  # released: it goes through
    with database.session() as session:
        assert session.scalar(select(func.count(Identification.id))) == before + 1


def test_index_files_deleted_or_damaged_while_serving(indexed, onnx_pipeline, tmp_path):
    from db.engine import open_database
    from gallery.search.service import SearchService
    from gallery.config.settings import with_overrides
    from gallery.index.files import INDEX_FILE, MANIFEST, VECTORS_FILE

    settings, _service, held_out, _db = indexed
    data = tmp_path / "data"
    shutil.copytree(settings.data_dir, data)
    settings = with_overrides(settings, data_dir=data)
    service = SearchService(onnx_pipeline, open_database(settings.database_url), settings.index_dir)

    def ranked():
        return [(c.sitter, round(c.score, 5)) for c in service.search(held_out[0]).candidates]

    expected = ranked()
    [folder] = [p for p in settings.index_dir.iterdir() if p.is_dir()]
    for name in (VECTORS_FILE, INDEX_FILE, MANIFEST):
        (folder / name).unlink()
    assert ranked() == expected and (folder / MANIFEST).exists()  # rebuilt from the database
    (folder / INDEX_FILE).write_bytes(b"garbage")
    (folder / MANIFEST).write_text("{not json")
    assert ranked() == expected
    (folder / VECTORS_FILE).write_bytes(os.urandom(500))
    (folder / MANIFEST).write_text("{}")
    assert ranked() == expected
    fresh = SearchService(onnx_pipeline, open_database(settings.database_url), settings.index_dir)
    assert [(c.sitter, round(c.score, 5)) for c in fresh.search(held_out[0]).candidates] == expected


def test_server_killed_during_decisions_keeps_each_whole_or_absent(indexed, onnx_profile, env, tmp_path):
    from gradio_client import Client

    from db.engine import open_database
    from db.schema import Face, Identification, Sitter

    settings = indexed[0]
    data = tmp_path / "data"
    shutil.copytree(settings.data_dir, data)
    port = _free_port()
    command = [sys.executable, "-m", "gallery", "serve", "--port", str(port), "--config", str(onnx_profile),
               "--data-dir", str(data)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    client = wait_until(lambda: _connect(Client, url), "the page to answer", alive=server)
    database = open_database(f"sqlite:///{data / 'gallery.db'}")
    with database.session() as session:
        face_ids = list(session.scalars(select(Face.id).order_by(Face.id).limit(20)))
        before = session.scalar(select(func.count(Identification.id)))
    answered = []

    def decide():
        for n, face_id in enumerate(face_ids * 10):
            try:
                client.predict(face_id, "confirmed", f"Decided sitter {n}", "", api_name="/curate")
            except Exception:  # noqa: BLE001 (the server is gone)
                return
            answered.append(n)

    worker = threading.Thread(target=decide, daemon=True)
    worker.start()
    # kill at a point defined by progress: once several decisions are in the database
    wait_until(lambda: sqlite_count(data / "gallery.db", "identifications") >= before + 5, "5 decisions",
               alive=server)
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=GENEROUS_S)
    worker.join(timeout=GENEROUS_S)
    with database.session() as session:
        made = {name for name in session.scalars(select(Sitter.name).where(Sitter.name.like("Decided sitter %")))}
        labelled = {name for name in session.scalars(select(Sitter.name).join(
            Identification, Identification.sitter_id == Sitter.id).where(Sitter.name.like("Decided sitter %")))}
        integrity = session.connection().exec_driver_sql("PRAGMA integrity_check").scalar()
    assert integrity == "ok"
    assert made == labelled  # no sitter created without its identification: each decision whole or absent
    assert {f"Decided sitter {n}" for n in answered} <= made  # every answered decision is kept
    assert len(made) - len(answered) <= 1  # at most the one in flight
    # the next start is consistent and serves
    port = _free_port()
    command[command.index("--port") + 1] = str(port)
    restarted = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        again = wait_until(lambda: _connect(Client, f"http://127.0.0.1:{port}/"), "the page to answer again",
                           alive=restarted)
        assert "faces" in again.predict(api_name="/status")[0]
    finally:
        restarted.kill()
        restarted.wait(timeout=GENEROUS_S)


def _connect(client_class, url):
    try:
        return client_class(url, verbose=False)
    except Exception:  # noqa: BLE001 (not listening yet)
        return None
