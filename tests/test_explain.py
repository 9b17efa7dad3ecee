"""Why did it match? Occlusion maps (gallery.curation.explain) with the real ONNX models on lfw-mini."""

from __future__ import annotations

import numpy as np
import pytest


def _painted_over_eyes(rgb: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A copy with a flat brown patch over both eyes, and the patch as a mask."""
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    iod = float(np.hypot(rx - lx, ry - ly))
    y0, y1 = int(min(ly, ry) - 0.3 * iod), int(max(ly, ry) + 0.3 * iod)
    x0, x1 = int(lx - 0.4 * iod), int(rx + 0.4 * iod)
    painted, mask = rgb.copy(), np.zeros_like(rgb)
    painted[y0:y1, x0:x1] = (150, 120, 90)
    mask[y0:y1, x0:x1] = 255
    return painted, mask


def test_the_region_against_a_match_is_where_the_other_face_is_painted_over(onnx_pipeline, lfw_dir):
    from gallery.faces.align import align_face
    from gallery.curation.explain import explain, most_against, patch_boxes

    encoder = onnx_pipeline.encoders[0]
    people = sorted(d for d in lfw_dir.iterdir() if d.is_dir())[:6]
    hits, named = [], []
    for person in people:
        image = onnx_pipeline.load(sorted(person.glob("*.jpg"))[0])
        landmarks = onnx_pipeline.detect(image)[0].landmarks
        painted, mask = _painted_over_eyes(image.rgb, landmarks)
        found = explain(onnx_pipeline.encoders, image.rgb, landmarks, painted, landmarks, grid=7)
        (component,) = found.components
        assert component.name == encoder.name and component.query.shape == component.match.shape == (7, 7)
        assert 0 < component.score < 0.9  # the painted copy is alike, not identical
        # on the intact face's map, the region most against the match is where the copy is painted over
        crop_mask = align_face(mask, landmarks, encoder.crop)[..., 0] > 127
        boxes = patch_boxes(component.query_crop.shape[0], 7)
        row, column = most_against(component.query)
        y0, y1, x0, x1 = boxes[row * 7 + column]
        hits.append(crop_mask[y0:y1, x0:x1].mean() >= 0.25)
        named.append(component.regions()["query_against"])
    assert sum(hits) >= 5, hits
    assert sum("eye" in name for name in named) >= 4, named  # and in words


def test_identical_faces_have_no_region_against_them_and_the_grid_is_bounded(onnx_pipeline, lfw_dir):
    from gallery.curation.explain import ExplainError, explain, heat

    image = onnx_pipeline.load(sorted((lfw_dir / "George_Clooney").glob("*.jpg"))[0])
    landmarks = onnx_pipeline.detect(image)[0].landmarks
    found = explain(onnx_pipeline.encoders, image.rgb, landmarks, image.rgb, landmarks, grid=4)
    (component,) = found.components
    assert component.score == pytest.approx(1.0, abs=1e-4)
    assert (component.query >= -1e-4).all()  # nothing makes a face more like itself than itself
    assert np.allclose(component.query, component.match, atol=1e-4)
    overlay = heat(component.query_crop, component.query)
    assert overlay.shape == component.query_crop.shape and overlay.dtype == np.uint8
    assert not np.array_equal(overlay, component.query_crop)
    assert set(found.to_json()["components"][0]) == {"component", "score", "query_map", "match_map", "query_for",
                                                     "query_against", "match_for", "match_against"}
    for grid in (1, 33):
        with pytest.raises(ExplainError, match="grid is 2 to 32"):
            explain(onnx_pipeline.encoders, image.rgb, landmarks, image.rgb, landmarks, grid=grid)
