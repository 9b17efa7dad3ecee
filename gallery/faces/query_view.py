"""What is shown of a query: the picture at display size and each face's aligned crop.

Made once, while the full-resolution image is in memory for detection, so the page shows an answer
and a report prints it without decoding the upload again: for a 12-megapixel photograph of a
painting that decode alone takes about a quarter of a second, and the page would send the whole
picture to the browser for a box drawn round each face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from gallery.faces.align import ARCFACE_CROP, align_face, landmarks_at

VIEW_SIDE = 1280  # the displayed picture's longest side, in pixels: room to zoom on a wide screen


@dataclass(frozen=True)
class QueryView:
    picture: np.ndarray  # RGB, the longest side at most VIEW_SIDE (never enlarged)
    scale: float  # picture pixels per pixel of the decoded image (<= 1)
    crops: tuple[np.ndarray, ...]  # each face's ArcFace crop (112 x 112), in the order of the faces

    def box(self, box) -> tuple[float, float, float, float]:
        """A face box of the decoded image, in the picture's pixels."""
        return tuple(float(v) * self.scale for v in box)


def query_view(rgb: np.ndarray, faces, side: int = VIEW_SIDE, image_scale: float = 1.0) -> QueryView:
    """The view of a decoded image (H x W x 3 uint8) and its detected faces (in the coordinates of
    the full-resolution picture, of which `rgb` is decoded at `image_scale`)."""
    if side < 1:
        raise ValueError(f"the view's side must be at least one pixel, not {side}")
    picture = downscaled(rgb, side)
    return QueryView(picture, picture.shape[1] / rgb.shape[1] * image_scale,
                     tuple(align_face(rgb, landmarks_at(face.landmarks, image_scale), ARCFACE_CROP) for face in faces))


def downscaled(rgb: np.ndarray, side: int) -> np.ndarray:
    """`rgb` with its longest side at most `side`: first an integer box reduction (fast, and the
    right filter for a large factor), then a bilinear step for the remainder."""
    height, width = rgb.shape[:2]
    if max(height, width) <= side:
        return rgb
    image = Image.fromarray(rgb)
    factor = max(height, width) // side
    if factor >= 2:
        image = image.reduce(factor)
    scale = side / max(image.size)
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.BILINEAR)
    return np.asarray(image)
