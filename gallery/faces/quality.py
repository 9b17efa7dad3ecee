"""Face quality: one number in [0, 1] per face, stored with it, saying how far its scores can be
trusted. The method, from four signals:

- q_norm: the norm of the un-normalised embedding of the ArcFace-style component (kinds `onnx`
  and `iresnet100`), a known recognisability signal (low for blurred, occluded, non-face crops),
  mapped linearly from NORM_RANGE[kind] (or the encoder's `options.norm_range`) to [0, 1];
- q_det: the detector's confidence, from 0.5 (0) to 0.85 (1);
- q_size: the inter-ocular distance in full-resolution pixels, from 8 (0) to 30 (1);
- q_sharp: the variance of the Laplacian of the grey aligned crop, on a log scale from 5 (0) to
  150 (1).
quality = 0.4 q_norm + 0.2 (q_det + q_size + q_sharp); without an ArcFace-style component, the
mean of the other three. Measured with the shared models on lfw-mini (50 photographs,
benchmarks/quality.py): median 0.86 as they are, 0.56 shrunk to 70 pixels, 0.45 blurred (Gaussian,
radius 4, half of them below the floor, setting `quality_floor` 0.45). Below it, search warns that
the scores are unreliable, and calibration, evaluation from the database and training leave the
face out.
"""

from __future__ import annotations

import math

import numpy as np

NORM_RANGE = {"onnx": (8.0, 18.0), "iresnet100": (10.0, 30.0)}  # raw embedding norms: poor .. good
NORM_KINDS = tuple(NORM_RANGE)


def _clip(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the grey crop."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def face_quality(score: float, landmarks: np.ndarray, crop: np.ndarray, norm: float | None,
                 norm_range: tuple[float, float] | None) -> float:
    q_det = _clip((score - 0.5) / 0.35)
    iod = float(np.linalg.norm(np.asarray(landmarks)[0] - np.asarray(landmarks)[1]))
    q_size = _clip((iod - 8.0) / 22.0)
    q_sharp = _clip((math.log10(max(sharpness(crop), 1e-6)) - math.log10(5.0)) / (math.log10(150.0) - math.log10(5.0)))
    if norm is None or norm_range is None:
        return round((q_det + q_size + q_sharp) / 3, 4)
    low, high = norm_range
    q_norm = _clip((norm - low) / (high - low))
    return round(0.4 * q_norm + 0.2 * (q_det + q_size + q_sharp), 4)
