"""An index folder's files: the FAISS index, the float16 copy (ids.npy, vectors.npy) and the
manifest, written through the one atomic writer (`gallery.core.files.write_files_atomically`), and
whether the copy's files are still those the last save checksummed."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

MANIFEST = "manifest.json"
INDEX_FILE = "index.faiss"
IDS_FILE = "ids.npy"
VECTORS_FILE = "vectors.npy"
LEGACY_VECTORS = "vectors.npz"  # the earlier single-file store: read as it is; the next save writes the two files


@dataclass(frozen=True)
class IndexManifest:
    embedding_set: str
    dim: int
    count: int
    factory: str
    checksum: str  # sha256 of the ids and their float16 vectors (see `order`)
    chosen: dict | None = None  # IndexChoice of an "auto" index
    order: str = "sorted"  # of the checksum: "stored" (the files' rows as they are) or "sorted" (earlier saves)
    written: dict | None = None  # file name -> [size, mtime_ns] of the ids and vectors files the save wrote


def stamped(stamps: dict, name: str, write):
    """`write`, then the size and modification time of what it wrote recorded in `stamps` (a
    rename keeps both; any later write changes them)."""
    def run(handle) -> None:
        write(handle)
        handle.flush()  # the last write's time, not one still buffered
        stat = os.fstat(handle.fileno())
        stamps[name] = [stat.st_size, stat.st_mtime_ns]
    return run


def unchanged(folder: Path, manifest: IndexManifest) -> bool:
    """Whether the ids and vectors files are, by size and modification time, those the save that
    wrote the manifest checksummed as it wrote them."""
    if not manifest.written:
        return False
    for name in (IDS_FILE, VECTORS_FILE):
        try:
            stat = (folder / name).stat()
        except FileNotFoundError:
            return False
        if manifest.written.get(name) != [stat.st_size, stat.st_mtime_ns]:
            return False
    return True


def write_npy(handle, blocks: Iterable[np.ndarray], shape: tuple, digest=None) -> None:
    """Blocks of rows, joined along their first axis, as one .npy file of `shape` (what np.save
    writes of the joined array), written through the file object block by block, so a full disk
    is an OSError that says so (numpy's own writer reports only a byte count) and a memory-mapped
    copy is never read whole. `digest` (a hashlib object) is fed the blocks as they are written."""
    from numpy.lib import format as npy

    blocks = iter(blocks)
    first = next(blocks, None)
    dtype = np.float16 if first is None else first.dtype
    npy.write_array_header_1_0(handle, {"descr": npy.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                                        "shape": tuple(shape)})
    written = 0
    for block in itertools.chain([] if first is None else [first], blocks):
        data = np.ascontiguousarray(block).data
        handle.write(data)
        if digest is not None:
            digest.update(data)
        written += len(block)
    if written != shape[0]:
        raise ValueError(f"wrote {written} rows of a file declared to hold {shape[0]}")
