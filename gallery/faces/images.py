"""Image loading for what museums hold.

JPEG, PNG, TIFF (8- and 16-bit), WebP, BMP, JPEG 2000, HEIC/HEIF and AVIF (the list is
`gallery.faces.formats`); EXIF orientation applied; colour turned into sRGB through the image's
ICC profile (Adobe RGB, ProPhoto, Display P3, CMYK), greyscale, palette and alpha into RGB; a pixel
cap against decompression bombs checked before any pixel is decoded. Every failure raises
ImageLoadError naming file and reason.

Big masters are decoded at the resolution that is needed (`gallery.faces.levels`): a JPEG 2000's
resolution levels and a pyramidal TIFF's reduced pages let a 100-megapixel scan be detected on a
level of about `detect_max_side`, and a finer level is decoded only when a face needs it
(`LoadedImage.finer`). Face coordinates are always those of the full-resolution image.
"""

from __future__ import annotations

import functools
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from gallery.core.errors import ImageLoadError
from gallery.faces.formats import SUPPORTED_FORMATS, SUPPORTED_LIST, is_image_path, register_plugins
from gallery.faces.levels import choose_level, open_level, resolution_levels

__all__ = ["LoadedImage", "load_image", "is_image_path", "downscale_for_detection", "encode_jpeg"]

ORIENTATION_SWAPS = (5, 6, 7, 8)  # EXIF orientations that turn the picture a quarter


@dataclass(frozen=True)
class LoadedImage:
    """An image decoded to 8-bit RGB: at full resolution, or at a reduced level (`scale` < 1)."""

    path: str
    rgb: np.ndarray  # H x W x 3 uint8
    format: str
    scale: float = 1.0  # pixels of `rgb` per pixel of the full-resolution image
    full_size: tuple[int, int] | None = None  # (width, height) at full resolution, when reduced
    source: bytes | str | None = field(default=None, repr=False)  # kept when reduced, for `finer`
    max_pixels: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the full-resolution image."""
        return self.full_size or (self.rgb.shape[1], self.rgb.shape[0])

    @property
    def reduced(self) -> bool:
        return self.scale < 1.0

    def finer(self, scale: float) -> "LoadedImage":
        """This image decoded again at the coarsest level with at least `scale` (as fine as
        `max_pixels` allows); itself when it already is."""
        if scale <= self.scale or self.source is None:
            return self
        return load_image(self.source, self.max_pixels, self.path, minimum_scale=scale)


def load_image(source: Path | str | bytes, max_pixels: int, name: str | None = None,
               reduce_to: int | None = None, minimum_scale: float = 0.0) -> LoadedImage:
    """Decode `source` (a path or the bytes of a file) to RGB.

    With `reduce_to`, an image that has resolution levels is decoded at the coarsest one whose
    long side is still at least `reduce_to` pixels (and whose scale is at least `minimum_scale`);
    an image above `max_pixels` is decoded through the finest level under the cap when it has one.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "<upload>")
    if not isinstance(source, bytes):
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(label, "no such file")
        if path.stat().st_size == 0:
            raise ImageLoadError(label, "the file is empty (0 bytes)")
        opener = path
    else:
        if not source:
            raise ImageLoadError(label, "the file is empty (0 bytes)")
        opener = io.BytesIO(source)
    register_plugins()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(opener) as img:
                return _decode(img, label, max_pixels, reduce_to, minimum_scale, source)
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(label, _unidentified(opener)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageLoadError(label, f"too many pixels (decompression bomb guard): {err}") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, RuntimeError) as err:
        # RuntimeError: libavif and libheif report damaged data so
        raise ImageLoadError(label, f"the image data is damaged or truncated ({err})") from None


def _unidentified(opener) -> str:
    head = opener.read_bytes()[:32] if isinstance(opener, Path) else opener.getvalue()[:32]
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1") \
            and not register_plugins():
        return "a HEIC/HEIF image, which needs the pillow-heif package (pip install pillow-heif)"
    return f"not an image file Pillow can identify (wrong extension or corrupt header); readable formats: {SUPPORTED_LIST}"


def _decode(img: Image.Image, label: str, max_pixels: int, reduce_to: int | None, minimum_scale: float,
            source) -> LoadedImage:
    fmt = img.format
    if fmt not in SUPPORTED_FORMATS:
        raise ImageLoadError(label, f"format {fmt} is not supported; readable formats: {SUPPORTED_LIST}")
    width, height = img.size
    level = choose_level(resolution_levels(img), max_pixels, reduce_to, minimum_scale)
    if level is None:
        raise ImageLoadError(
            label, f"{width}x{height} = {width * height:,} pixels exceeds the cap of {max_pixels:,} (max_pixels)"
        )
    open_level(img, level)
    img.load()  # decode now so truncation errors surface here
    swapped = img.getexif().get(0x0112) in ORIENTATION_SWAPS
    rgb = _as_rgb8(ImageOps.exif_transpose(img))
    if level.scale == 1.0:
        return LoadedImage(label, rgb, fmt)
    full = (height, width) if swapped else (width, height)
    return LoadedImage(label, rgb, fmt, level.scale, full, source if isinstance(source, bytes) else str(source),
                       max_pixels)


SRGB_NAMES = ("srgb", "iec 61966-2", "iec61966-2")


def _as_rgb8(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        if mode == "F":
            top = 1.0 if arr.max() <= 1.0 else float(arr.max())
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # flatten transparency onto white, as a page or a mount would show it
        profile = img.info.get("icc_profile")
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
        if profile:
            img.info["icc_profile"] = profile
    if img.mode in ("CMYK", "RGB") and img.info.get("icc_profile"):
        img = to_srgb(img)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def to_srgb(img: Image.Image) -> Image.Image:
    """An RGB or CMYK image converted to sRGB through its embedded ICC profile (Adobe RGB, ProPhoto,
    Display P3, a scanner's or a printer's profile), with relative colorimetric intent; itself when
    the profile is sRGB already; a plain conversion when the profile cannot be read."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
        if img.mode == "RGB" and _is_srgb(source):
            return img
        return ImageCms.profileToProfile(img, source, _srgb(), outputMode="RGB",
                                         renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    except (ImageCms.PyCMSError, OSError, TypeError):
        return img.convert("RGB")


def _is_srgb(profile) -> bool:
    description = (ImageCms.getProfileDescription(profile) or "").strip().lower()
    return any(name in description for name in SRGB_NAMES)


@functools.cache
def _srgb():
    """The sRGB profile, made once."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def downscale_for_detection(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy no longer than `max_side` on its long side, and the scale used (<= 1)."""
    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale >= 1.0:
        return rgb, 1.0
    import cv2

    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    return small, scale


def encode_jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(out, format="JPEG", quality=quality)
    return out.getvalue()
