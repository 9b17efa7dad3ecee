"""The indexer's reader and mapper on a Ray cluster (a local one here, two CPUs): the faces,
vectors and identifications it writes are those of the single-process indexer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sqlalchemy import select

from db.collection import find_embedding_set
from db.engine import open_database
from db.identifications import current_identifications
from db.schema import Artwork, Face, FaceVector
from gallery.faces.pipeline import FacePipeline
from gallery.config.settings import load_settings
from indexer.runner import index_collection
from tests.collections import copy_sitters

ray = pytest.importorskip("ray", reason="the [cluster] extra (Ray) is not installed")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module; the indexer joins it instead of starting its own."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _settings(profile, root, name):
    return load_settings(profile, {"HOME": str(root), "HF_HUB_OFFLINE": "1"}, data_dir=str(root / name), workers=0)


def _flipped(settings):
    """The same profile with flip averaging: a new embedding set over the same faces."""
    encoders = tuple(replace(e, flip=True) for e in settings.profile.encoders)
    return replace(settings, profile=replace(settings.profile, encoders=encoders))


def _written(settings, set_key: str) -> dict:
    """(file name, face index) -> (box, landmarks, vector, current sitters) for the set's faces."""
    database = open_database(settings.database_url)
    out = {}
    with database.session() as session:
        eset = find_embedding_set(session, set_key)
        rows = session.execute(select(Artwork.path, Face.id, Face.face_index, Face.box, Face.landmarks, FaceVector.vector)
                               .join(Face, Face.artwork_id == Artwork.id)
                               .join(FaceVector, FaceVector.face_id == Face.id)
                               .where(FaceVector.set_id == eset.id, Face.active.is_(True)))
        rows = list(rows)
        sitters = {}
        for record in current_identifications(session, [r.id for r in rows]):
            sitters.setdefault(record.face_id, set()).add(record.sitter)
        for r in rows:
            out[(r.path.rsplit("/", 1)[-1], r.face_index)] = (np.array(r.box), np.array(r.landmarks),
                                                              np.frombuffer(r.vector, np.float32),
                                                              sitters.get(r.id, set()))
    database.engine.dispose()
    return out


def _assert_same(one: dict, other: dict) -> None:
    assert one.keys() == other.keys() and one
    for key, (box, landmarks, vector, sitters) in one.items():
        box2, landmarks2, vector2, sitters2 = other[key]
        np.testing.assert_allclose(box, box2, atol=1e-3)
        np.testing.assert_allclose(landmarks, landmarks2, atol=1e-2)
        np.testing.assert_allclose(vector, vector2, atol=1e-5)
        assert sitters == sitters2


def test_ray_is_refused_with_a_clear_message_without_a_cluster(onnx_profile, onnx_pipeline, tmp_path):
    from indexer.ray_mapper import RayError

    assert not ray.is_initialized()  # runs before the module's cluster starts
    collection = tmp_path / "collection"
    (collection / "a").mkdir(parents=True)
    (collection / "a" / "x.jpg").write_bytes(b"x")
    with pytest.raises(RayError, match="cannot join the Ray cluster at 127.0.0.1:1"):
        index_collection(_settings(onnx_profile, tmp_path, "d"), collection, pipeline=onnx_pipeline,
                         ray="127.0.0.1:1")


def test_ray_indexing_writes_what_the_single_process_indexer_writes(cluster, lfw_dir, onnx_profile, onnx_pipeline,
                                                                    tmp_path):
    collection = tmp_path / "collection"
    copy_sitters(lfw_dir, collection, 5)
    (collection / "damaged.jpg").write_bytes(b"\xff\xd8 not a whole JPEG")
    alone, on_ray = _settings(onnx_profile, tmp_path, "alone"), _settings(onnx_profile, tmp_path, "ray")

    first = index_collection(alone, collection, pipeline=onnx_pipeline)
    seen = []
    second = index_collection(on_ray, collection, pipeline=onnx_pipeline, ray="local",
                              on_progress=lambda p: seen.append(p.done))
    for key in ("new", "failed", "faces_added", "identifications_added"):
        assert first.counts.get(key) == second.counts.get(key), key
    assert second.counts["new"] == 20 and second.counts["failed"] == 1
    assert [e[0].rsplit("/", 1)[-1] for e in second.errors] == ["damaged.jpg"]
    assert seen[-1] == 21
    _assert_same(_written(alone, first.embedding_set), _written(on_ray, second.embedding_set))

    # files read in a stage of their own (as on a GPU cluster), feeding the replicas decoded images
    readers = replace(_settings(onnx_profile, tmp_path, "readers"), ray_readers=1)
    apart = index_collection(readers, collection, pipeline=onnx_pipeline, ray="local")
    assert apart.counts == second.counts and [e[0] for e in apart.errors] == [e[0] for e in second.errors]
    _assert_same(_written(alone, first.embedding_set), _written(readers, apart.embedding_set))

    again = index_collection(on_ray, collection, pipeline=onnx_pipeline, ray="local")
    assert again.counts["unchanged"] == 20 and "new" not in again.counts

    # a new embedding set: the cluster aligns the stored faces again instead of detecting
    flipped_alone, flipped_ray = _flipped(alone), _flipped(on_ray)
    pipeline = FacePipeline(flipped_ray)
    third = index_collection(flipped_alone, collection, pipeline=pipeline)
    fourth = index_collection(flipped_ray, collection, pipeline=pipeline, ray="local")
    assert fourth.embedding_set != second.embedding_set
    assert fourth.counts["embed"] == third.counts["embed"] == 20
    assert fourth.counts["faces_embedded"] == third.counts["faces_embedded"] == first.counts["faces_added"]
    _assert_same(_written(flipped_alone, third.embedding_set), _written(flipped_ray, fourth.embedding_set))


@pytest.mark.parametrize("resources, overrides, expected", [
    ({"CPU": 16, "GPU": 2}, {}, (2, {"num_gpus": 1, "num_cpus": 1}, 14)),  # reading apart, on the free CPUs
    ({"CPU": 16, "GPU": 2}, {"ray_readers": 6, "ray_actors": 1}, (1, {"num_gpus": 1, "num_cpus": 1}, 6)),
    ({"CPU": 16, "GPU": 2}, {"device": "cpu"}, (4, {"num_cpus": 4}, 0)),
    ({"CPU": 2, "GPU": 4}, {}, (4, {"num_gpus": 1, "num_cpus": 0.25}, 1)),  # fewer CPUs than GPUs: shares
    ({"CPU": 16}, {}, (4, {"num_cpus": 4}, 0)),  # each replica reads its own files
    ({"CPU": 16}, {"ray_readers": 4}, (3, {"num_cpus": 4}, 4)),
    ({"CPU": 2}, {"ray_readers": 1}, (1, {"num_cpus": 1}, 1)),
    ({"CPU": 2}, {"ray_readers": 5}, (1, {"num_cpus": 1}, 1)),  # one CPU always left for a replica
])
def test_the_plan_splits_the_cluster_between_readers_and_replicas(resources, overrides, expected, tmp_path):
    from indexer.ray_mapper import RayPlan, plan_for

    settings = replace(load_settings(None, {"HOME": str(tmp_path)}, data_dir=str(tmp_path)), **overrides)
    assert plan_for(settings, resources) == RayPlan(*expected)
