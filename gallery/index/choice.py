"""The automatic choice of index ("auto"): exact search up to `IndexRule.flat_max` faces, then IVF
with about 4 sqrt(N) lists, trained on the collection's own vectors and tuned to the smallest nprobe
whose recall@10 on held-out collection vectors reaches the target; chosen again once the
collection has grown `growth`-fold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gallery.index import store
from gallery.index.store import VectorIndexError, as_float32

TRAIN_SAMPLE = 100_000
IVF_NPROBE = 16  # inverted lists visited per query by an IVF index named by its factory string
AUTO = "auto"
RERANK = 10  # a product-quantised index's shortlist: this many times k, scored again exactly
STORED = "SQfp16"  # how "auto" holds the vectors: float16, as stored, exactly (half of float32)


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


def exact_factory(use_gpu: bool) -> str:
    """The exact index "auto" builds: the float16 rows (SQfp16) on CPU; on a GPU, where FAISS has no
    flat scalar-quantised index, a GPU Flat one."""
    return "Flat" if use_gpu else STORED


def tune(index, data: np.ndarray, ids: np.ndarray, lists: int, rule: IndexRule) -> tuple[int, float, int]:
    """The smallest power-of-two nprobe whose recall@10 reaches the rule's target, the recall, and
    the number of held-out queries. The queries are collection vectors; each one's own face is left
    out of both the exact and the approximate answer."""
    import faiss

    k = 10
    rng = np.random.default_rng(1)
    picked = rng.choice(len(data), min(len(data), rule.probes), replace=False)
    queries = data[picked].astype(np.float32)
    exact, own = ids[exact_top(queries, data, picked, k)], ids[picked]
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


def exact_top(queries: np.ndarray, data: np.ndarray, own: np.ndarray, k: int, chunk: int | None = None) -> np.ndarray:
    """Positions of each query's k best rows of `data` by inner product, its own row left out;
    in chunks, so a large collection is never copied."""
    chunk = chunk or store.CHUNK
    best_scores = np.full((len(queries), k), -np.inf, np.float32)
    best = np.zeros((len(queries), k), np.int64)
    rows = np.arange(len(queries))
    for start in range(0, len(data), chunk):
        scores = queries @ as_float32(data, start, start + chunk).T
        inside = (own >= start) & (own < start + chunk)
        scores[rows[inside], own[inside] - start] = -np.inf
        both = np.concatenate([best_scores, scores], axis=1)
        positions = np.concatenate([best, np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)],
                                   axis=1)
        top = np.argpartition(-both, k - 1, axis=1)[:, :k]
        best_scores, best = np.take_along_axis(both, top, 1), np.take_along_axis(positions, top, 1)
    return best
