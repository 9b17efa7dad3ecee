"""SCRFD (insightface's face detector, ONNX) run directly with onnxruntime.

The decoding is insightface's (anchor centres per stride, distances to the box and the five
landmarks, greedy NMS with its +1 pixel areas), so the boxes and landmarks are those of
`insightface.model_zoo.SCRFD.detect(img, max_num=0)`; tests/test_onnx_runtime.py holds the two equal
on real photographs. What differs is the cost around the network: the input blob is built from
the uint8 canvas plane by plane (split by OpenCV) instead of by cv2.dnn.blobFromImage, and only
the anchors above the threshold are decoded instead of all 16,800 of them. All of it together
costs less than blobFromImage alone (benchmarks/onnx_runtime.py, 2 cores: 0.3-0.6 against 3.9 ms
at 640 since the planes are split by OpenCV; 1.7-2.5 against 8.3-9.5 ms on an earlier machine
before that).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gallery.core.errors import ModelError
from gallery.faces.onnx_runtime import open_session

INPUT_MEAN = 127.5
INPUT_STD = 128.0
# outputs of an SCRFD export -> (strides, anchors per position, has landmarks)
_LAYOUTS = {6: ((8, 16, 32), 2, False), 9: ((8, 16, 32), 2, True),
            10: ((8, 16, 32, 64, 128), 1, False), 15: ((8, 16, 32, 64, 128), 1, True)}


class Scrfd:
    def __init__(self, path: Path, providers: list[str], input_size: int, threshold: float, nms_threshold: float,
                 threads: int = 0):
        self.session = open_session(path, providers, f"SCRFD detector from {path}", threads)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        layout = _LAYOUTS.get(len(outputs))
        if len(inputs) != 1 or layout is None or len(inputs[0].shape) != 4:
            raise ModelError(f"{path} is not an SCRFD detection model: {len(inputs)} input(s), "
                             f"{len(outputs)} outputs (an SCRFD export has one N x 3 x H x W input and 6, 9, 10 "
                             "or 15 outputs)")
        self.strides, self.anchors, has_landmarks = layout
        if not has_landmarks:
            raise ModelError(f"{path} gives no landmarks; alignment needs a 5-landmark SCRFD model")
        self.input_name = inputs[0].name
        self.output_names = [o.name for o in outputs]
        self.batched = len(outputs[0].shape) == 3
        self.input_size = input_size
        self.threshold = threshold
        self.nms_threshold = nms_threshold
        self._centres: dict[tuple[int, int, int], np.ndarray] = {}
        self.record: list[np.ndarray] | None = None  # the network's inputs are kept here when a list (int8 calibration)

    def detect(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N x 5 boxes + score, N x 5 x 2 landmarks) in `bgr`'s pixels, best score first after NMS."""
        import cv2

        size = self.input_size
        height, width = bgr.shape[:2]
        if height / width > 1.0:
            new_height, new_width = size, int(size / (height / width))
        else:
            new_width, new_height = size, int(size * (height / width))
        scale = new_height / height
        canvas = np.zeros((size, size, 3), np.uint8)
        canvas[:new_height, :new_width] = cv2.resize(bgr, (new_width, new_height))
        blob = np.empty((1, 3, size, size), np.float32)  # RGB planes, from the BGR canvas's (split by OpenCV)
        for plane, channel in enumerate(reversed(cv2.split(canvas))):
            cv2.subtract(channel, INPUT_MEAN, dst=blob[0, plane], dtype=cv2.CV_32F)
        blob *= np.float32(1.0 / INPUT_STD)  # a power of two: the same floats as blobFromImage's
        if self.record is not None:
            self.record.append(blob)
        outputs = self.session.run(self.output_names, {self.input_name: blob})
        boxes, landmarks = self._decode(outputs, size, size)
        boxes[:, :4] /= scale
        landmarks /= scale
        order = np.argsort(-boxes[:, 4], kind="stable")
        boxes, landmarks = boxes[order], landmarks[order]
        keep = self._nms(boxes)
        return boxes[keep], landmarks[keep]

    def _decode(self, outputs: list[np.ndarray], height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        found_boxes, found_landmarks = [], []
        count = len(self.strides)
        for level, stride in enumerate(self.strides):
            scores, deltas, points = (outputs[level + count * k] for k in range(3))
            if self.batched:
                scores, deltas, points = scores[0], deltas[0], points[0]
            chosen = np.where(scores.reshape(-1) >= self.threshold)[0]
            if not len(chosen):
                continue
            centres = self._anchor_centres(height // stride, width // stride, stride)[chosen]
            deltas = deltas[chosen] * stride
            points = (points[chosen] * stride).reshape(-1, 5, 2)
            box = np.stack([centres[:, 0] - deltas[:, 0], centres[:, 1] - deltas[:, 1],
                            centres[:, 0] + deltas[:, 2], centres[:, 1] + deltas[:, 3],
                            scores.reshape(-1)[chosen]], axis=-1)
            found_boxes.append(box.astype(np.float32))
            found_landmarks.append((centres[:, None, :] + points).astype(np.float32))
        if not found_boxes:
            return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
        return np.concatenate(found_boxes), np.concatenate(found_landmarks)

    def _anchor_centres(self, rows: int, cols: int, stride: int) -> np.ndarray:
        key = (rows, cols, stride)
        if key not in self._centres:
            centres = (np.stack(np.mgrid[:rows, :cols][::-1], axis=-1).astype(np.float32) * stride).reshape(-1, 2)
            self._centres[key] = np.repeat(centres, self.anchors, axis=0)
        return self._centres[key]

    def _nms(self, boxes: np.ndarray) -> list[int]:
        x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
        areas = (x2 - x1 + 1) * (y2 - y1 + 1)
        order = np.arange(len(boxes))  # already best first
        keep = []
        while order.size:
            first, rest = order[0], order[1:]
            keep.append(int(first))
            w = np.maximum(0.0, np.minimum(x2[first], x2[rest]) - np.maximum(x1[first], x1[rest]) + 1)
            h = np.maximum(0.0, np.minimum(y2[first], y2[rest]) - np.maximum(y1[first], y1[rest]) + 1)
            inter = w * h
            order = rest[inter / (areas[first] + areas[rest] - inter) <= self.nms_threshold]
        return keep
