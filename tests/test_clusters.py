"""Clusters on a collection shaped like a real one: most unknown faces appear once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

LABELLED, RECURRING, ONCE = 20, 8, 40


def _partition(labels: np.ndarray) -> set[frozenset]:
    return {frozenset(np.flatnonzero(labels == x).tolist()) for x in set(labels.tolist()) if x >= 0}


def test_average_linkage_is_exact():
    """With every face a neighbour of every other, the clusters are scipy's average linkage cut at
    the threshold (groups of two or more)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    from gallery.curation.clusters import ClusterParams, cluster_vectors

    rng = np.random.default_rng(0)
    for _ in range(20):
        centres = rng.standard_normal((8, 32))
        vectors = np.concatenate([c + rng.uniform(0.5, 1.5) * rng.standard_normal((rng.integers(1, 6), 32))
                                  for c in centres])
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        threshold = float(rng.uniform(0.1, 0.5))
        ours = cluster_vectors(vectors.astype(np.float32), ClusterParams(neighbours=len(vectors)), threshold)
        cut = fcluster(linkage(pdist(vectors, "cosine"), "average"), 1 - threshold, "distance")
        values, counts = np.unique(cut, return_counts=True)
        expected = np.where(np.isin(cut, values[counts >= 2]), cut, -1)
        assert _partition(ours) == _partition(expected)


def test_a_chain_of_look_alikes_does_not_join_two_people():
    """A and B are far apart; a line of faces between them, each close to the next. Closest-pair
    linkage would join the whole chain; average linkage keeps A's and B's groups apart."""
    from gallery.curation.clusters import ClusterParams, cluster_vectors

    rng = np.random.default_rng(3)
    a, b = np.eye(64)[0], np.eye(64)[1]
    steps = [np.cos(t) * a + np.sin(t) * b for t in np.linspace(0, np.pi / 2, 12)]
    vectors = np.stack(steps + [a + 0.05 * rng.standard_normal(64) for _ in range(3)]
                       + [b + 0.05 * rng.standard_normal(64) for _ in range(3)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = cluster_vectors(vectors.astype(np.float32), ClusterParams(neighbours=4), 0.8)
    assert labels[12] >= 0 and labels[15] >= 0 and labels[12] != labels[15]
    assert all(len(group) < 10 for group in _partition(labels))


def test_bad_cluster_parameters_refused():
    from gallery.curation.clusters import ClusterError, ClusterParams

    for bad in ({"max_false_match": 0.0}, {"max_false_match": 1.5}, {"min_score": 2.0}, {"neighbours": 0}):
        with pytest.raises(ClusterError):
            ClusterParams(**bad)


@pytest.mark.slow
def test_clusters_hold_where_one_off_faces_dominate(gallery_cli, lfw_dir, onnx_profile, tmp_path):
    """20 labelled sitters (for the calibration), then 8 unknown people with four portraits each and
    40 people seen once, all at the root, unlabelled: each recurring person comes out as a cluster of
    their own, and the one-off faces do not pair up."""
    root = tmp_path / "collection"
    folders = sorted(p for p in lfw_dir.iterdir() if p.is_dir())
    for folder in folders[:LABELLED]:
        shutil.copytree(folder, root / folder.name)
    for i, folder in enumerate(folders[LABELLED:LABELLED + RECURRING + ONCE]):
        for image in sorted(folder.glob("*.jpg"))[: 4 if i < RECURRING else 1]:
            shutil.copy(image, root / image.name)  # at the root: no sitter named
    gallery_cli("index", root, "--config", onnx_profile)
    gallery_cli("calibrate", "--config", onnx_profile)

    found = json.loads(gallery_cli("clusters", "--config", onnx_profile, "--json").stdout)
    assert "calibration" in found["threshold"]["source"] and found["parameters"]["max_false_match"] == 1e-4
    person = lambda face: Path(face["path"]).stem.rsplit("_", 1)[0]  # noqa: E731
    main = [[person(f) for f in c["faces"] if f["face_index"] == 0] for c in found["clusters"]]
    clustered = sum(len(m) for m in main)
    majority = sum(max(m.count(p) for p in set(m)) for m in main if m)
    assert majority / clustered >= 0.97  # purity of the portraits' faces
    recurring = {f.name for f in folders[LABELLED:LABELLED + RECURRING]}
    recovered = {p for m in main for p in set(m) if p in recurring and m.count(p) >= 3 and m.count(p) == len(m)}
    assert len(recovered) >= RECURRING - 1
    once = {f.name for f in folders[LABELLED + RECURRING:LABELLED + RECURRING + ONCE]}
    assert sum(1 for m in main if set(m) <= once and len(m) >= 2) <= 1  # one-off faces stay alone

    poor = {f["face_id"] for f in found["too_poor_to_cluster"]}
    assert found["quality_floor"] > 0 and not poor & {f["face_id"] for c in found["clusters"] for f in c["faces"]}

    words = gallery_cli("clusters", "--config", onnx_profile, "--min-score", "0.99").stdout
    assert "0 cluster(s)" in words and "score 0.990, as asked" in words
    bad = gallery_cli("clusters", "--config", onnx_profile, "--max-false-match", "2", check=False)
    assert bad.returncode != 0 and "max_false_match is a rate" in bad.stderr and "Traceback" not in bad.stderr


def test_the_threshold_is_read_from_the_calibration_as_a_rate():
    from gallery.curation.clusters import UNCALIBRATED_SCORE, ClusterParams, Threshold
    from gallery.evaluation.calibration import Calibration

    calibration = Calibration([0.1, 0.2, 0.3], [1e-1, 1e-2, 1e-3], 1000, 10, 10, "2026-01-01")
    assert calibration.score_at(1e-2) == (pytest.approx(0.2), False)
    score, bound = calibration.score_at(3e-3)
    assert not bound and calibration.false_match_rate(score)[0] == pytest.approx(3e-3)
    assert calibration.score_at(1e-5) == (0.3, True)  # finer than 1000 impostor pairs can show
    assert "cannot show" in Threshold.of(ClusterParams(max_false_match=1e-5), calibration).source
    assert Threshold.of(ClusterParams(max_false_match=1e-2), calibration).score == pytest.approx(0.2)
    assert Threshold.of(ClusterParams(), None).score == UNCALIBRATED_SCORE
    assert Threshold.of(ClusterParams(min_score=0.5), calibration).score == 0.5
