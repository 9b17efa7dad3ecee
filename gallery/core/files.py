"""Reading an image file's bytes; writing a file whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable

from gallery.core.errors import ImageLoadError


def read_image_bytes(path) -> bytes:
    """An image file's bytes, or an ImageLoadError naming the file and why it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ImageLoadError(str(path), err.strerror or "cannot be read") from None


def write_atomically(path: Path, data: bytes) -> Path:
    """Write `data` under a temporary name beside `path`, then rename it into place: a reader (or
    a concurrent writer of the same content) never sees a partial file, and a failed write leaves
    whatever was there before."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_files_atomically(path.parent, {path.name: lambda handle: handle.write(data)})
    return path


def write_files_atomically(folder: Path, writers: dict[str, Callable[[BinaryIO], object]]) -> None:
    """Several files of a folder written whole or not at all: each written by its writer (given the
    open file) to a temporary file beside it and synced, all of them, and only then renamed into
    place (renames take no room), so a failed write replaces nothing."""
    written: list[tuple[str, Path]] = []
    mode = folder.stat().st_mode & 0o666  # as a file made there would have (the folder's, under the umask)
    try:
        for name, write in writers.items():
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")  # readable by its owner only
            written.append((tmp, folder / name))
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
        for tmp, path in written:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _path in written:
            Path(tmp).unlink(missing_ok=True)
        raise


def relative_to_collection(path: str, collection: str | None) -> PurePosixPath:
    """A picture's path inside its collection folder (its file name when that is unknown)."""
    try:
        return PurePosixPath(Path(path).relative_to(collection).as_posix()) if collection else PurePosixPath(
            Path(path).name)
    except ValueError:
        return PurePosixPath(Path(path).name)
