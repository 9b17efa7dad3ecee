"""Face detection with 5 landmarks: SCRFD (gallery.faces.scrfd) and YuNet (OpenCV).

`detect_faces` returns every face, largest first, in full-resolution image coordinates, from
passes at more than one scale, merged by non-maximum suppression:

1. The whole image, downscaled to `detect_max_side` and padded by `spec.pad` on every side, so
   that tight close-ups and faces cut by the frame still have the context the detector was
   trained on. The detector sees it at its input size, so this pass finds faces down to about
   MIN_INPUT_FACE / s0 pixels, s0 being the pass's scale (full-resolution pixels to detector pixels).
2. When that is larger than `spec.min_face` (a face box side, full-resolution pixels; the default
   28 is an inter-ocular distance of about 13-15 px), tiles: the image at scale s = MIN_INPUT_FACE / min_face,
   then s/2, s/4 ... while s > 2 s0, each cut into detector-sized tiles overlapping by a quarter.
   Each level finds faces from MIN_INPUT_FACE / s up to the overlap / s, and the levels and the
   whole pass meet without a gap. A detection touching a tile's inner edge is left to the tile
   (or the coarser level) that holds the face whole.
3. Without tiles, when the padding shrinks the image (its longest side times 1 + 2 pad is more
   than the detector's input), the whole image once more without padding. The padding is for
   close-ups, and it shrinks every other face with them: in a full-length portrait miniature of
   450 x 840 pixels a face 30 pixels wide comes to 15 detector pixels padded and 23 unpadded
   (blurred lfw-mini faces pasted into such a frame, 20 seeds: found 9 times padded alone, 17
   with this pass; tests/test_detection_scales.py). Such images (about 430 to 1,500 pixels a side
   with the defaults) cost one detector run more; photographs and tiled scans are unchanged.
4. All detections are merged, best score first; one overlapping a kept face (IoU above the
   detector's NMS threshold, or mostly inside it) is dropped.

Photographs need no tiles (a 250-pixel photograph: none); a 2048-pixel scan gets one level
(scale 0.57, 9 tiles), an 8000-pixel scan three. `min_face = 0` turns the
tiles off. Times are in the README (benchmarks/detection.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from gallery.core.errors import ModelError
from gallery.faces.images import downscale_for_detection
from gallery.config.profiles import DetectorSpec


def box_iou(a, b) -> float:
    """Intersection over union of two boxes (x1, y1, x2, y2)."""
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class DetectedFace:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    landmarks: np.ndarray  # 5 x 2: left eye, right eye, nose, left mouth, right mouth
    score: float

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    def to_json(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
            "score": round(float(self.score), 4),
        }


class RawDetector(Protocol):
    def detect_bgr(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N x 5 boxes+score, N x 5 x 2 landmarks) in the given image's coordinates."""


class ScrfdDetector:
    """SCRFD, run by gallery.faces.scrfd (insightface's decoding, a cheaper input path)."""

    def __init__(self, weights: Path, spec: DetectorSpec, device: str = "cpu", threads: int = 0):
        from gallery.faces.onnx_runtime import providers_for
        from gallery.faces.scrfd import Scrfd

        self.model = Scrfd(weights, providers_for(device), spec.input_size, spec.threshold, spec.nms_threshold,
                           threads)

    def detect_bgr(self, bgr):
        return self.model.detect(bgr)


class YunetDetector:
    """OpenCV's YuNet (cv2.FaceDetectorYN)."""

    def __init__(self, weights: Path, spec: DetectorSpec, device: str = "cpu"):
        import cv2

        try:
            self._model = cv2.FaceDetectorYN.create(
                str(weights), "", (spec.input_size, spec.input_size), spec.threshold, spec.nms_threshold, 5000
            )
        except cv2.error as err:
            raise ModelError(f"cannot load YuNet detector from {weights}: {err}") from err
        self._size = spec.input_size

    def detect_bgr(self, bgr):
        import cv2

        height, width = bgr.shape[:2]
        scale = self._size / max(height, width)
        resized = cv2.resize(bgr, (max(1, round(width * scale)), max(1, round(height * scale))))
        self._model.setInputSize((resized.shape[1], resized.shape[0]))
        _, faces = self._model.detect(resized)
        if faces is None or len(faces) == 0:
            return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
        faces = faces.astype(np.float64) / np.array([scale] * 14 + [1.0])
        boxes = np.column_stack([faces[:, 0], faces[:, 1], faces[:, 0] + faces[:, 2], faces[:, 1] + faces[:, 3],
                                 faces[:, 14]])
        # YuNet order: right eye, left eye (the sitter's), nose, mouth corners -> image left first, as ArcFace's
        return boxes, faces[:, 4:14].reshape(-1, 5, 2)


def build_detector(spec: DetectorSpec, weights: Path, device: str = "cpu", threads: int = 0) -> RawDetector:
    """The profile's detector; an SCRFD one on `threads` cores (0: every core). YuNet runs on
    OpenCV's threads, one image at a time (`runs_side_by_side`)."""
    if spec.kind == "scrfd":
        return ScrfdDetector(weights, spec, device, threads)
    return YunetDetector(weights, spec, device)


def runs_side_by_side(spec: DetectorSpec, device: str) -> bool:
    """Whether several images can be detected at once, each by a detector of its own on a share of
    the cores: SCRFD on a CPU (onnxruntime runs each session in its caller's thread). On a GPU the
    runs queue on the device anyway; YuNet's OpenCV network spreads each run over every core."""
    return spec.kind == "scrfd" and device == "cpu"


