"""Painted faces of every size: a small face anywhere in a large scan (tiled passes), and close-ups
cut by the frame (the padded whole-image pass). Real SCRFD, real lfw-mini faces."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow
LFW_IOD = 42  # inter-ocular distance (px) of an lfw-mini face in its 250-pixel photograph


def _pasted(photo, canvas_size, iod, seed):
    """The photograph shrunk so that its face has `iod` pixels between the eyes, pasted at a random
    place of a large textured canvas; returns (canvas, centre of the pasted photograph)."""
    rng = np.random.default_rng(seed)
    width, height = canvas_size
    face = Image.open(photo).convert("RGB")
    side = round(face.width * iod / LFW_IOD)
    small = np.asarray(face.resize((side, side), Image.LANCZOS))
    canvas = rng.integers(60, 120, (height, width, 3)).astype(np.uint8)
    x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
    canvas[y:y + side, x:x + side] = small
    return canvas, (x + side / 2, y + side / 2)


def _found(faces, centre) -> bool:
    cx, cy = centre
    return any(f.box[0] < cx < f.box[2] and f.box[1] < cy < f.box[3] for f in faces)


def test_tile_levels_follow_the_image_size():
    from gallery.faces.detection import tile_levels
    from gallery.config.profiles import DetectorSpec

    spec = DetectorSpec(weights="x")
    assert tile_levels((250, 250), spec, 2048) == []  # a photograph: the whole pass suffices
    assert len(tile_levels((2048, 2048), spec, 2048)) == 1
    assert len(tile_levels((6000, 8000), spec, 2048)) == 3
    assert tile_levels((6000, 8000), replace(spec, min_face=0), 2048) == []


@pytest.mark.parametrize("size,iod,seed", [((8000, 6000), 15, 1), ((3000, 4000), 15, 2), ((2048, 2048), 15, 3)])
def test_a_small_face_is_found_anywhere_in_a_large_scan(onnx_pipeline, lfw_dir, size, iod, seed):
    photos = sorted(lfw_dir.glob("*/*.jpg"))
    photo = photos[seed * 37 % len(photos)]
    canvas, centre = _pasted(photo, size, iod, seed)
    spec = onnx_pipeline.profile.detector
    from gallery.faces.detection import detect_faces

    assert _found(detect_faces(onnx_pipeline.detector, canvas, spec, 2048), centre)
    assert not _found(detect_faces(onnx_pipeline.detector, canvas, replace(spec, min_face=0), 2048), centre)


def test_a_small_face_in_a_full_length_miniature_is_found_and_close_ups_too(onnx_pipeline, lfw_dir):
    """A portrait miniature of 450 x 840 pixels whose face is about 30 pixels wide (lfw-mini faces,
    blurred as a painted miniature is soft): the padding for close-ups shrank such faces below what
    the detector finds; the unpadded pass finds them."""
    import cv2

    from gallery.faces.detection import _whole, detect_faces, unpadded_pass

    spec = onnx_pipeline.profile.detector
    assert unpadded_pass((840, 450), spec, 2048) and not unpadded_pass((250, 250), spec, 2048)
    assert not unpadded_pass((4000, 3000), spec, 2048)  # a scan: its tiles see small faces
    photos = sorted(lfw_dir.glob("*/*.jpg"))
    found = padded_only = 0
    for seed in range(20):
        canvas, centre = _pasted(photos[seed * 37 % len(photos)], (450, 840), 12, seed)
        canvas = cv2.GaussianBlur(canvas, (0, 0), 1.2)
        found += _found(detect_faces(onnx_pipeline.detector, canvas, spec, 2048), centre)
        padded_only += _found(_whole(onnx_pipeline.detector, canvas, spec, 2048), centre)
    assert found >= 16 and found >= padded_only + 5, (found, padded_only)


def test_the_small_face_found_is_the_sitter(onnx_pipeline, lfw_dir):
    """Found in a 6000-pixel scan, the small face still matches the same person's other photograph."""
    folder = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[5]
    first, second = sorted(folder.glob("*.jpg"))[:2]
    canvas, centre = _pasted(first, (6000, 4500), 18, 7)
    from gallery.faces.images import LoadedImage

    [result] = list(onnx_pipeline.embed_cropped([onnx_pipeline.crop_image(LoadedImage("scan", canvas, "PNG"))]))
    small = next(f for f in result.faces if f.face.box[0] < centre[0] < f.face.box[2])
    [other] = list(onnx_pipeline.embed_cropped([onnx_pipeline.crop_image(onnx_pipeline.load(second))]))
    assert float(small.vector @ other.faces[0].vector) > 0.3


def test_close_ups_cut_by_the_frame_are_still_found(onnx_pipeline, lfw_dir):
    from gallery.faces.images import LoadedImage

    found = 0
    photos = sorted(lfw_dir.glob("*/*.jpg"))[::20]
    for photo in photos:
        rgb = np.asarray(Image.open(photo).convert("RGB"))
        tight = rgb[90:180, 65:185]  # the frame cuts the forehead (above the brows) and the chin
        found += bool(onnx_pipeline.detect(LoadedImage(str(photo), np.ascontiguousarray(tight), "JPEG")))
    assert found >= 0.9 * len(photos)
