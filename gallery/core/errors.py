"""Domain errors. Every failure a user can cause or fix raises one of these.

Each message names what was expected and how to fix it; the CLI and UI show
the message as is.
"""

from __future__ import annotations


class GalleryError(Exception):
    """Base class of every error the product raises on purpose."""


class ConfigError(GalleryError):
    """A settings or profile file, or an option, is invalid."""


class ImageLoadError(GalleryError):
    """An image file cannot be used; the message names the file and the reason."""

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")


class WeightsError(GalleryError):
    """A weights file is missing, corrupt or cannot be fetched."""


class ChecksumMismatch(WeightsError):
    """A weights file on disk does not have the expected sha256."""


class WeightsUnavailable(WeightsError):
    """A weights file is not in the cache and cannot be downloaded now."""


class ModelError(GalleryError):
    """A model file has an unexpected structure or input."""


class NoFaceError(GalleryError):
    """An image that must contain a face has none (or not the one asked for)."""
