"""Face alignment: 5-point similarity transform onto a canonical template.

ArcFace-style networks take the standard 112x112 ArcFace crop. CLIP takes a
224x224 crop aligned the same way but with more context (the template shrunk
by `context`, default 1.5): CLIP was trained on whole scenes, not tight face
chips, and in paintings the contour of the head, the hairline and the ears
carry identity cues an artist renders consistently; the tighter ArcFace chip
would also show CLIP mostly upsampled skin. The factor is an encoder option.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The ArcFace 5-point template in a 112x112 crop: left eye, right eye, nose tip,
# left mouth corner, right mouth corner (image left/right).
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


@dataclass(frozen=True)
class CropSpec:
    """An aligned crop: output size in pixels and context (1.0 = ArcFace framing)."""

    size: int
    context: float = 1.0

    def template(self) -> np.ndarray:
        scale = self.size / 112.0 / self.context
        return (ARCFACE_TEMPLATE_112 - 56.0) * scale + self.size / 2.0


ARCFACE_CROP = CropSpec(112, 1.0)
CLIP_CROP = CropSpec(224, 1.5)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) src -> dst.

    Umeyama (1991). Returns the 2x3 matrix for cv2.warpAffine.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two matching N x 2 point sets, got {src.shape} and {dst.shape}")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rotation = u @ np.diag(d) @ vt
    var_src = (src_c**2).sum() / len(src)
    scale = (sigma * d).sum() / var_src
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def landmarks_at(landmarks, scale: float):
    """Full-resolution landmarks in the pixels of a picture decoded at `scale` (as given at 1)."""
    return landmarks if scale == 1.0 else np.asarray(landmarks, np.float32) * np.float32(scale)


def align_face(rgb: np.ndarray, landmarks: np.ndarray, spec: CropSpec) -> np.ndarray:
    """Warp the face with these 5 landmarks onto the template of `spec`."""
    import cv2

    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (5, 2):
        raise ValueError(f"alignment needs 5 landmarks (5 x 2), got {landmarks.shape}")
    matrix = similarity_transform(landmarks, spec.template())
    return cv2.warpAffine(
        rgb, matrix, (spec.size, spec.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def thumbnail_crop(rgb: np.ndarray, box, size: int, margin: float = 1.4) -> np.ndarray:
    """A square crop around a face box (`margin` x its longer side), at most `size` pixels a side."""
    import cv2

    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * margin
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    height, width = rgb.shape[:2]
    left, top = int(max(0, round(cx - side / 2))), int(max(0, round(cy - side / 2)))
    right, bottom = int(min(width, round(cx + side / 2))), int(min(height, round(cy + side / 2)))
    crop = rgb[top:max(bottom, top + 1), left:max(right, left + 1)]
    scale = size / max(crop.shape[:2])
    if scale < 1:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop)