MIN_INPUT_FACE = 16  # the smallest face box (detector pixels) SCRFD's and YuNet's finest anchors find
TILE_OVERLAP = 0.25
EDGE = 2  # detector pixels: a box this close to a tile's inner edge is cut by it


def detect_faces(detector: RawDetector, rgb: np.ndarray, spec: DetectorSpec, max_side: int) -> list[DetectedFace]:
    """Every face in an RGB image, largest first, in full-resolution coordinates."""
    faces = _whole(detector, rgb, spec, max_side)
    levels = tile_levels(rgb.shape[:2], spec, max_side)
    if levels:
        faces = _merge(faces + [f for s in levels for f in _tiles(detector, rgb, spec, s)], spec.nms_threshold)
    elif unpadded_pass(rgb.shape[:2], spec, max_side):
        faces = _merge(faces + _whole(detector, rgb, replace(spec, pad=0.0), max_side), spec.nms_threshold)
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces


def whole_pass_scale(shape: tuple[int, int], spec: DetectorSpec, max_side: int) -> float:
    """Detector pixels per full-resolution pixel in the whole-image pass."""
    longest = max(shape)
    down = min(1.0, max_side / longest)
    return down * spec.input_size / (longest * down * (1 + 2 * spec.pad))


def unpadded_pass(shape: tuple[int, int], spec: DetectorSpec, max_side: int) -> bool:
    """Whether an image of this shape is also seen without padding (see the module's step 3)."""
    longest = max(shape) * min(1.0, max_side / max(shape))
    return spec.pad > 0 and longest * (1 + 2 * spec.pad) > spec.input_size and not tile_levels(shape, spec, max_side)


def tile_levels(shape: tuple[int, int], spec: DetectorSpec, max_side: int) -> list[float]:
    """The scales of the tiled passes an image of this shape gets (none when the whole pass
    already finds faces of `min_face`)."""
    if not spec.min_face:
        return []
    whole = whole_pass_scale(shape, spec, max_side)
    levels, scale = [], MIN_INPUT_FACE / spec.min_face
    while scale > 2 * whole:
        levels.append(scale)
        scale /= 2
    return levels


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    return list(range(0, length - tile, step)) + [length - tile]


def _tiles(detector: RawDetector, rgb: np.ndarray, spec: DetectorSpec, scale: float) -> list[DetectedFace]:
    import cv2

    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    tile = spec.input_size
    step = int(tile * (1 - TILE_OVERLAP))
    found = []
    for y0 in _starts(image.shape[0], tile, step):
        for x0 in _starts(image.shape[1], tile, step):
            part = image[y0:y0 + tile, x0:x0 + tile]
            bgr = np.zeros((tile, tile, 3), np.uint8)
            bgr[:part.shape[0], :part.shape[1]] = part[:, :, ::-1]
            boxes, landmarks = detector.detect_bgr(bgr)
            for row, points in zip(np.asarray(boxes, np.float64), np.asarray(landmarks, np.float64)):
                x1, y1, x2, y2 = row[:4]
                cut = ((x0 > 0 and x1 <= EDGE) or (y0 > 0 and y1 <= EDGE)
                       or (x0 + tile < image.shape[1] and x2 >= tile - EDGE)
                       or (y0 + tile < image.shape[0] and y2 >= tile - EDGE))
                if cut:
                    continue
                offset = np.array([x0, y0], np.float64)
                box = np.concatenate([row[:2] + offset, row[2:4] + offset]) / scale
                box[[0, 2]] = box[[0, 2]].clip(0, width)
                box[[1, 3]] = box[[1, 3]].clip(0, height)
                found.append(DetectedFace(tuple(float(v) for v in box), (points + offset) / scale, float(row[4])))
    return found


def _merge(faces: list[DetectedFace], iou: float) -> list[DetectedFace]:
    kept: list[DetectedFace] = []
    for face in sorted(faces, key=lambda f: f.score, reverse=True):
        if all(box_iou(face.box, other.box) < iou and _inside(face, other) < 0.6 for other in kept):
            kept.append(face)
    return kept


def _inside(face: DetectedFace, other: DetectedFace) -> float:
    """The share of the smaller of the two boxes that lies inside the other."""
    ax1, ay1, ax2, ay2 = face.box
    bx1, by1, bx2, by2 = other.box
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    smaller = min(face.area, other.area)
    return inter / smaller if smaller > 0 else 0.0


def _whole(detector: RawDetector, rgb: np.ndarray, spec: DetectorSpec, max_side: int) -> list[DetectedFace]:
    small, scale = downscale_for_detection(rgb, max_side)
    height, width = small.shape[:2]
    pad = int(round(spec.pad * max(height, width)))
    bgr = np.zeros((height + 2 * pad, width + 2 * pad, 3), np.uint8)  # padded and flipped in one copy
    bgr[pad:pad + height, pad:pad + width] = small[:, :, ::-1]
    boxes, landmarks = detector.detect_bgr(bgr)
    faces = []
    for row, points in zip(np.asarray(boxes, np.float64), np.asarray(landmarks, np.float64)):
        box = (row[:4] - pad) / scale
        box[[0, 2]] = box[[0, 2]].clip(0, rgb.shape[1])
        box[[1, 3]] = box[[1, 3]].clip(0, rgb.shape[0])
        faces.append(DetectedFace(tuple(float(v) for v in box), (points - pad) / scale, float(row[4])))
    return faces
