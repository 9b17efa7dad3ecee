"""Faces on an image decoded at a reduced level (`LoadedImage.scale` < 1).

Face coordinates are always those of the full-resolution picture; these helpers carry them to the
decoded level and back, and decode a finer level when a face is too small at the current one.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gallery.faces.align import CropSpec, align_face, landmarks_at
from gallery.faces.detection import DetectedFace
from gallery.faces.images import LoadedImage

# a face is cropped from a level where its box is at least DETAIL x the crop's side: in the ArcFace
# template the eyes are 35 of 112 pixels apart and a detector's box is about 2.3 eye distances
# wide, so a box of 0.75 x the side is already at the crop's own resolution (never enlarged)
DETAIL = 0.75


def scaled_face(face: DetectedFace, factor: float) -> DetectedFace:
    """`face` with its box and landmarks multiplied by `factor`."""
    return dataclasses.replace(face, box=tuple(float(v) * factor for v in face.box),
                               landmarks=landmarks_at(face.landmarks, factor))


def detailed_enough(image: LoadedImage, faces: list[DetectedFace], crop_side: int) -> LoadedImage:
    """`image`, or the same picture decoded at a finer level when a face's box is narrower than
    DETAIL x `crop_side` pixels at this one (at most the full resolution)."""
    if not image.reduced or not faces:
        return image
    narrowest = min(max(1.0, float(f.box[2] - f.box[0])) for f in faces)
    needed = min(1.0, DETAIL * crop_side / narrowest)
    return image.finer(needed) if needed > image.scale else image


def found_at_full_scale(faces: list[DetectedFace], image: LoadedImage) -> list[DetectedFace]:
    """Faces detected on `image`'s decoded pixels, in the coordinates of its full-resolution picture."""
    return [scaled_face(f, 1.0 / image.scale) for f in faces] if image.reduced else faces


def aligned(image: LoadedImage, face: DetectedFace, spec: CropSpec) -> np.ndarray:
    """One face aligned with `spec`, from a level of `image` with enough detail."""
    return align_at_scale(detailed_enough(image, [face], spec.size), face.landmarks, spec)


def align_at_scale(image: LoadedImage, landmarks, spec: CropSpec) -> np.ndarray:
    """The face with full-resolution `landmarks` aligned from the decoded pixels."""
    return align_face(image.rgb, landmarks_at(landmarks, image.scale), spec)
