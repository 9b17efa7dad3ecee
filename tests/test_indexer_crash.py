"""A real indexer process killed (SIGKILL) at random points of its progress, on a machine kept busy
by a CPU hog; reruns must complete the job with exactly one active face row per real face and no
lost or doubled identifications."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import func, select

from db.engine import open_database
from db.identifications import current_identifications
from db.schema import Artwork, Face
from gallery.config.settings import load_settings
from indexer.runner import index_collection
from indexer.status import collection_status
from tests.collections import copy_sitters
from tests.waiting import GENEROUS_S, sqlite_count, wait_until

pytestmark = pytest.mark.slow


def _faces_per_artwork(url):
    database = open_database(url)
    with database.session() as session:
        rows = session.execute(select(Artwork.path, func.count(Face.id)).outerjoin(
            Face, (Face.artwork_id == Artwork.id) & Face.active.is_(True)).group_by(Artwork.path)).all()
        per_face = Counter((c.face_id, c.sitter_id) for c in current_identifications(session))
        duplicates = session.execute(select(Face.artwork_id, Face.face_index, func.count()).where(Face.active.is_(True))
                                     .group_by(Face.artwork_id, Face.face_index).having(func.count() > 1)).all()
    database.dispose()
    return dict(rows), per_face, duplicates


def test_killed_indexer_resumes_to_the_same_result(lfw_dir, onnx_profile, onnx_pipeline, tmp_path, env, cpu_hog):
    collection = tmp_path / "collection"
    copy_sitters(lfw_dir, collection, 30)  # 120 images

    reference = load_settings(onnx_profile, {"HOME": str(tmp_path)}, data_dir=str(tmp_path / "reference"), workers=0)
    index_collection(reference, collection, pipeline=onnx_pipeline)
    expected, _, _ = _faces_per_artwork(reference.database_url)

    data = tmp_path / "killed"
    env = {**env, "GALLERY_DATA_DIR": str(data), "GALLERY_BATCH_SIZE": "4", "GALLERY_WORKERS": "1"}
    command = [sys.executable, "-m", "gallery", "index", str(collection), "--config", str(onnx_profile)]
    url = f"sqlite:///{data / 'gallery.db'}"
    rng = random.Random(7)
    partial_states = []
    for _attempt in range(4):
        # kill at a point defined by progress, not by the clock: once a random number of further
        # artworks has been committed (the kill then lands anywhere in the batch after it)
        target = sqlite_count(data / "gallery.db", "artworks") + rng.randint(1, 10)
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: sqlite_count(data / "gallery.db", "artworks") >= target,
                   f"{target} artworks committed", alive=proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=GENEROUS_S)
        partial_states.append(len(_faces_per_artwork(url)[0]))
    assert all(0 < n < len(expected) for n in partial_states), partial_states  # killed mid-run, really
    assert partial_states == sorted(partial_states)  # nothing committed was lost by a later kill
    assert cpu_hog.busy()  # all of it ran on a loaded machine

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=GENEROUS_S)
    assert done.returncode == 0, done.stderr
    faces, identifications, duplicates = _faces_per_artwork(url)
    assert faces == expected
    assert duplicates == []
    assert len(identifications) == len(expected) and set(identifications.values()) == {1}
    settings = load_settings(onnx_profile, {"HOME": str(tmp_path)}, data_dir=str(data))
    [eset] = collection_status(settings).embedding_sets
    assert eset["index_health"] == "consistent" and eset["faces"] == sum(expected.values())
