"""Face detection with 5 landmarks: SCRFD (through insightface) and YuNet (OpenCV).

`detect_faces` returns every face, largest first, in full-resolution image
coordinates: it detects on a copy downscaled to `detect_max_side`, padded by
`spec.pad` on every side so that tight close-ups and faces cut by the frame
are still found, then maps boxes and landmarks back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelError
from .images import downscale_for_detection
from .profiles import DetectorSpec


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


def _providers(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class ScrfdDetector:
    """insightface's SCRFD ONNX wrapper."""

    def __init__(self, weights: Path, spec: DetectorSpec, device: str = "cpu"):
        from insightface.model_zoo import get_model

        try:
            model = get_model(str(weights), providers=_providers(device))
        except Exception as err:  # insightface raises bare exceptions on bad files
            raise ModelError(f"cannot load SCRFD detector from {weights}: {err}") from err
        if model is None or not hasattr(model, "detect") or getattr(model, "taskname", "detection") != "detection":
            raise ModelError(f"{weights} is not an SCRFD/RetinaFace detection model (insightface did not recognise it)")
        model.prepare(ctx_id=0 if device == "cuda" else -1, input_size=(spec.input_size, spec.input_size),
                      det_thresh=spec.threshold)
        model.nms_thresh = spec.nms_threshold
        self._model = model

    def detect_bgr(self, bgr):
        boxes, kps = self._model.detect(bgr, max_num=0, metric="default")
        if kps is None:
            raise ModelError("this detector gives no landmarks; alignment needs a 5-landmark SCRFD model")
        return boxes, kps


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


def build_detector(spec: DetectorSpec, weights: Path, device: str = "cpu") -> RawDetector:
    if spec.kind == "scrfd":
        return ScrfdDetector(weights, spec, device)
    return YunetDetector(weights, spec, device)


def detect_faces(detector: RawDetector, rgb: np.ndarray, spec: DetectorSpec, max_side: int) -> list[DetectedFace]:
    """Every face in an RGB image, largest first, in full-resolution coordinates."""
    small, scale = downscale_for_detection(rgb, max_side)
    height, width = small.shape[:2]
    pad = int(round(spec.pad * max(height, width)))
    bgr = np.ascontiguousarray(small[:, :, ::-1])
    if pad:
        bgr = np.pad(bgr, ((pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=0)
    boxes, landmarks = detector.detect_bgr(bgr)
    faces = []
    for row, points in zip(np.asarray(boxes, np.float64), np.asarray(landmarks, np.float64)):
        box = (row[:4] - pad) / scale
        box[[0, 2]] = box[[0, 2]].clip(0, rgb.shape[1])
        box[[1, 3]] = box[[1, 3]].clip(0, rgb.shape[0])
        faces.append(DetectedFace(tuple(float(v) for v in box), (points - pad) / scale, float(row[4])))
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces
