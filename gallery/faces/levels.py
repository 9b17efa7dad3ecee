"""Reduced-resolution decoding of big masters.

A JPEG 2000 codestream holds its picture at every wavelet resolution level: level r is the
picture at 1/2^r, and OpenJPEG decodes it without touching the finer levels (Pillow's `reduce`).
A pyramidal TIFF holds reduced copies as further pages (NewSubfileType "reduced image", or a
page with the same aspect ratio and a smaller size). Either way the detector can work on a level
of about `detect_max_side` instead of the whole scan, and a scan above `max_pixels` can still be
read through a level under the cap.

The number of JPEG 2000 levels comes from the codestream's COD marker (Pillow does not read it).
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

MAX_HEADER = 1 << 16  # the main header of a codestream sits in its first bytes
REDUCED_IMAGE = 1  # NewSubfileType bit: a reduced-resolution version of another page


@dataclass(frozen=True)
class Level:
    width: int
    height: int
    scale: float  # of the full resolution (1.0 for the full picture)
    reduce: int = 0  # JPEG 2000 discard levels
    page: int = 0  # TIFF page

    @property
    def pixels(self) -> int:
        return self.width * self.height


def resolution_levels(img: Image.Image) -> list[Level]:
    """The picture's levels, finest (the full picture) first."""
    width, height = img.size
    full = Level(width, height, 1.0)
    if img.format == "JPEG2000":
        return [full] + [Level(-(-width // 2 ** r), -(-height // 2 ** r), 1.0 / 2 ** r, reduce=r)
                         for r in range(1, _j2k_decompositions(img) + 1)]
    if img.format == "TIFF" and getattr(img, "n_frames", 1) > 1:
        return [full] + _tiff_reduced_pages(img)
    return [full]


def choose_level(levels: list[Level], max_pixels: int, reduce_to: int | None, minimum_scale: float) -> Level | None:
    """The coarsest level under `max_pixels` whose long side is at least `reduce_to` and whose scale
    is at least `minimum_scale`; the finest under the cap when none is that large; None when every
    level is over the cap. Without `reduce_to` (and `minimum_scale`), the full picture when allowed."""
    allowed = [level for level in levels if level.pixels <= max_pixels]
    if not allowed:
        return None
    if reduce_to is None and minimum_scale <= 0:
        return allowed[0]
    large_enough = [level for level in allowed
                    if max(level.width, level.height) >= (reduce_to or 0) and level.scale >= minimum_scale]
    return large_enough[-1] if large_enough else allowed[0]


def open_level(img: Image.Image, level: Level) -> None:
    """Point the opened, not yet decoded image at `level`."""
    if level.reduce:
        img.reduce = level.reduce
    elif level.page:
        img.seek(level.page)


def _j2k_decompositions(img: Image.Image) -> int:
    """The codestream's number of wavelet decomposition levels (0 when it cannot be read)."""
    handle = img.fp
    position = handle.tell()
    try:
        handle.seek(0)
        head = handle.read(MAX_HEADER)
    finally:
        handle.seek(position)
    start = head.find(b"\xff\x4f\xff\x51")  # SOC then SIZ
    if start < 0:
        return 0
    at = start + 2
    while at + 4 <= len(head) and head[at] == 0xFF:
        marker, length = head[at + 1], int.from_bytes(head[at + 2:at + 4], "big")
        if marker == 0x52:  # COD: Lcod, Scod, progression, layers(2), MCT, then decomposition levels
            return head[at + 9] if at + 9 < len(head) else 0
        if marker in (0x90, 0x93) or length < 2:  # a tile starts: no main COD seen
            return 0
        at += 2 + length
    return 0


def _tiff_reduced_pages(img: Image.Image) -> list[Level]:
    width, height = img.size
    found = []
    try:
        for page in range(1, img.n_frames):
            img.seek(page)
            w, h = img.size
            kind = img.tag_v2.get(254)
            same_shape = abs(w / width - h / height) <= 0.02 and w < width
            if same_shape and (kind is None or kind & REDUCED_IMAGE):
                found.append(Level(w, h, w / width, page=page))
    finally:
        img.seek(0)
    return sorted(found, key=lambda level: -level.scale)
