"""The one place a file's format is read from its suffix, for every file the product writes."""

from __future__ import annotations

from pathlib import Path

from gallery.core.errors import GalleryError


def file_format(path: Path | str, formats: tuple[str, ...], what: str,
                error: type[GalleryError] = GalleryError) -> str:
    """The format named by the suffix of `path` ("pdf", "csv", ...), one of `formats`; otherwise
    `error` saying which suffixes `what` (e.g. "the report file") may have."""
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in formats:
        suffixes = [f".{f}" for f in formats]
        allowed = suffixes[0] if len(suffixes) == 1 else f"{', '.join(suffixes[:-1])} or {suffixes[-1]}"
        raise error(f"{what} must end in {allowed}, got {Path(path).name!r}")
    return kind
