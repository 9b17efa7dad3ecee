"""The FAISS vector index of one embedding set, with its own copy of the vectors.

- Inner product on the fused (L2-normalised) vectors; ids are face ids: held by an IVF index in
  its own lists, by any other (Flat, SQfp16, PQ, HNSW) through an IndexIDMap2 over it.
- "auto" (the default setting): chosen by the collection's size (`IndexRule`). Exact up to
  `flat_max` faces; past it IVF with about 4 sqrt(N) lists, trained on a sample of the collection's
  own vectors, and nprobe the smallest power of two whose recall@10 against exact search, measured on
  `probes` held-out collection vectors (each query's own face left out), reaches `target_recall`.
  The choice is made again once the collection has grown `growth`-fold since it was made (or
  passes `flat_max`), and is saved in the manifest (`gallery status` shows it).
  Both hold the vectors as float16 (FAISS's scalar quantiser "SQfp16"): the values the database
  and the copy below store, exactly, in half of float32's memory and file, with the same answers
  (FAISS scans them faster, too). The exact index on a GPU is a GPU Flat index, FAISS having no
  GPU form of a flat SQfp16 one (`exact_factory`); an exact index of the other kind is built again
  on opening, which takes no training.
- Or any FAISS factory string (e.g. "Flat", "IVF1024,Flat", "HNSW32"), trained on a sample of the
  stored vectors. With product quantisation (e.g. "IVF4096,PQ192" for tens of millions of faces)
  FAISS keeps a few hundred bytes per face, and a shortlist of RERANK x k is scored again exactly
  from the float16 copy.
- On a GPU when FAISS has GPU support and sees one, on CPU otherwise; same results. An index of a
  kind FAISS cannot place on a GPU (HNSW, say) is searched on CPU, with a warning.
- The vectors are kept (float16 on disk: ids.npy and vectors.npy) so the index can be rebuilt
  without running the models, and per-component scores computed after a search. Past
  `IndexRule.map_bytes` the float16 copy is memory-mapped instead of read in: the operating system
  keeps the pages searches touch, and a product-quantised index of tens of millions of faces needs
  only its codes in memory. Builds and checksums read it in chunks of CHUNK rows. A mapped file is
  only ever replaced whole (rename), never rewritten in place, which would break the mapping.
- Saved atomically (every file written to a temporary file and synced, then all renamed) with a
  manifest (embedding set, dimension, count, checksum, and the size and modification time of the
  ids and vectors files as written). `open_index` checks the manifest and the files against what
  the caller expects: an index that only lags behind the caller's truth is caught up from it, one
  that disagrees otherwise is rebuilt from the stored vectors, saying why. The copy is hashed
  again only when its files are not those the save wrote (size or modification time changed, or a
  manifest from before they were recorded), or when asked (`verify`): at tens of millions of faces
  hashing it reads 100 GB and more.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import numpy as np

from gallery.core.errors import GalleryError

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
INDEX_FILE = "index.faiss"
IDS_FILE = "ids.npy"
VECTORS_FILE = "vectors.npy"
LEGACY_VECTORS = "vectors.npz"  # the earlier single-file store: read as it is; the next save writes the two files
CHUNK = 65_536  # rows of the copy handled at a time when building, tuning, checksumming or writing
TRAIN_SAMPLE = 100_000
IVF_NPROBE = 16  # inverted lists visited per query by an IVF index named by its factory string
AUTO = "auto"
RERANK = 10  # a product-quantised index's shortlist: this many times k, scored again exactly
STORED = "SQfp16"  # how "auto" holds the vectors: float16, as stored, exactly (half of float32)


class VectorIndexError(GalleryError):
    """The vector index cannot be used as asked."""


@dataclass(frozen=True)
class IndexRule:
    """How "auto" chooses (settings index_flat_max, index_target_recall), and how the float16 copy is
    held (index_map_bytes)."""

    flat_max: int = 50_000  # exact search up to this many faces: about 15 ms a query at 1,536 dimensions
    target_recall: float = 0.99  # recall@10 an IVF index must reach on held-out collection vectors
    growth: float = 2.0  # choose again once the collection has grown this many times
    probes: int = 500  # collection vectors held out as queries to measure recall
    map_bytes: int = 1 << 30  # a stored float16 copy larger than this is memory-mapped on opening

    @classmethod
    def of(cls, settings) -> "IndexRule":
        return cls(settings.index_flat_max, settings.index_target_recall, map_bytes=settings.index_map_bytes)

    def check(self) -> None:
        if (self.flat_max < 0 or not 0 < self.target_recall <= 1 or self.growth <= 1 or self.probes < 10
                or self.map_bytes < 0):
            raise VectorIndexError(f"index rule out of bounds: {self} (flat_max >= 0, 0 < target_recall <= 1, "
                                   "growth > 1, probes >= 10, map_bytes >= 0)")


@dataclass(frozen=True)
class IndexChoice:
    """What "auto" chose, and the recall it measured."""

    factory: str
    nprobe: int  # 0: not an IVF index
    recall: float  # recall@10 on held-out collection vectors (of the IVF index tried, for a Flat chosen over it)
    faces: int  # the collection's size when chosen
    probes: int  # held-out queries the recall was measured on (0: exact)

    def stale(self, faces: int, rule: IndexRule) -> bool:
        if self.faces <= rule.flat_max:  # chosen small: Flat until it passes flat_max
            return faces > rule.flat_max
        return faces >= rule.growth * self.faces or faces <= rule.flat_max

    def describe(self) -> str:
        if self.nprobe == 0:
            return f"{self.factory} (exact), chosen at {self.faces:,} faces" + (
                f" (an IVF index reached recall@10 {self.recall:.3f} only when scanning over a quarter of its lists)"
                if self.probes else "")
        return (f"{self.factory}, nprobe {self.nprobe}: recall@10 {self.recall:.3f} on {self.probes} held-out "
                f"collection vectors, chosen at {self.faces:,} faces")


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


def vectors_checksum(ids: np.ndarray, vectors16: np.ndarray | Iterable[np.ndarray], order: str = "stored") -> str:
    """sha256 of the ids and then their float16 vectors, CHUNK rows at a time: in the order stored
    (`vectors16` may be blocks of rows, in turn), or, as earlier manifests recorded it, in the
    order of the sorted ids (a gather that reads a memory-mapped copy out of order)."""
    if order == "sorted":
        joined = vectors16 if isinstance(vectors16, np.ndarray) else np.concatenate(list(vectors16))
        rows = np.argsort(ids, kind="stable")
        digest = _checksum_start(ids[rows])
        for start in range(0, len(rows), CHUNK):
            digest.update(np.ascontiguousarray(joined[rows[start:start + CHUNK]], dtype=np.float16).data)
        return digest.hexdigest()
    digest = _checksum_start(ids)
    blocks = ((vectors16[start:start + CHUNK] for start in range(0, len(vectors16), CHUNK))
              if isinstance(vectors16, np.ndarray) else vectors16)
    for block in blocks:
        digest.update(np.ascontiguousarray(block, dtype=np.float16).data)
    return digest.hexdigest()


def _checksum_start(ids: np.ndarray):
    """The checksum's sha256, fed the ids; the vectors follow."""
    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int64).data)


