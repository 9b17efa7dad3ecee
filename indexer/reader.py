"""Reader stage: each file read once in a worker process, hashed, and decoded unless unchanged;
results in order, with bounded look-ahead.

Workers are started with `spawn` (the parent may hold torch and its threads, which `fork`
would copy in an unknown state). At most `window` results wait in memory, so a collection
of large scans never piles up decoded images ahead of the models.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Iterator, TypeVar

from gallery.errors import ImageLoadError
from gallery.images import LoadedImage, load_image

T = TypeVar("T")


@dataclass(frozen=True)
class ReadResult:
    path: str
    sha256: str | None  # None when the file could not be read
    image: LoadedImage | None  # None when unchanged (not decoded) or when it failed
    error: str | None = None  # why it failed

    @property
    def unchanged(self) -> bool:
        return self.image is None and self.error is None


def read_file(path: str, known_sha256: str | None, max_pixels: int) -> ReadResult:
    """Read a file once: hash it, and decode it unless its hash is `known_sha256`."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        return ReadResult(path, None, None, f"cannot read the file: {err.strerror or err}")
    sha = hashlib.sha256(data).hexdigest()
    if sha == known_sha256:
        return ReadResult(path, sha, None)
    try:
        return ReadResult(path, sha, load_image(data, max_pixels, name=path))
    except ImageLoadError as err:
        return ReadResult(path, sha, None, err.reason)


class _Inline(Executor):
    """Runs each call at submit time (workers = 0 in tests and on one-core machines)."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # handed to the caller by future.result()
            future.set_exception(err)
        return future


class Reader:
    """A pool of reader processes (`processes` = 0: in this process)."""

    def __init__(self, processes: int, max_pixels: int, window: int | None = None):
        self.processes = processes
        self.max_pixels = max_pixels
        self.window = window or max(4, 4 * processes)
        self._executor: Executor | None = None

    def __enter__(self) -> "Reader":
        if self.processes > 0:
            self._executor = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
        else:
            self._executor = _Inline()
        return self

    def __exit__(self, *exc) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._executor = None

    def read(self, items: Iterable[T]) -> Iterator[tuple[T, ReadResult]]:
        """(item, ReadResult) in input order, with at most `window` files ahead. Items carry
        `path` and `known_sha256` (the hash the database holds for that path, or None)."""
        if self._executor is None:
            raise RuntimeError("use the Reader in a `with` block")
        pending: deque[tuple[T, Future]] = deque()
        for item in items:
            pending.append((item, self._executor.submit(read_file, str(item.path), item.known_sha256,
                                                        self.max_pixels)))
            if len(pending) >= self.window:
                head, future = pending.popleft()
                yield head, future.result()
        while pending:
            head, future = pending.popleft()
            yield head, future.result()
