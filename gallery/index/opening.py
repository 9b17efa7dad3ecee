"""Opening an index folder against what it must hold: consistent, caught up (a sound index that
lags behind the database), rebuilt (damaged, or made for another set, dimension or kind), or
missing. The copy is hashed again only when its files are not those the save wrote, or on
`verify`."""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from gallery.index.choice import AUTO, IVF_NPROBE, IndexChoice, IndexRule, exact_factory
from gallery.index.files import IDS_FILE, INDEX_FILE, LEGACY_VECTORS, MANIFEST, VECTORS_FILE, IndexManifest, unchanged
from gallery.index.placement import ready
from gallery.index import store as copy_store
from gallery.index.store import VectorIndexError, vectors_checksum
from gallery.index.vector_index import VectorIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedIndex:
    index: VectorIndex
    health: str  # "consistent", "caught up", "rebuilt" or "missing"
    detail: str


class IndexTruth(Protocol):
    """What an index must hold, as the database knows it."""

    def ids(self) -> np.ndarray: ...  # sorted face ids

    def vectors(self) -> tuple[np.ndarray, np.ndarray]: ...  # (face ids, float16 vectors)

    def vectors_of(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...  # those of these faces it holds


def open_index(folder: Path, embedding_set: str, dim: int, factory: str = "Flat",
               use_gpu: bool | None = None, truth: IndexTruth | None = None, rule: IndexRule | None = None,
               verify: bool = False) -> OpenedIndex:
    """Load an index folder and check it (against `truth` when given). A sound index that only
    lags behind the truth (a run stopped between a commit and its next save) is caught up: the
    faces the truth no longer holds removed, those it gained added from it. An index that is
    damaged or disagrees otherwise is rebuilt, from `truth` when given, else from its own stored
    vectors. Either is saved, and the reason logged. The stored vectors are hashed against the
    manifest when their files changed since the save or when `verify` asks for it."""
    folder = Path(folder)
    fresh = VectorIndex(dim, factory, use_gpu, rule)
    expected = truth.ids() if truth is not None else None
    if not (folder / VECTORS_FILE).exists() and not (folder / LEGACY_VECTORS).exists():
        if expected is None or len(expected) == 0:
            return OpenedIndex(fresh, "missing", f"no stored vectors in {folder}")
        return _rebuild(folder, fresh, embedding_set, truth, "index files missing")
    try:
        fresh.ids, fresh.vectors = _load_vectors(folder, fresh.rule.map_bytes)
        if len(fresh) and fresh.vectors.shape[1] != dim:
            raise VectorIndexError(f"stored vectors in {folder} have dimension {fresh.vectors.shape[1]}, "
                                   f"expected {dim}")
        problem, hashed = _problem(folder, fresh, embedding_set, verify)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        if truth is None:
            raise VectorIndexError(f"the stored vectors {folder / VECTORS_FILE} are unreadable ({err}); "
                                   f"re-index with `gallery index`") from err
        problem = f"stored vectors unreadable ({err})"
    if problem is None:
        problem = _load_faiss(folder, fresh)
    if problem is not None:
        return _rebuild(folder, fresh, embedding_set, truth, problem)
    if expected is not None and not np.array_equal(np.sort(fresh.ids), expected):
        return _catch_up(folder, fresh, embedding_set, truth, expected)
    return OpenedIndex(fresh, "consistent", f"{len(fresh)} vectors, " + (
        "checksum verified" if hashed else "unchanged since their save, which checksummed them"))


def _load_vectors(folder: Path, map_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """The stored ids (read in) and float16 vectors (memory-mapped when larger than map_bytes).
    The earlier single-file store is read in; the next save writes it as the two files."""
    if not (folder / VECTORS_FILE).exists():
        with np.load(folder / LEGACY_VECTORS) as data:
            return data["ids"].astype(np.int64), data["vectors"].astype(np.float16)
    ids = np.load(folder / IDS_FILE)
    vectors = np.load(folder / VECTORS_FILE, mmap_mode="r")
    if ids.dtype != np.int64 or ids.ndim != 1 or vectors.dtype != np.float16 or vectors.ndim != 2 \
            or len(vectors) != len(ids):
        raise ValueError(f"ids {ids.dtype}{list(ids.shape)} and vectors {vectors.dtype}{list(vectors.shape)} "
                         "are not int64[n] and float16[n, dim]")
    return ids, (vectors if vectors.nbytes > map_bytes else np.array(vectors))


def _load_faiss(folder: Path, into: VectorIndex) -> str | None:
    import faiss

    try:
        loaded = faiss.read_index(str(folder / INDEX_FILE))  # straight into the index, no copy of the file
    except (OSError, RuntimeError) as err:
        return f"index file unreadable ({err})"
    if loaded.ntotal != len(into):
        return f"index file holds {loaded.ntotal} vectors, the store {len(into)}"
    into._index = ready(loaded, into.use_gpu, into.choice.nprobe if into.choice else IVF_NPROBE)
    return None


def _rebuild(folder: Path, fresh: VectorIndex, embedding_set: str, truth: IndexTruth | None,
             problem: str) -> OpenedIndex:
    if truth is not None:
        fresh.ids, fresh.vectors = truth.vectors()
        fresh._index = None
    log.warning("vector index %s rebuilt from stored vectors: %s", folder, problem)
    fresh.save(folder, embedding_set)
    return OpenedIndex(fresh, "rebuilt", problem)


def _catch_up(folder: Path, store: VectorIndex, embedding_set: str, truth: IndexTruth,
              expected: np.ndarray) -> OpenedIndex:
    """A sound index that lags behind the truth, brought level with it in place (CHUNK faces read
    at a time) instead of rebuilt whole: an IVF index keeps its training, and a large collection
    reads only what changed."""
    held = np.sort(store.ids)
    gone = np.setdiff1d(held, expected, assume_unique=True)
    missing = np.setdiff1d(expected, held, assume_unique=True)
    store.remove(gone)
    added = 0
    for start in range(0, len(missing), copy_store.CHUNK):
        ids, vectors = truth.vectors_of(missing[start:start + copy_store.CHUNK])
        store.add(ids, vectors)
        added += len(ids)
    detail = f"caught up with the database: {added} faces added and {len(gone)} removed since its last save"
    log.warning("vector index %s %s", folder, detail)
    store.save(folder, embedding_set)
    return OpenedIndex(store, "caught up", detail)


def _problem(folder: Path, store: VectorIndex, embedding_set: str, verify: bool) -> tuple[str | None, bool]:
    """What is wrong with the folder's files (None: nothing), and whether the copy was hashed."""
    if not (folder / INDEX_FILE).exists():
        return "index file missing", False
    try:
        manifest = IndexManifest(**json.loads((folder / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError) as err:
        return f"manifest unreadable ({err})", False
    if manifest.embedding_set != embedding_set or manifest.dim != store.dim or manifest.factory != store.factory:
        return f"manifest is for {manifest.embedding_set}/{manifest.dim}-d/{manifest.factory}", False
    hashed = verify or not unchanged(folder, manifest)
    if manifest.count != len(store) or (hashed and manifest.checksum != vectors_checksum(store.ids, store.vectors,
                                                                                        manifest.order)):
        return "manifest does not match the stored vectors", hashed
    if store.factory == AUTO:
        if manifest.chosen is None:
            return "manifest of an automatic index holds no choice", hashed
        store.choice = IndexChoice(**manifest.chosen)
        if store.choice.stale(len(store), store.rule):
            store.choice = None
            return f"the collection has outgrown the index chosen at {manifest.chosen['faces']:,} faces", hashed
        exact = exact_factory(store.use_gpu)
        if store.choice.nprobe == 0 and store.choice.factory != exact:  # an earlier version's, or another device's
            store.choice = replace(store.choice, factory=exact)
            return (f"the exact index ({manifest.chosen['factory']}) is built again as {exact}, this version's "
                    f"exact index on {'a GPU' if store.use_gpu else 'CPU'}"), hashed
    return None, hashed