def _float32(vectors16: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
    return np.asarray(vectors16[start:stop], dtype=np.float32)


def exact_factory(use_gpu: bool) -> str:
    """The exact index "auto" builds: the float16 rows (SQfp16) on CPU; on a GPU, where FAISS has no
    flat scalar-quantised index, a GPU Flat one."""
    return "Flat" if use_gpu else STORED


def _gpu_available() -> bool:
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def with_face_ids(index):
    """The index holding face ids: an IVF index holds them in its lists (8 bytes a face, and
    removal in place); any other through an IndexIDMap2 (which adds a map of ids to rows)."""
    import faiss

    return index if faiss.try_extract_index_ivf(index) is not None else faiss.IndexIDMap2(index)


def _removes_in_place(index) -> bool:
    """A CPU index from which FAISS removes ids correctly: an IVF index holding the ids itself,
    or an IndexIDMap2 over an array of rows. (An IndexIDMap2 over IVF, as earlier versions
    saved, would renumber its map but not the lists.)"""
    import faiss

    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap2):
        return isinstance(faiss.downcast_index(index.index), faiss.IndexFlatCodes)
    return isinstance(index, faiss.IndexIVF)


def _ready(index, use_gpu: bool, nprobe: int = IVF_NPROBE):
    """Search settings and device placement, for a freshly built or a loaded CPU index."""
    import faiss

    try:
        faiss.extract_index_ivf(index).nprobe = nprobe or IVF_NPROBE
    except RuntimeError:  # not an IVF index
        pass
    if not use_gpu:
        return index
    resources = faiss.StandardGpuResources()
    try:
        placed = faiss.index_cpu_to_gpu(resources, 0, index)
    except RuntimeError as err:  # a kind FAISS has no GPU form of (HNSW, a flat SQfp16 index, ...)
        log.warning("vector index: FAISS cannot place this %s on the GPU (%s); it is searched on CPU",
                    type(faiss.downcast_index(index)).__name__, str(err).strip().splitlines()[-1])
        return index
    placed.referenced_objects = [resources]  # kept alive with the index (FAISS refuses other new attributes)
    return placed


