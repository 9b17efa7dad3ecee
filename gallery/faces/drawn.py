"""A face box a curator drew where the detector found nothing: the box checked against the image,
and its 5 landmarks estimated inside it.

The detector is run again on the box's neighbourhood alone (the box padded by half its size on every
side, so a face too small or too odd in the whole picture is the main subject of the crop). When it
finds a face overlapping the box by `DETECTOR_IOU` or more, that face's landmarks are used. Otherwise
the landmarks are placed where they sit, on average, in a detector's box: measured with SCRFD-500M
on the 400 faces of lfw-mini (median position of each landmark as a fraction of the box, made
left-right symmetric; the spread is about 0.03 of the box height and 0.08 of its width). Such a face
is aligned as a frontal face filling the box, which is what a curator draws around a face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gallery.core.errors import GalleryError
from gallery.faces.detection import DetectedFace, box_iou, detect_faces
from gallery.faces.images import LoadedImage

# (x, y) of left eye, right eye, nose, left and right mouth corner, as fractions of a face box
BOX_LANDMARKS = np.array([[0.29, 0.39], [0.71, 0.39], [0.50, 0.58], [0.31, 0.74], [0.69, 0.74]], np.float32)
DETECTOR_IOU = 0.3  # a detection in the neighbourhood overlapping the drawn box this much gives the landmarks
MIN_SIDE = 8  # pixels: a smaller box holds no face to recognise
INSIDE_SHARE = 0.5  # at least this share of the box must lie on the image
NEIGHBOURHOOD = 0.5  # the box padded by this share of its size on every side for the detector


class BoxError(GalleryError):
    """A drawn face box that cannot be used as given; nothing was written."""


@dataclass(frozen=True)
class DrawnFace:
    face: DetectedFace  # box as drawn (clipped to the image), landmarks estimated, score
    landmarks_from: str  # "detector" or "box"


def parse_box(text: str) -> tuple[float, float, float, float]:
    """'X,Y,W,H' (pixels of the full-resolution image, top-left corner and size) -> x1, y1, x2, y2."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        x, y, w, h = (float(p) for p in parts)
    except ValueError:
        raise BoxError(f"a box is X,Y,W,H in pixels (four numbers), got {text!r}") from None
    if not all(np.isfinite([x, y, w, h])):
        raise BoxError(f"a box is X,Y,W,H in pixels (four finite numbers), got {text!r}")
    return x, y, x + w, y + h


def checked_box(box, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The box (x1, y1, x2, y2) clipped to an image of `size` (width, height), or a BoxError
    saying what is wrong with it."""
    x1, y1, x2, y2 = (float(v) for v in box)
    width, height = size
    if x2 - x1 < MIN_SIDE or y2 - y1 < MIN_SIDE:
        raise BoxError(f"the box is {x2 - x1:g} x {y2 - y1:g} pixels; a face box must be at least "
                       f"{MIN_SIDE} x {MIN_SIDE}")
    clipped = max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)
    inside = max(0.0, clipped[2] - clipped[0]) * max(0.0, clipped[3] - clipped[1])
    if inside < INSIDE_SHARE * (x2 - x1) * (y2 - y1):
        raise BoxError(f"the box ({x1:g}, {y1:g}) to ({x2:g}, {y2:g}) lies mostly outside the image, which is "
                       f"{width} x {height} pixels")
    return clipped


def box_landmarks(box) -> np.ndarray:
    """The 5 landmarks where they sit, on average, in a face box (BOX_LANDMARKS)."""
    x1, y1, x2, y2 = box
    return (np.array([x1, y1], np.float32) + BOX_LANDMARKS * np.array([x2 - x1, y2 - y1], np.float32))


def face_in_box(detector, spec, image: LoadedImage, box, max_side: int) -> DrawnFace:
    """The face a curator drew at `box` (full-resolution x1, y1, x2, y2) in `image`, with landmarks
    from the detector run on its neighbourhood, or placed from the box."""
    box = checked_box(box, image.size)
    x1, y1, x2, y2 = box
    pad_x, pad_y = NEIGHBOURHOOD * (x2 - x1), NEIGHBOURHOOD * (y2 - y1)
    scale = image.scale
    width, height = image.rgb.shape[1], image.rgb.shape[0]
    left, top = max(0, int((x1 - pad_x) * scale)), max(0, int((y1 - pad_y) * scale))
    right, bottom = min(width, int(np.ceil((x2 + pad_x) * scale))), min(height, int(np.ceil((y2 + pad_y) * scale)))
    found = detect_faces(detector, np.ascontiguousarray(image.rgb[top:bottom, left:right]), spec, max_side) \
        if right - left >= MIN_SIDE and bottom - top >= MIN_SIDE else []
    offset = np.array([left, top], np.float32)
    best, best_iou = None, DETECTOR_IOU
    for face in found:
        full = (np.asarray(face.box, np.float32).reshape(2, 2) + offset) / scale
        overlap = box_iou(box, tuple(full.reshape(-1)))
        if overlap >= best_iou:
            best, best_iou = face, overlap
    if best is not None:
        landmarks = (np.asarray(best.landmarks, np.float32) + offset) / scale
        return DrawnFace(DetectedFace(box, landmarks, float(best.score)), "detector")
    return DrawnFace(DetectedFace(box, box_landmarks(box), 0.0), "box")
