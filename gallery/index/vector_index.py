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

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import numpy as np

from gallery.core.files import write_files_atomically
from gallery.index import placement
from gallery.index.choice import AUTO, RERANK, STORED, TRAIN_SAMPLE, IndexChoice, IndexRule, exact_factory, tune
from gallery.index.files import (IDS_FILE, INDEX_FILE, LEGACY_VECTORS, MANIFEST, VECTORS_FILE, IndexManifest, stamped,
                                 write_npy)
from gallery.index.placement import on_gpu, ready, removes_in_place, with_face_ids
from gallery.index import store
from gallery.index.store import VectorIndexError, as_float32, checksum_start

log = logging.getLogger(__name__)


class VectorIndex:
    def __init__(self, dim: int, factory: str = "Flat", use_gpu: bool | None = None, rule: IndexRule | None = None):
        if dim < 1:
            raise VectorIndexError(f"vector dimension must be positive, got {dim}")
        self.dim = dim
        self.factory = factory
        self.rule = rule or IndexRule()
        self.rule.check()
        self.choice: IndexChoice | None = None  # an "auto" index's, once built
        self.use_gpu = placement.gpu_available() if use_gpu is None else (use_gpu and placement.gpu_available())
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
            for first in range(0, len(part), store.CHUNK):
                last = min(first + store.CHUNK, len(part))
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
        if self._index is not None and removes_in_place(self._index):
            if self._index.remove_ids(dropped) != removed:
                self._index = None
        else:
            self._index = None
        if self.choice is not None and self.choice.stale(len(self), self.rule):
            self._index = None  # chosen again at the next search or save
        return removed

    def _find(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in stored order, present mask) of these face ids, by the sorted lookup."""
        if self._recent:
            self._lookup = None  # faces added since the lookup: sort them in
        order, stored = self._sorted()
        if not len(stored):
            return np.zeros(len(wanted), np.int64), np.zeros(len(wanted), bool)
        at = np.minimum(np.searchsorted(stored, wanted), len(stored) - 1)
        return order[at], stored[at] == wanted

    def holds(self, ids) -> np.ndarray:
        """A mask: which of these face ids are live in the index."""
        return self._find(np.asarray(ids, dtype=np.int64).reshape(-1))[1]

    def vectors_for(self, ids) -> np.ndarray:
        """The stored float32 vectors of these face ids (for per-component scores)."""
        wanted = np.asarray(ids, dtype=np.int64).reshape(-1)
        found, present = self._find(wanted)
        if not present.all():
            raise VectorIndexError(f"face id {int(wanted[~present][0])} is not in the index")
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
            return ready(self._filled(self.factory, data), self.use_gpu)
        if self.choice is not None and not self.choice.stale(len(data), self.rule):
            # rebuilt after a removal: the same choice, trained again
            return ready(self._filled(self.choice.factory, data), self.use_gpu, self.choice.nprobe)
        exact = exact_factory(self.use_gpu)
        if len(data) <= self.rule.flat_max:
            self.choice = IndexChoice(exact, 0, 1.0, len(data), 0)
            return ready(self._filled(exact, data), self.use_gpu)
        lists = int(4 * np.sqrt(len(data)))
        factory = f"IVF{lists},{STORED}"
        index = self._filled(factory, data, train=max(TRAIN_SAMPLE, 40 * lists))
        nprobe, recall, probes = tune(index, data, self.ids, lists, self.rule)
        if nprobe > lists // 4:  # scanning that much of an IVF index is no faster than exact search
            self.choice = IndexChoice(exact, 0, round(recall, 4), len(data), probes)
            index = self._filled(exact, data)
        else:
            self.choice = IndexChoice(factory, nprobe, round(recall, 4), len(data), probes)
        log.info("vector index: %s", self.choice.describe())
        return ready(index, self.use_gpu, self.choice.nprobe)

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
        for start in range(0, len(data), store.CHUNK):
            index.add_with_ids(as_float32(data, start, start + store.CHUNK), ids[start:start + store.CHUNK])
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
        digest = checksum_start(ids)  # taken as the copy is written: the copy is read once
        written: list[IndexManifest] = []
        stamps: dict[str, list[int]] = {}

        def manifest_file(handle) -> None:
            written.append(self.manifest(embedding_set, digest.hexdigest(), stamps))
            handle.write(json.dumps(asdict(written[0]), indent=2).encode())

        try:
            write_files_atomically(folder, {
                IDS_FILE: stamped(stamps, IDS_FILE, lambda f: write_npy(f, [ids], ids.shape)),
                VECTORS_FILE: stamped(stamps, VECTORS_FILE,
                                       lambda f: write_npy(f, self._live_rows(), (len(ids), self.dim), digest)),
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