def on_gpu(index) -> bool:
    """The index (or the index inside its id map) is a FAISS GPU index."""
    import faiss

    gpu_index = getattr(faiss, "GpuIndex", None)  # only in FAISS builds with GPU support
    if gpu_index is None:
        return False
    index = faiss.downcast_index(index)
    if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        index = faiss.downcast_index(index.index)
    return isinstance(index, gpu_index)


class VectorIndex:
    def __init__(self, dim: int, factory: str = "Flat", use_gpu: bool | None = None, rule: IndexRule | None = None):
        if dim < 1:
            raise VectorIndexError(f"vector dimension must be positive, got {dim}")
        self.dim = dim
        self.factory = factory
        self.rule = rule or IndexRule()
        self.rule.check()
        self.choice: IndexChoice | None = None  # an "auto" index's, once built
        self.use_gpu = _gpu_available() if use_gpu is None else (use_gpu and _gpu_available())
        self.ids = np.zeros(0, np.int64)
        self.vectors = np.zeros((0, dim), np.float16)
        self._index = None  # built lazily from ids/vectors

    # -- contents ---------------------------------------------------------------
    # The float16 copy is kept as parts (what was opened or built, then each batch added) and,
    # once faces are removed, the positions of the rows still live among them. Nothing is joined
    # or compacted until the whole array is asked for (`vectors`): an indexer adding and removing
    # faces copies no stored vector, and a save writes the live rows part by part, CHUNK rows at a
    # time. A copy past the rule's map_bytes is memory-mapped again from the file just saved.
    # Ids are checked for duplicates against the sorted live ids and a set of those added since,
    # 8 bytes a stored face instead of a Python set of them all.
    @property
    def ids(self) -> np.ndarray:
        """The live face ids, in stored order."""
        if len(self._ids) > 1:
            self._ids = [np.concatenate(self._ids)]
        return self._ids[0] if self._live is None else self._ids[0][self._live]

    @ids.setter
    def ids(self, value) -> None:
        self._ids = [np.asarray(value, dtype=np.int64)]
        self._live = None  # positions of the live rows among all the parts' rows; None: every row
        self._lookup = None  # (argsort of the ids, the ids sorted), built on first use
        self._recent: set[int] = set()  # ids added since the lookup was built

    @property
    def vectors(self) -> np.ndarray:
        """The live rows of the copy as one array: joined and compacted in memory if need be."""
        if len(self._vectors) > 1 or self._live is not None:
            rows = list(self._live_rows()) or [np.zeros((0, self.dim), np.float16)]
            self._ids, self._vectors, self._live = [self.ids], [np.concatenate(rows)], None
        return self._vectors[0]

    @vectors.setter
    def vectors(self, value) -> None:
        self._vectors = [np.asarray(value, dtype=np.float16)]

    def __len__(self) -> int:
        return len(self._live) if self._live is not None else self._rows_stored()

    def _rows_stored(self) -> int:
        return sum(len(part) for part in self._ids)

    def _live_rows(self) -> Iterator[np.ndarray]:
        """The live rows of the copy in order, at most CHUNK at a time, read from the parts."""
        start = 0
        for part in self._vectors:
            for first in range(0, len(part), CHUNK):
                last = min(first + CHUNK, len(part))
                if self._live is None:
                    yield part[first:last]
                    continue
                low, high = np.searchsorted(self._live, [start + first, start + last])
                if high > low:
                    yield part[self._live[low:high] - start]
            start += len(part)

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        if self._lookup is None:
            ids = self.ids
            order = np.argsort(ids, kind="stable")
            self._lookup, self._recent = (order, ids[order]), set()
        return self._lookup

    def _holds_any(self, ids: np.ndarray) -> bool:
        _, stored = self._sorted()
        if len(stored):
            at = np.minimum(np.searchsorted(stored, ids), len(stored) - 1)
            if (stored[at] == ids).any():
                return True
        return not self._recent.isdisjoint(ids.tolist())

    def add(self, ids, vectors) -> None:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1) if len(ids) else \
            np.zeros((0, self.dim), np.float32)
        if vectors.shape[1] != self.dim:
            raise VectorIndexError(f"vectors have dimension {vectors.shape[1]}, the index holds {self.dim}")
        if len(np.unique(ids)) != len(ids) or self._holds_any(ids):
            raise VectorIndexError("face ids must be unique in the index; remove a face before adding it again")
        stored = vectors.astype(np.float16)
        if self._live is not None:
            self._live = np.concatenate([self._live, np.arange(self._rows_stored(), self._rows_stored() + len(ids))])
        self._ids.append(ids)
        self._vectors.append(stored)
        self._recent.update(ids.tolist())
        if self.choice is not None and self.choice.stale(len(self), self.rule):
            self._index = None  # chosen, trained and tuned again at the next search or save
        elif self._index is not None and self._index.is_trained:
            # the stored (float16) values, so a live index scores exactly as a rebuilt one
            self._index.add_with_ids(stored.astype(np.float32), ids)
        else:
            self._index = None

    def remove(self, ids) -> int:
        """Remove these faces (ids not held are ignored); the number removed. A CPU index of IVF
        lists or of a plain array of rows (Flat, PQ, SQ) drops them in place; any other is built
        again at the next search or save (HNSW; a GPU index)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        held = self.ids
        gone = np.isin(held, ids)
        removed = int(gone.sum())
        if not removed:
            return 0
        dropped = held[gone]
        live = self._live if self._live is not None else np.arange(self._rows_stored())
        self._live, self._lookup, self._recent = live[~gone], None, set()  # the rows stay until a save
        if self._index is not None and _removes_in_place(self._index):
            if self._index.remove_ids(dropped) != removed:
                self._index = None
        else:
            self._index = None
        if self.choice is not None and self.choice.stale(len(self), self.rule):
            self._index = None  # chosen again at the next search or save
        return removed

    def vectors_for(self, ids) -> np.ndarray:
        """The stored float32 vectors of these face ids (for per-component scores)."""
        if self._recent:
            self._lookup = None  # faces added since the lookup: sort them in
        order, stored = self._sorted()
        wanted = np.asarray(ids, dtype=np.int64).reshape(-1)
        if not len(stored):
            found, missing = np.zeros(0, np.int64), wanted
        else:
            at = np.minimum(np.searchsorted(stored, wanted), len(stored) - 1)
            found, missing = order[at], wanted[stored[at] != wanted]
        if len(missing):
            raise VectorIndexError(f"face id {int(missing[0])} is not in the index")
        return self._rows(found).astype(np.float32)

    def _rows(self, positions: np.ndarray) -> np.ndarray:
        """Live rows of the float16 copy at these positions, gathered from its parts without joining them."""
        if self._live is not None:
            positions = self._live[positions]
        if len(self._vectors) == 1:
            return self._vectors[0][positions]
        rows = np.empty((len(positions), self.dim), np.float16)
        start = 0
        for part in self._vectors:
            inside = (positions >= start) & (positions < start + len(part))
            rows[inside] = part[positions[inside] - start]
            start += len(part)
        return rows

    # -- FAISS --------------------------------------------------------------------
    def _build(self):
        data = self.vectors  # float16, perhaps memory-mapped: read CHUNK rows at a time
        if self.factory != AUTO:
            return _ready(self._filled(self.factory, data), self.use_gpu)
        if self.choice is not None and not self.choice.stale(len(data), self.rule):
            # rebuilt after a removal: the same choice, trained again
            return _ready(self._filled(self.choice.factory, data), self.use_gpu, self.choice.nprobe)
        exact = exact_factory(self.use_gpu)
        if len(data) <= self.rule.flat_max:
            self.choice = IndexChoice(exact, 0, 1.0, len(data), 0)
            return _ready(self._filled(exact, data), self.use_gpu)
        lists = int(4 * np.sqrt(len(data)))
        factory = f"IVF{lists},{STORED}"
        index = self._filled(factory, data, train=max(TRAIN_SAMPLE, 40 * lists))
        nprobe, recall, probes = _tune(index, data, self.ids, lists, self.rule)
        if nprobe > lists // 4:  # scanning that much of an IVF index is no faster than exact search
            self.choice = IndexChoice(exact, 0, round(recall, 4), len(data), probes)
            index = self._filled(exact, data)
        else:
            self.choice = IndexChoice(factory, nprobe, round(recall, 4), len(data), probes)
        log.info("vector index: %s", self.choice.describe())
        return _ready(index, self.use_gpu, self.choice.nprobe)

    def _filled(self, factory: str, data: np.ndarray, train: int = TRAIN_SAMPLE):
        """A CPU index of `factory` trained on a sample of `data` (float16), holding all of it, added
        CHUNK rows at a time so a large collection is never held in float32 at once."""
        import faiss

        index = with_face_ids(faiss.index_factory(self.dim, factory, faiss.METRIC_INNER_PRODUCT))
        if isinstance(index, faiss.IndexIVFScalarQuantizer) and index.sq.qtype == faiss.ScalarQuantizer.QT_fp16:
            index.by_residual = False  # the float16 vectors as stored, not their rounded residuals: exact
        if not index.is_trained:
            if len(data) == 0:
                raise VectorIndexError(f"a '{factory}' index needs vectors to train on; add faces first")
            rng = np.random.default_rng(0)
            sample = data[rng.choice(len(data), min(len(data), train), replace=False)].astype(np.float32)
            try:
                index.train(sample)
            except RuntimeError as err:
                raise VectorIndexError(f"cannot train a '{factory}' index on {len(sample)} vectors "
                                       f"({str(err).splitlines()[0]}); use 'Flat' until the collection is larger"
                                       ) from None
        ids = self.ids
        for start in range(0, len(data), CHUNK):
            index.add_with_ids(_float32(data, start, start + CHUNK), ids[start:start + CHUNK])
        return index

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
        if not self.compressed:
            return self.index.search(queries, int(k))
        # product-quantised codes give approximate scores: the shortlist is scored again exactly
        # from the float16 copy, so the scores shown (and their order) are those of exact search
        _, shortlist = self.index.search(queries, int(k) * RERANK)
        scores = np.full((len(queries), int(k)), -np.inf, np.float32)
        ids = np.full((len(queries), int(k)), -1, np.int64)
        for row, (query, found) in enumerate(zip(queries, shortlist)):
            found = found[found >= 0]
            exact = self.vectors_for(found) @ query
            best = np.argsort(-exact, kind="stable")[: int(k)]
            scores[row, : len(best)], ids[row, : len(best)] = exact[best], found[best]
        return scores, ids

    @property
    def compressed(self) -> bool:
        """The index stores product-quantised codes instead of the vectors."""
        return "PQ" in (self.choice.factory if self.choice else self.factory).upper()

    # -- persistence ----------------------------------------------------------------
    def manifest(self, embedding_set: str, checksum: str, written: dict | None = None) -> IndexManifest:
        """The manifest of a save, given the checksum of the rows it wrote (in stored order) and
        the files' stamps (`written`: name -> [size, mtime_ns])."""
        return IndexManifest(embedding_set, self.dim, len(self), self.factory, checksum,
                             asdict(self.choice) if self.choice else None, order="stored", written=written)

    def save(self, folder: Path, embedding_set: str) -> IndexManifest:
        import faiss

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        index = self.index
        if on_gpu(index):
            index = faiss.index_gpu_to_cpu(index)
        ids = self.ids
        digest = _checksum_start(ids)  # taken as the copy is written: the copy is read once
        written: list[IndexManifest] = []
        stamps: dict[str, list[int]] = {}

        def manifest_file(handle) -> None:
            written.append(self.manifest(embedding_set, digest.hexdigest(), stamps))
            handle.write(json.dumps(asdict(written[0]), indent=2).encode())

        try:
            _atomic_writes(folder, {
                IDS_FILE: _stamped(stamps, IDS_FILE, lambda f: _write_npy(f, [ids], ids.shape)),
                VECTORS_FILE: _stamped(stamps, VECTORS_FILE,
                                       lambda f: _write_npy(f, self._live_rows(), (len(ids), self.dim), digest)),
                INDEX_FILE: lambda f: faiss.write_index(index, faiss.PyCallbackIOWriter(f.write)),
                MANIFEST: manifest_file})
        except OSError as err:
            # every file is written before any is replaced, so a full disk leaves the previous set;
            # a set left mixed otherwise fails its manifest check and is rebuilt on the next open
            raise VectorIndexError(f"cannot save the vector index in {folder}: {err.strerror or err}. The "
                                   "database holds every vector; the index is brought level with it on the "
                                   "next open once the folder is writable and has room.") from err
        (folder / LEGACY_VECTORS).unlink(missing_ok=True)
        if len(ids) * self.dim * 2 > self.rule.map_bytes:  # the saved rows, mapped instead of held
            self._ids, self._vectors, self._live = [ids], [np.load(folder / VECTORS_FILE, mmap_mode="r")], None
        return written[0]


