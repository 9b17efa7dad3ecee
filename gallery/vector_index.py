"""The FAISS vector index of one embedding set, with its own copy of the vectors.

- Inner product on the fused (L2-normalised) vectors; ids are face ids (IndexIDMap2).
- "Flat" by default; any FAISS factory string (e.g. "IVF1024,Flat", "HNSW32") for large
  collections, trained on a sample of the stored vectors.
- On a GPU when FAISS has GPU support and sees one, on CPU otherwise; same results.
- The vectors are kept (float16 on disk) so the index can be rebuilt without running the
  models, and per-component scores computed after a search.
- Saved atomically (temp file, fsync, rename) with a manifest (embedding set, dimension,
  count, checksum). `open_index` checks the manifest and the files against what the caller
  expects and rebuilds from the stored vectors when they disagree, saying why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import GalleryError

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
INDEX_FILE = "index.faiss"
VECTORS_FILE = "vectors.npz"
TRAIN_SAMPLE = 100_000
IVF_NPROBE = 16  # inverted lists visited per query (IVF indexes); saved with the index


class VectorIndexError(GalleryError):
    """The vector index cannot be used as asked."""


@dataclass(frozen=True)
class IndexManifest:
    embedding_set: str
    dim: int
    count: int
    factory: str
    checksum: str  # sha256 of the sorted ids and their float16 vectors


def vectors_checksum(ids: np.ndarray, vectors16: np.ndarray) -> str:
    order = np.argsort(ids, kind="stable")
    digest = hashlib.sha256(np.ascontiguousarray(ids[order], dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(vectors16[order], dtype=np.float16).tobytes())
    return digest.hexdigest()


def _gpu_available() -> bool:
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def _ready(index, use_gpu: bool):
    """Search settings and device placement, for a freshly built or a loaded CPU index."""
    import faiss

    try:
        faiss.extract_index_ivf(index).nprobe = IVF_NPROBE
    except RuntimeError:  # not an IVF index
        pass
    if use_gpu:
        resources = faiss.StandardGpuResources()
        index = faiss.index_cpu_to_gpu(resources, 0, index)
        index._resources = resources  # keep alive with the index
    return index


class VectorIndex:
    def __init__(self, dim: int, factory: str = "Flat", use_gpu: bool | None = None):
        if dim < 1:
            raise VectorIndexError(f"vector dimension must be positive, got {dim}")
        self.dim = dim
        self.factory = factory
        self.use_gpu = _gpu_available() if use_gpu is None else (use_gpu and _gpu_available())
        self.ids = np.zeros(0, np.int64)
        self.vectors = np.zeros((0, dim), np.float16)
        self._index = None  # built lazily from ids/vectors

    # -- contents ---------------------------------------------------------------
    # Additions are kept in parts and joined when the whole arrays are read, so an indexer adding
    # one small batch at a time does not copy every stored vector at each batch.
    @property
    def ids(self) -> np.ndarray:
        self._join()
        return self._ids[0]

    @ids.setter
    def ids(self, value) -> None:
        self._ids = [np.asarray(value, dtype=np.int64)]
        self._members = None  # set of ids, built on first use
        self._order = None  # argsort of ids, for lookups

    @property
    def vectors(self) -> np.ndarray:
        self._join()
        return self._vectors[0]

    @vectors.setter
    def vectors(self, value) -> None:
        self._vectors = [np.asarray(value, dtype=np.float16)]

    def _join(self) -> None:
        if len(self._ids) > 1:
            self._ids = [np.concatenate(self._ids)]
            self._vectors = [np.concatenate(self._vectors)]

    def __len__(self) -> int:
        return sum(len(part) for part in self._ids)

    def add(self, ids, vectors) -> None:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1) if len(ids) else \
            np.zeros((0, self.dim), np.float32)
        if vectors.shape[1] != self.dim:
            raise VectorIndexError(f"vectors have dimension {vectors.shape[1]}, the index holds {self.dim}")
        if self._members is None:
            self._members = set(self.ids.tolist())
        if len(np.unique(ids)) != len(ids) or not self._members.isdisjoint(ids.tolist()):
            raise VectorIndexError("face ids must be unique in the index; remove a face before adding it again")
        stored = vectors.astype(np.float16)
        self._ids.append(ids)
        self._vectors.append(stored)
        self._members.update(ids.tolist())
        self._order = None
        if self._index is not None and self._index.is_trained:
            # the stored (float16) values, so a live index scores exactly as a rebuilt one
            self._index.add_with_ids(stored.astype(np.float32), ids)
        else:
            self._index = None

    def remove(self, ids) -> int:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        keep = ~np.isin(self.ids, ids)
        removed = int((~keep).sum())
        self.ids, self.vectors = self.ids[keep], self.vectors[keep]
        self._index = None  # rebuilt on next search (HNSW cannot remove in place)
        return removed

    def vectors_for(self, ids) -> np.ndarray:
        """The stored float32 vectors of these face ids (for per-component scores)."""
        stored = self.ids
        if self._order is None:
            self._order = np.argsort(stored, kind="stable")
        wanted = np.asarray(ids, dtype=np.int64).reshape(-1)
        if not len(stored):
            found, missing = np.zeros(0, np.int64), wanted
        else:
            found = self._order[np.minimum(np.searchsorted(stored, wanted, sorter=self._order), len(stored) - 1)]
            missing = wanted[stored[found] != wanted]
        if len(missing):
            raise VectorIndexError(f"face id {int(missing[0])} is not in the index")
        return self.vectors[found].astype(np.float32)

    # -- FAISS --------------------------------------------------------------------
    def _build(self):
        import faiss

        base = faiss.index_factory(self.dim, self.factory, faiss.METRIC_INNER_PRODUCT)
        index = faiss.IndexIDMap2(base)
        data = self.vectors.astype(np.float32)
        if not index.is_trained:
            if len(data) == 0:
                raise VectorIndexError(f"a '{self.factory}' index needs vectors to train on; add faces first")
            rng = np.random.default_rng(0)
            sample = data[rng.choice(len(data), min(len(data), TRAIN_SAMPLE), replace=False)]
            try:
                index.train(sample)
            except RuntimeError as err:
                raise VectorIndexError(f"cannot train a '{self.factory}' index on {len(sample)} vectors "
                                       f"({str(err).splitlines()[0]}); use 'Flat' until the collection is larger"
                                       ) from None
        if len(data):
            index.add_with_ids(data, self.ids)
        return _ready(index, self.use_gpu)

    @property
    def index(self):
        if self._index is None:
            self._index = self._build()
        return self._index

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, face ids) per query; ids are -1 where fewer than k faces exist."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.shape[1] != self.dim:
            raise VectorIndexError(f"query has dimension {queries.shape[1]}, the index holds {self.dim}")
        if len(self) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        return self.index.search(queries, int(k))

    # -- persistence ----------------------------------------------------------------
    def manifest(self, embedding_set: str) -> IndexManifest:
        return IndexManifest(embedding_set, self.dim, len(self), self.factory,
                             vectors_checksum(self.ids, self.vectors))

    def save(self, folder: Path, embedding_set: str) -> IndexManifest:
        import faiss

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        index = self.index
        if self.use_gpu:
            index = faiss.index_gpu_to_cpu(index)
        manifest = self.manifest(embedding_set)
        try:
            _atomic_write(folder / VECTORS_FILE, lambda f: np.savez(f, ids=self.ids, vectors=self.vectors))
            _atomic_write(folder / INDEX_FILE, lambda f: f.write(faiss.serialize_index(index).tobytes()))
            _atomic_write(folder / MANIFEST, lambda f: f.write(json.dumps(asdict(manifest), indent=2).encode()))
        except OSError as err:
            # each file is replaced whole or not at all; a mixed set fails its manifest check and is
            # rebuilt from the database on the next open
            raise VectorIndexError(f"cannot save the vector index in {folder}: {err.strerror or err}. The "
                                   "database holds every vector; the index is rebuilt from it on the next "
                                   "open once the folder is writable and has room.") from err
        return manifest


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class OpenedIndex:
    index: VectorIndex
    health: str  # "consistent", "rebuilt" or "missing"
    detail: str


class IndexTruth(Protocol):
    """What an index must hold, as the database knows it."""

    def ids(self) -> np.ndarray: ...  # sorted face ids

    def vectors(self) -> tuple[np.ndarray, np.ndarray]: ...  # (face ids, float16 vectors)


def open_index(folder: Path, embedding_set: str, dim: int, factory: str = "Flat",
               use_gpu: bool | None = None, truth: IndexTruth | None = None) -> OpenedIndex:
    """Load an index folder and check it (against `truth` when given). An index that
    disagrees is rebuilt, from `truth` when given, else from its own stored vectors,
    saved, and the reason logged."""
    folder = Path(folder)
    fresh = VectorIndex(dim, factory, use_gpu)
    expected = truth.ids() if truth is not None else None
    if not (folder / VECTORS_FILE).exists():
        if expected is None or len(expected) == 0:
            return OpenedIndex(fresh, "missing", f"no stored vectors in {folder}")
        return _rebuild(folder, fresh, embedding_set, truth, "index files missing")
    try:
        with np.load(folder / VECTORS_FILE) as data:
            fresh.ids, fresh.vectors = data["ids"].astype(np.int64), data["vectors"].astype(np.float16)
        if len(fresh) and fresh.vectors.shape[1] != dim:
            raise VectorIndexError(f"stored vectors in {folder} have dimension {fresh.vectors.shape[1]}, "
                                   f"expected {dim}")
        problem = _problem(folder, fresh, embedding_set)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        if truth is None:
            raise VectorIndexError(f"the stored vectors {folder / VECTORS_FILE} are unreadable ({err}); "
                                   f"re-index with `gallery index`") from err
        problem = f"stored vectors unreadable ({err})"
    if problem is None and expected is not None and not np.array_equal(np.sort(fresh.ids), expected):
        problem = f"index holds {len(fresh)} faces, the database {len(expected)}"
    if problem is None:
        problem = _load_faiss(folder, fresh)
        if problem is None:
            return OpenedIndex(fresh, "consistent", f"{len(fresh)} vectors")
    return _rebuild(folder, fresh, embedding_set, truth, problem)


def _load_faiss(folder: Path, into: VectorIndex) -> str | None:
    import faiss

    try:
        raw = np.frombuffer((folder / INDEX_FILE).read_bytes(), dtype=np.uint8)
        loaded = faiss.deserialize_index(raw)
    except (OSError, RuntimeError) as err:
        return f"index file unreadable ({err})"
    if loaded.ntotal != len(into):
        return f"index file holds {loaded.ntotal} vectors, the store {len(into)}"
    into._index = _ready(loaded, into.use_gpu)
    return None


def _rebuild(folder: Path, fresh: VectorIndex, embedding_set: str, truth: IndexTruth | None,
             problem: str) -> OpenedIndex:
    if truth is not None:
        fresh.ids, fresh.vectors = truth.vectors()
        fresh._index = None
    log.warning("vector index %s rebuilt from stored vectors: %s", folder, problem)
    fresh.save(folder, embedding_set)
    return OpenedIndex(fresh, "rebuilt", problem)


def _problem(folder: Path, store: VectorIndex, embedding_set: str) -> str | None:
    if not (folder / INDEX_FILE).exists():
        return "index file missing"
    try:
        manifest = IndexManifest(**json.loads((folder / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError) as err:
        return f"manifest unreadable ({err})"
    if manifest.embedding_set != embedding_set or manifest.dim != store.dim or manifest.factory != store.factory:
        return f"manifest is for {manifest.embedding_set}/{manifest.dim}-d/{manifest.factory}"
    if manifest.count != len(store) or manifest.checksum != vectors_checksum(store.ids, store.vectors):
        return "manifest does not match the stored vectors"
    return None
