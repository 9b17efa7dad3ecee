"""The query's view: the picture at display size, its face boxes scaled to it, and each face's
aligned crop taken from the full-resolution image."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from gallery.faces.align import ARCFACE_CROP, ARCFACE_TEMPLATE_112, align_face
from gallery.faces.query_view import VIEW_SIDE, downscaled, query_view


@pytest.mark.parametrize("height, width", [(3024, 4032), (2000, 2561), (4000, 1000), (1500, 1300)])
def test_a_large_picture_is_brought_to_the_view_side_keeping_its_shape(height, width):
    rgb = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    small = downscaled(rgb, VIEW_SIDE)
    assert max(small.shape[:2]) == VIEW_SIDE and small.dtype == np.uint8 and small.shape[2] == 3
    assert abs(small.shape[1] / small.shape[0] - width / height) < 2 / min(small.shape[:2])


def test_a_picture_within_the_side_is_shown_as_it_is():
    rgb = np.zeros((900, 1280, 3), np.uint8)
    assert downscaled(rgb, VIEW_SIDE) is rgb
    view = query_view(rgb, [])
    assert view.picture is rgb and view.scale == 1.0 and view.crops == ()


def test_boxes_land_on_their_faces_and_crops_come_from_full_resolution():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (3000, 4000, 3), dtype=np.uint8)
    box = (2400, 1200, 2800, 1700)
    rgb[box[1]:box[3], box[0]:box[2]] = (250, 10, 10)  # a red "face"
    # landmarks: the ArcFace template placed on the red block, scaled up
    landmarks = (ARCFACE_TEMPLATE_112 * 3.5 + np.array([2404, 1260])).astype(np.float32)
    face = SimpleNamespace(box=box, landmarks=landmarks)
    view = query_view(rgb, [face])
    assert max(view.picture.shape[:2]) == VIEW_SIDE and view.scale == pytest.approx(VIEW_SIDE / 4000)
    x1, y1, x2, y2 = (round(v) for v in view.box(box))
    inside = view.picture[y1 + 2:y2 - 2, x1 + 2:x2 - 2].reshape(-1, 3).mean(axis=0)
    assert inside[0] > 240 and inside[1] < 20  # the scaled box covers the red block in the picture
    outside = view.picture[y2 + 5:y2 + 40, x1:x2].reshape(-1, 3).mean(axis=0)
    assert outside[0] < 200  # and only it
    [crop] = view.crops
    assert crop.shape == (ARCFACE_CROP.size, ARCFACE_CROP.size, 3)
    np.testing.assert_array_equal(crop, align_face(rgb, landmarks, ARCFACE_CROP))


def test_a_view_side_below_one_pixel_is_refused():
    with pytest.raises(ValueError, match="at least one pixel"):
        query_view(np.zeros((10, 10, 3), np.uint8), [], side=0)
