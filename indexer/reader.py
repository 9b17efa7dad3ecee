"""Reader stage: each file read once in a worker process, hashed, and decoded unless unchanged;
results in order, with bounded look-ahead.

Workers are started with `spawn` (the parent may hold torch and its threads, which `fork`
would copy in an unknown state). At most `window` results wait in memory, so a collection
of large scans never piles up decoded images ahead of the models.

Hostile or damaged files cannot stop a run: a file whose decoding takes longer than `timeout_s`
(a decoder spinning on crafted data) or that kills its worker process (a decoder crash) becomes a
failed ReadResult, the pool is replaced, and the files after it are read again in the new pool.
A crash is blamed on a file only after it crashes a fresh worker alone; when `MAX_CRASHES_IN_A_ROW`
files in a row crash, the fault is the workers' (memory exhausted, a damaged install), not the
files', and the run stops with ReaderError instead of marking the whole collection failed.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Iterable, Iterator, TypeVar

from gallery.core.errors import GalleryError, ImageLoadError
from gallery.faces.formats import register_plugins
from gallery.faces.images import LoadedImage, load_image
from gallery.faces.regions import read_regions

T = TypeVar("T")
MAX_CRASHES_IN_A_ROW = 3


class ReaderError(GalleryError):
    """The reader processes cannot work at all."""


@dataclass(frozen=True)
class ReadResult:
    path: str
    sha256: str | None  # None when the file could not be read
    image: LoadedImage | None  # None when unchanged (not decoded), when it failed, or once mapped
    error: str | None = None  # why it failed
    unchanged: bool = False  # its hash was the known one, so it was not decoded
    regions: tuple = ()  # named face regions of its XMP (gallery.faces.regions.Region), when decoded
    region_problem: str | None = None  # what was wrong with them


def read_file(path: str, known_sha256: str | None, max_pixels: int, reduce_to: int | None = None,
              regions: bool = True) -> ReadResult:
    """Read a file once: hash it, and decode it unless its hash is `known_sha256` (a master with
    resolution levels at the coarsest one of at least `reduce_to` pixels a side), with the named
    face regions of its XMP (its sidecar's, else its own) unless `regions` is False."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        return ReadResult(path, None, None, f"cannot read the file: {err.strerror or err}")
    sha = hashlib.sha256(data).hexdigest()
    if sha == known_sha256:
        return ReadResult(path, sha, None, unchanged=True)
    try:
        image = load_image(data, max_pixels, name=path, reduce_to=reduce_to)
    except ImageLoadError as err:
        return ReadResult(path, sha, None, err.reason)
    found, problem = read_regions(path, data) if regions else ([], None)
    return ReadResult(path, sha, image, regions=tuple(found), region_problem=problem)


def warm_up() -> None:
    """Make a new reader process ready for its first file while the caller opens its models and
    database: one call a process is sent at start; unpickled, it imports this module and the image
    libraries, and it loads Pillow's common decoders, all of which the first file would pay."""
    from PIL import Image

    register_plugins()
    Image.preinit()


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
    """A pool of reader processes (`processes` = 0: in this process, with no time limit)."""

    def __init__(self, processes: int, max_pixels: int, window: int | None = None, timeout_s: float = 120.0,
                 read=read_file, reduce_to: int | None = None, regions: bool = True):
        self.processes = processes
        self.regions = regions
        self.reduce_to = reduce_to
        self.read_one = read  # a picklable function with read_file's signature
        self.max_pixels = max_pixels
        self.window = window or max(4, 4 * processes)
        self.timeout_s = timeout_s
        self._executor: Executor | None = None
        self._crashes = 0  # files in a row that crashed their worker

    def __enter__(self) -> "Reader":
        self._start()
        return self

    def __exit__(self, *exc) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._executor = None

    def _start(self) -> None:
        if self.processes > 0:
            self._executor = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
            for _ in range(self.processes):  # start the workers now, while the caller opens its models
                self._executor.submit(warm_up)
        else:
            self._executor = _Inline()

    def _restart(self) -> None:
        """Replace a pool that holds a spinning or a dead worker."""
        old = self._executor
        for process in list(getattr(old, "_processes", {}).values()):
            process.kill()
        old.shutdown(wait=True, cancel_futures=True)
        self._start()

    def _submit(self, item) -> Future:
        return self._executor.submit(self.read_one, str(getattr(item, "read_path", item.path)), item.known_sha256,
                                     self.max_pixels, self.reduce_to, self.regions)

    def read(self, items: Iterable[T]) -> Iterator[tuple[T, ReadResult]]:
        """(item, ReadResult) in input order, with at most `window` files ahead. Items carry
        `path` and `known_sha256` (the hash the database holds for that path, or None)."""
        if self._executor is None:
            raise RuntimeError("use the Reader in a `with` block")
        pending: deque[tuple[T, Future]] = deque()
        for item in items:
            pending.append((item, self._submit(item)))
            if len(pending) >= self.window:
                yield self._take(pending)
        while pending:
            yield self._take(pending)

    def _take(self, pending: deque) -> tuple[T, ReadResult]:
        head, future = pending.popleft()
        problem = self._wait(future)
        if problem is None:
            self._crashes = 0
            return head, future.result()
        self._restart()
        if problem == "crashed":  # the pool died: was it this file? try it alone in a fresh worker
            future = self._submit(head)
            problem = self._wait(future)
            if problem is not None:
                self._restart()
        for position, (item, other) in enumerate(pending):  # the rest ran in the old pool
            if not (other.done() and not other.cancelled() and other.exception() is None):
                pending[position] = (item, self._submit(item))
        self._crashes = self._crashes + 1 if problem == "crashed" else 0
        if self._crashes >= MAX_CRASHES_IN_A_ROW:
            raise ReaderError(f"the reader processes died on {self._crashes} files in a row (the last: {head.path}); "
                              "this is a fault of the machine or the installation (memory exhausted? a damaged "
                              "image library?), not of the files. Nothing more was read; fix it and run again.")
        if problem is None:
            return head, future.result()
        reason = (f"decoding took longer than {self.timeout_s:g} s (decode_timeout_s); the file was skipped"
                  if problem == "timeout" else "the image decoder crashed on this file")
        return head, ReadResult(str(head.path), None, None, reason)

    def _wait(self, future: Future) -> str | None:
        try:
            future.result(timeout=self.timeout_s)
        except FutureTimeout:
            return "timeout"
        except BrokenProcessPool:
            return "crashed"
        return None