def _tune(index, data: np.ndarray, ids: np.ndarray, lists: int, rule: IndexRule) -> tuple[int, float, int]:
    """The smallest power-of-two nprobe whose recall@10 reaches the rule's target, the recall, and
    the number of held-out queries. The queries are collection vectors; each one's own face is left
    out of both the exact and the approximate answer."""
    import faiss

    k = 10
    rng = np.random.default_rng(1)
    picked = rng.choice(len(data), min(len(data), rule.probes), replace=False)
    queries = data[picked].astype(np.float32)
    exact, own = ids[_exact_top(queries, data, picked, k)], ids[picked]
    ivf = faiss.extract_index_ivf(index)
    nprobe = 1
    while True:
        ivf.nprobe = nprobe
        _, found = index.search(queries, k + 1)
        recall = float(np.mean([len(set(e.tolist()) & set([i for i in row if i != me][:k])) / k
                                for e, row, me in zip(exact, found.tolist(), own)]))
        if recall >= rule.target_recall or nprobe >= lists:
            return nprobe, recall, len(queries)
        nprobe = min(lists, nprobe * 2)


def _exact_top(queries: np.ndarray, data: np.ndarray, own: np.ndarray, k: int, chunk: int = CHUNK) -> np.ndarray:
    """Positions of each query's k best rows of `data` by inner product, its own row left out;
    in chunks, so a large collection is never copied."""
    best_scores = np.full((len(queries), k), -np.inf, np.float32)
    best = np.zeros((len(queries), k), np.int64)
    rows = np.arange(len(queries))
    for start in range(0, len(data), chunk):
        scores = queries @ _float32(data, start, start + chunk).T
        inside = (own >= start) & (own < start + chunk)
        scores[rows[inside], own[inside] - start] = -np.inf
        both = np.concatenate([best_scores, scores], axis=1)
        positions = np.concatenate([best, np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)],
                                   axis=1)
        top = np.argpartition(-both, k - 1, axis=1)[:, :k]
        best_scores, best = np.take_along_axis(both, top, 1), np.take_along_axis(positions, top, 1)
    return best


def _stamped(stamps: dict, name: str, write):
    """`write`, then the size and modification time of what it wrote recorded in `stamps` (a
    rename keeps both; any later write changes them)."""
    def run(handle) -> None:
        write(handle)
        handle.flush()  # the last write's time, not one still buffered
        stat = os.fstat(handle.fileno())
        stamps[name] = [stat.st_size, stat.st_mtime_ns]
    return run


def _unchanged(folder: Path, manifest: IndexManifest) -> bool:
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


def _write_npy(handle, blocks: Iterable[np.ndarray], shape: tuple, digest=None) -> None:
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


def _atomic_writes(folder: Path, writers: dict) -> None:
    """Each file written to a temporary file and synced, all of them, and only then renamed into
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
    into._index = _ready(loaded, into.use_gpu, into.choice.nprobe if into.choice else IVF_NPROBE)
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
    for start in range(0, len(missing), CHUNK):
        ids, vectors = truth.vectors_of(missing[start:start + CHUNK])
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
    hashed = verify or not _unchanged(folder, manifest)
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
