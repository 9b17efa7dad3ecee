"""The image formats the product reads, written once: the loader, the indexer's walk, enquiries,
`gallery add` and the page's uploads all take them from here.

HEIC/HEIF comes through pillow-heif (a maintained libheif binding), registered with Pillow the
first time an image is opened; JPEG 2000 (OpenJPEG) and AVIF (libavif) are Pillow's own.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ImageFormat:
    name: str  # as a curator knows it
    pillow: tuple[str, ...]  # Pillow's format names for it
    suffixes: tuple[str, ...]  # the first is the one a stored copy is given


FORMATS = (
    ImageFormat("JPEG", ("JPEG", "MPO"), (".jpg", ".jpeg", ".jpe")),
    ImageFormat("PNG", ("PNG",), (".png",)),
    ImageFormat("TIFF", ("TIFF",), (".tif", ".tiff")),
    ImageFormat("WebP", ("WEBP",), (".webp",)),
    ImageFormat("BMP", ("BMP",), (".bmp",)),
    ImageFormat("JPEG 2000", ("JPEG2000",), (".jp2", ".j2k", ".jpf", ".jpx", ".j2c", ".jpc")),
    ImageFormat("HEIC/HEIF", ("HEIF",), (".heic", ".heif", ".hif")),
    ImageFormat("AVIF", ("AVIF",), (".avif",)),
)

SUPPORTED_SUFFIXES = tuple(s for f in FORMATS for s in f.suffixes)
SUPPORTED_FORMATS = frozenset(p for f in FORMATS for p in f.pillow)
SUPPORTED_LIST = ", ".join(f.name for f in FORMATS)

# picture files the product does not read: the indexer records each as an error naming
# SUPPORTED_LIST instead of passing over it (a folder of camera raws must not index as "nothing")
UNSUPPORTED_IMAGE_SUFFIXES = frozenset((
    ".gif", ".psd", ".psb", ".svg", ".eps", ".ico", ".jxl", ".exr", ".hdr", ".pcx", ".tga", ".dds", ".pdf",
    ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf", ".rw2", ".raf", ".pef",
    ".srw", ".x3f", ".3fr", ".fff", ".iiq", ".mos", ".erf", ".kdc", ".dcr", ".raw",
))
# files that travel beside images and are expected there: counted, never errors
SIDECAR_SUFFIXES = frozenset((".xmp", ".xml", ".json", ".csv", ".txt", ".md", ".pdf", ".thm", ".aae"))


def is_image_path(path: Path) -> bool:
    return Path(path).suffix.lower() in SUPPORTED_SUFFIXES


def suffix_for(pillow_format: str | None) -> str:
    """The suffix a stored copy of an image of this Pillow format is given."""
    for known in FORMATS:
        if pillow_format in known.pillow:
            return known.suffixes[0]
    return ".img"


def kind_of_other_file(path: Path) -> str:
    """What a (not hidden) file the indexer does not read is, for its summary, by its suffix:
    `sidecar`, `unsupported image` or `other`."""
    suffix = Path(path).suffix.lower()
    if suffix in UNSUPPORTED_IMAGE_SUFFIXES - SIDECAR_SUFFIXES:
        return "unsupported image"
    if suffix in SIDECAR_SUFFIXES:
        return "sidecar"
    return "other"


@functools.cache
def register_plugins() -> bool:
    """Make Pillow ready for the loader, once: pillow-heif's HEIC/HEIF opener registered (False when
    it is not installed: a HEIC file then fails with a message naming the package), and Pillow's own
    decompression-bomb limit (89 megapixels) lifted, because the loader checks `max_pixels` itself
    before any pixel is decoded, and a master above the cap may still be read through a level."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True
