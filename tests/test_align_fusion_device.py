"""Alignment geometry, fusion arithmetic and device/precision choice."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.faces.align import ARCFACE_CROP, ARCFACE_TEMPLATE_112, CLIP_CROP, align_face, similarity_transform
from gallery.config.device import cpu_has_bf16, resolve_placement
from gallery.core.errors import ConfigError, ModelError
from gallery.faces.fusion import FusionLayout


def test_similarity_transform_recovers_a_known_transform():
    angle, scale, shift = 0.3, 2.5, np.array([40.0, -12.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = np.random.default_rng(0).uniform(0, 100, (5, 2))
    dst = src @ (scale * rot).T + shift
    matrix = similarity_transform(src, dst)
    assert np.allclose(matrix[:, :2], scale * rot, atol=1e-9) and np.allclose(matrix[:, 2], shift, atol=1e-9)


def test_align_puts_landmarks_on_the_template():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (400, 300, 3), dtype=np.uint8)
    # landmarks of a face rotated and scaled in the image
    rot = np.array([[0.9, -0.3], [0.3, 0.9]]) * 1.8
    landmarks = ARCFACE_TEMPLATE_112 @ rot.T + [60, 90]
    crop = align_face(image, landmarks, ARCFACE_CROP)
    assert crop.shape == (112, 112, 3)
    matrix = similarity_transform(landmarks, ARCFACE_CROP.template())
    mapped = np.c_[landmarks, np.ones(5)] @ matrix.T
    assert np.allclose(mapped, ARCFACE_TEMPLATE_112, atol=1e-6)


def test_clip_crop_has_more_context_around_the_same_centre():
    template = CLIP_CROP.template()
    assert CLIP_CROP.size == 224
    eye_distance_112 = ARCFACE_TEMPLATE_112[1, 0] - ARCFACE_TEMPLATE_112[0, 0]
    eye_distance_224 = template[1, 0] - template[0, 0]
    # 2x the pixels, 1.5x the field of view -> eyes 2/1.5 as far apart
    assert eye_distance_224 == pytest.approx(eye_distance_112 * 2 / 1.5)
    # the landmarks' centroid keeps its position relative to the crop centre, scaled by 2/1.5
    offset_112 = ARCFACE_TEMPLATE_112.mean(axis=0) - 56
    assert template.mean(axis=0) - 112 == pytest.approx(offset_112 * 2 / 1.5)


def test_align_rejects_wrong_landmark_count():
    with pytest.raises(ValueError):
        align_face(np.zeros((50, 50, 3), np.uint8), np.zeros((4, 2)), ARCFACE_CROP)


def _unit(rng, n, d):
    v = rng.normal(size=(n, d))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_fused_inner_product_is_the_weighted_mean_cosine():
    rng = np.random.default_rng(2)
    layout = FusionLayout(("clip", "ir_base", "ir_tuned"), (2.0, 1.0, 0.5), (512, 512, 128))
    a = {n: _unit(rng, 7, d) for n, d in zip(layout.names, layout.dims)}
    b = {n: _unit(rng, 7, d) for n, d in zip(layout.names, layout.dims)}
    fa, fb = layout.fuse(a), layout.fuse(b)
    assert fa.shape == (7, 1152)
    assert np.allclose(np.linalg.norm(fa, axis=1), 1.0, atol=1e-5)
    cosines = {n: np.sum(a[n] * b[n], axis=1) for n in layout.names}
    expected = sum(w * cosines[n] for n, w in zip(layout.names, layout.weights)) / sum(layout.weights)
    assert np.allclose(np.sum(fa * fb, axis=1), expected, atol=1e-5)
    per = layout.component_scores(fa, fb)
    for name in layout.names:
        assert np.allclose(per[name], cosines[name], atol=1e-5)


def test_fusion_rejects_wrong_shapes_and_weights():
    layout = FusionLayout(("a",), (1.0,), (4,))
    with pytest.raises(ModelError):
        layout.fuse({"a": np.zeros((2, 5), np.float32)})
    with pytest.raises(ModelError):
        FusionLayout(("a",), (0.0,), (4,))


def test_placement_falls_back_to_cpu_and_refuses_impossible_requests(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this test describes a machine without a GPU")
    auto = resolve_placement("auto", "auto")
    assert auto.device == "cpu" and auto.precision == ("bf16" if cpu_has_bf16() else "fp32")
    assert resolve_placement("cpu", "fp32").torch_dtype == torch.float32
    with pytest.raises(ConfigError, match="no CUDA"):
        resolve_placement("cuda", "auto")
    with pytest.raises(ConfigError, match="fp16 is for CUDA"):
        resolve_placement("cpu", "fp16")


def test_bf16_detection_reads_cpu_flags(tmp_path):
    with_bf16 = tmp_path / "yes"
    with_bf16.write_text("processor : 0\nflags : fpu sse avx512f avx512_bf16 amx_tile\n")
    without = tmp_path / "no"
    without.write_text("processor : 0\nflags : fpu sse avx2\n")
    assert cpu_has_bf16.__wrapped__(str(with_bf16)) is True
    assert cpu_has_bf16.__wrapped__(str(without)) is False
