"""The float16 copy of an index's vectors: its checksum, read in chunks of CHUNK rows so a
memory-mapped copy of tens of millions of faces is never read whole."""

from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np

from gallery.core.errors import GalleryError

CHUNK = 65_536  # rows of the copy handled at a time when building, tuning, checksumming or writing


class VectorIndexError(GalleryError):
    """The vector index cannot be used as asked."""


def vectors_checksum(ids: np.ndarray, vectors16: np.ndarray | Iterable[np.ndarray], order: str = "stored") -> str:
    """sha256 of the ids and then their float16 vectors, CHUNK rows at a time: in the order stored
    (`vectors16` may be blocks of rows, in turn), or, as earlier manifests recorded it, in the
    order of the sorted ids (a gather that reads a memory-mapped copy out of order)."""
    if order == "sorted":
        joined = vectors16 if isinstance(vectors16, np.ndarray) else np.concatenate(list(vectors16))
        rows = np.argsort(ids, kind="stable")
        digest = checksum_start(ids[rows])
        for start in range(0, len(rows), CHUNK):
            digest.update(np.ascontiguousarray(joined[rows[start:start + CHUNK]], dtype=np.float16).data)
        return digest.hexdigest()
    digest = checksum_start(ids)
    blocks = ((vectors16[start:start + CHUNK] for start in range(0, len(vectors16), CHUNK))
              if isinstance(vectors16, np.ndarray) else vectors16)
    for block in blocks:
        digest.update(np.ascontiguousarray(block, dtype=np.float16).data)
    return digest.hexdigest()


def checksum_start(ids: np.ndarray):
    """The checksum's sha256, fed the ids; the vectors follow."""
    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int64).data)


def as_float32(vectors16: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
    return np.asarray(vectors16[start:stop], dtype=np.float32)
