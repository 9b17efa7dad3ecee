"""Image loading for what museums hold.

JPEG, PNG, TIFF (8- and 16-bit), WebP and BMP; EXIF orientation applied;
CMYK (through its ICC profile when present), greyscale, palette and alpha
turned into RGB; a pixel cap against decompression bombs checked before any
pixel is decoded. Every failure raises ImageLoadError naming file and reason.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from gallery.core.errors import ImageLoadError

SUPPORTED_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
SUPPORTED_FORMATS = {"JPEG", "PNG", "TIFF", "WEBP", "BMP", "MPO"}


@dataclass(frozen=True)
class LoadedImage:
    """An image decoded to 8-bit RGB at full resolution."""

    path: str
    rgb: np.ndarray  # H x W x 3 uint8
    format: str

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def load_image(source: Path | str | bytes, max_pixels: int, name: str | None = None) -> LoadedImage:
    """Decode `source` (a path or the bytes of a file) to RGB."""
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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(opener) as img:
                return LoadedImage(label, _to_rgb(img, label, max_pixels), img.format or "?")
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(label, "not an image file Pillow can identify (wrong extension or corrupt header)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageLoadError(label, f"too many pixels (decompression bomb guard): {err}") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageLoadError(label, f"the image data is damaged or truncated ({err})") from None


def _to_rgb(img: Image.Image, label: str, max_pixels: int) -> np.ndarray:
    if img.format not in SUPPORTED_FORMATS:
        raise ImageLoadError(label, f"format {img.format} is not supported; use JPEG, PNG, TIFF, WebP or BMP")
    width, height = img.size
    if width * height > max_pixels:
        raise ImageLoadError(
            label, f"{width}x{height} = {width * height:,} pixels exceeds the cap of {max_pixels:,} (max_pixels)"
        )
    img.load()  # decode now so truncation errors surface here
    img = ImageOps.exif_transpose(img)
    return _as_rgb8(img)


def _as_rgb8(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        if mode == "F":
            top = 1.0 if arr.max() <= 1.0 else float(arr.max())
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "CMYK" and img.info.get("icc_profile"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
            img = ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            img = img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # flatten transparency onto white, as a page or a mount would show it
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


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
