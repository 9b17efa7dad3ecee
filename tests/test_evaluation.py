"""Metrics against scikit-learn, identification on a worked example, evaluation and calibration
on lfw-mini with the real models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gallery.evaluation.calibration import CalibrationError, calibrate
from gallery.evaluation.evaluate import Labelled, sitter_disjoint
from gallery.faces.fusion import FusionLayout
from gallery.evaluation.metrics import eer, identification, roc, tar_at_far


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_eer_and_tar_match_scikit_learn(seed):
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(seed)
    genuine = np.round(rng.normal(0.6, 0.15, 700), 2)  # rounded: many ties, as real scores have
    impostor = np.round(rng.normal(0.1, 0.12, 20_000), 2)
    curve = roc(genuine, impostor)
    labels = np.r_[np.ones(len(genuine)), np.zeros(len(impostor))]
    fpr, tpr, _ = roc_curve(labels, np.r_[genuine, impostor], drop_intermediate=False)
    assert np.allclose(curve.far, fpr) and np.allclose(curve.tar, tpr)
    for target in (0.001, 0.01):
        assert tar_at_far(curve, target) == pytest.approx(tpr[fpr <= target].max())
    frr = 1 - tpr
    crossing = np.argmin(np.abs(fpr - frr))
    assert abs(eer(curve) - (fpr[crossing] + frr[crossing]) / 2) < 0.01


def test_eer_of_separable_and_of_identical_scores():
    assert eer(roc(np.array([0.9, 0.8]), np.array([0.1, 0.2]))) == 0.0
    assert eer(roc(np.array([0.5, 0.5]), np.array([0.5, 0.5]))) == pytest.approx(0.5, abs=0.5)


def test_identification_worked_example():
    # faces of a, a, b, b. Sitters ranked by best face: face 0 -> b (0.9) before a: rank 2;
    # face 1 -> a: rank 1; face 2 -> a (0.9) before b: rank 2; face 3 -> b: rank 1
    similarity = np.array([[1.0, 0.5, 0.9, 0.1],
                           [0.5, 1.0, 0.2, 0.1],
                           [0.9, 0.2, 1.0, 0.8],
                           [0.1, 0.1, 0.8, 1.0]])
    result = identification(similarity, np.array(["a", "a", "b", "b"]))
    assert result["rank1"] == pytest.approx(0.5) and result["rank5"] == 1.0
    # average precision: face 0: 1/2, face 1: 1, face 2: 1/2, face 3: 1
    assert result["map"] == pytest.approx(0.75)


def test_sitter_disjoint_split_is_disjoint_and_seeded():
    labels = np.array([f"s{i // 4}" for i in range(200)])
    mask = sitter_disjoint(labels, seed=3)
    assert not set(labels[mask]) & set(labels[~mask])
    assert len(set(labels[mask])) == 25
    assert np.array_equal(mask, sitter_disjoint(labels, seed=3)) and not np.array_equal(mask, sitter_disjoint(labels))


def test_calibration_refuses_too_few_sitters_and_is_monotone():
    rng = np.random.default_rng(0)
    layout = FusionLayout(("a",), (1.0,), (16,))
    vectors = rng.standard_normal((60, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with pytest.raises(CalibrationError, match="needs at least 10"):
        calibrate(Labelled(vectors[:12], np.array([f"s{i // 2}" for i in range(12)]), layout))
    labels = np.array([f"s{i // 2}" for i in range(60)])
    calibration = calibrate(Labelled(vectors, labels, layout))
    assert calibration.sitters == 30 and calibration.impostor_pairs == 1740
    assert np.all(np.diff(calibration.scores) > 0) and np.all(np.diff(calibration.rates) < 0)
    assert calibration.false_match_rate(-1.0)[0] == pytest.approx(1.0)
    assert calibration.describe(2.0) == "fewer than 1 in 1,740 false matches at this score"
    assert calibration.describe(calibration.scores[-1]) == "≈ 1 in 1,740 false matches at this score"


@pytest.mark.slow
def test_evaluate_lfw_mini(gallery_cli, lfw_dir, onnx_profile, tmp_path):
    roc_png = tmp_path / "roc.png"
    out = json.loads(gallery_cli("evaluate", lfw_dir, "--config", onnx_profile, "--roc", roc_png, "--json").stdout)
    keys = {"eer", "tar@far=0.001", "tar@far=0.01", "rank1", "rank5", "map", "genuine_pairs", "impostor_pairs"}
    assert keys <= set(out["fusion"]) and all(keys <= set(c) for c in out["components"].values())
    assert set(out["fusion"]) == set(out["components"]["mobilefacenet"])
    # measured: EER 1.5 %, TAR@1 % FAR 98.5 %, rank-1 99.5 % (the reference pipeline: EER 1.7 %)
    assert 0.005 <= out["fusion"]["eer"] <= 0.03 and out["fusion"]["rank1"] >= 0.95
    assert out["fusion"]["genuine_pairs"] == 600 and out["sitters"] == 100
    assert roc_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = gallery_cli("evaluate", lfw_dir, "--config", onnx_profile, "--split", "sitter-disjoint").stdout
    assert "EER %" in table and "50 sitters" in table
