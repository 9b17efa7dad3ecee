"""Recurring unknown sitters: clusters of the faces still to review.

Most unknown faces of a real collection appear once (a donor in an altarpiece, a bystander), so
the method must never chain different people together through look-alikes. It is average linkage
(UPGMA) with a stopping score, the parameters in `ClusterParams`:
1. The faces below the quality floor (`Settings.quality_floor`) are kept out: they are counted and
   listed as "too poor to cluster", never put in a cluster. A blurred background face resembles
   other blurred faces more than its own sitter.
2. A k-nearest-neighbour graph of the remaining faces' fused vectors, with FAISS (exact inner
   product up to `EXACT_UP_TO` faces, an IVF index trained on them beyond). Only edges scoring at
   least the threshold are kept: two groups can merge only if some pair of their faces scores that
   much, as the mean of a set is never above its largest member.
3. Average linkage over that graph: the two adjacent groups whose faces score highest **on
   average** over every pair (not their closest pair) merge, again and again, until no two
   adjacent groups average the threshold. With L2-normalised vectors the mean score of every pair
   between two groups is the dot product of their vector sums over the product of their sizes, so
   each merge is exact and costs one product per neighbouring group.
4. The threshold is read from the embedding set's calibration as a pair false-match rate
   (`max_false_match`, default 1 in 10,000): the score that 1 in 10,000 pairs of faces of
   different sitters reach. An explicit `min_score` overrides it. Without a calibration the
   uncalibrated default `UNCALIBRATED_SCORE` is used, and the result says so.
5. Groups of at least `min_size` faces are the clusters; the other faces stay unclustered.

Measured in benchmarks/clusters.py on sets where most faces are one-offs: see the README.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import asdict, dataclass

import numpy as np

from db.review import faces_to_review, read_evidence

from gallery.core.errors import GalleryError

EXACT_UP_TO = 20_000
UNCALIBRATED_SCORE = 0.4  # used only without a calibration; gallery calibrate sets the threshold by rate


class ClusterError(GalleryError):
    """Clustering asked with parameters it cannot use."""


@dataclass(frozen=True)
class ClusterParams:
    min_size: int = 2  # the fewest faces a cluster holds
    neighbours: int = 10  # k of the k-NN graph
    max_false_match: float = 1e-4  # the threshold as a pair false-match rate (from the calibration)
    min_score: float | None = None  # an explicit threshold score, instead of the rate

    def __post_init__(self):
        if self.min_size < 2:
            raise ClusterError(f"a cluster holds at least 2 faces; min_size {self.min_size} is too small")
        if self.neighbours < 1:
            raise ClusterError(f"neighbours must be positive, got {self.neighbours}")
        if not 0.0 < self.max_false_match < 1.0:
            raise ClusterError(f"max_false_match is a rate in (0, 1), got {self.max_false_match}")
        if self.min_score is not None and not -1.0 <= self.min_score <= 1.0:
            raise ClusterError(f"min_score is a cosine score in [-1, 1], got {self.min_score}")


@dataclass(frozen=True)
class Threshold:
    score: float
    source: str  # how it was chosen, in words

    @classmethod
    def of(cls, params: ClusterParams, calibration) -> "Threshold":
        if params.min_score is not None:
            return cls(params.min_score, f"score {params.min_score:.3f}, as asked")
        if calibration is None:
            return cls(UNCALIBRATED_SCORE, f"score {UNCALIBRATED_SCORE:.3f}, uncalibrated: run `gallery calibrate` "
                                           f"to set it by false-match rate")
        score, bound = calibration.score_at(params.max_false_match)
        rate = f"1 in {round(1 / params.max_false_match):,}"
        if bound:
            return cls(score, f"score {score:.3f}: the calibration's highest impostor score, as it cannot show a "
                              f"false-match rate as fine as {rate}")
        return cls(score, f"score {score:.3f}: {rate} pairs of different sitters score this much (calibration)")


@dataclass(frozen=True)
class ClusterFace:
    face_id: int
    artwork_id: int
    path: str
    face_index: int
    title: str | None


@dataclass(frozen=True)
class Cluster:
    id: int
    faces: list[ClusterFace]
    cohesion: float  # mean score between the cluster's faces

    def to_json(self) -> dict:
        return {"id": self.id, "cohesion": round(self.cohesion, 4),
                "faces": [{"face_id": f.face_id, "path": f.path, "face_index": f.face_index, "title": f.title}
                          for f in self.faces]}


@dataclass(frozen=True)
class Clustering:
    clusters: list[Cluster]  # largest first
    unclustered: int
    params: ClusterParams
    seconds: float
    threshold: Threshold | None = None
    too_poor: tuple[ClusterFace, ...] = ()  # below the quality floor: kept out of clusters
    quality_floor: float = 0.0

    def to_json(self) -> dict:
        return {"clusters": [c.to_json() for c in self.clusters], "unclustered": self.unclustered,
                "too_poor_to_cluster": [{"face_id": f.face_id, "path": f.path, "face_index": f.face_index}
                                        for f in self.too_poor],
                "quality_floor": self.quality_floor,
                "threshold": asdict(self.threshold) if self.threshold else None,
                "parameters": asdict(self.params), "seconds": round(self.seconds, 3)}

    def summary(self) -> str:
        """In words, as the command and the page show it."""
        poor = (f"; {len(self.too_poor)} too poor to cluster (quality below {self.quality_floor:.2f})"
                if self.too_poor else "")
        joined = f" Faces join at an average {self.threshold.source}." if self.threshold else ""
        return (f"{len(self.clusters)} cluster(s) among the faces not yet identified; {self.unclustered} face(s) "
                f"stand alone{poor} ({self.seconds:.1f} s).{joined}")

    def cluster(self, cluster_id: int) -> Cluster:
        for found in self.clusters:
            if found.id == cluster_id:
                return found
        raise ClusterError(f"there is no cluster {cluster_id} (there are {len(self.clusters)})")


def cluster_vectors(vectors: np.ndarray, params: ClusterParams = ClusterParams(),
                    threshold: float | None = None) -> np.ndarray:
    """A label per row of L2-normalised vectors: the cluster's number, or -1 for unclustered.
    `threshold` is the stopping score (default: `params.min_score`, else `UNCALIBRATED_SCORE`)."""
    if threshold is None:
        threshold = params.min_score if params.min_score is not None else UNCALIBRATED_SCORE
    count = len(vectors)
    labels = np.full(count, -1, np.int64)
    if count < params.min_size:
        return labels
    vectors = np.ascontiguousarray(vectors, np.float32)
    groups = _average_linkage(vectors, _knn_edges(vectors, params.neighbours, threshold), threshold)
    number = 0
    for members in sorted((g for g in groups if len(g) >= params.min_size), key=lambda g: (-len(g), min(g))):
        labels[members] = number
        number += 1
    return labels


def _knn_edges(vectors: np.ndarray, neighbours: int, threshold: float) -> list[tuple[float, int, int]]:
    """Each face's nearest neighbours (FAISS, inner product) that score at least `threshold`:
    (score, row, neighbour's row)."""
    import faiss

    count, dim = vectors.shape
    k = min(neighbours + 1, count)
    if count <= EXACT_UP_TO:
        index = faiss.IndexFlatIP(dim)
    else:
        lists = int(4 * np.sqrt(count))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors[np.random.default_rng(0).choice(count, min(count, 50 * lists), replace=False)])
        index.nprobe = 16
    index.add(vectors)
    scores, ids = index.search(vectors, k)
    rows = np.repeat(np.arange(count), k)
    keep = (ids.ravel() >= 0) & (ids.ravel() != rows) & (scores.ravel() >= threshold)
    return list(zip(scores.ravel()[keep].tolist(), rows[keep].tolist(), ids.ravel()[keep].tolist()))


def _average_linkage(vectors: np.ndarray, edges: list[tuple[float, int, int]], threshold: float) -> list[list[int]]:
    """Average linkage over the graph: adjacent groups merge best mean score first while it is at
    least `threshold`. Returns the groups (lists of row numbers), singletons included. A group made
    by a merge gets a new number; only merged groups keep a vector sum (a face's is its vector)."""
    count = len(vectors)
    members: dict[int, list[int]] = {i: [i] for i in range(count)}
    sums: dict[int, np.ndarray] = {}
    adjacent: dict[int, set[int]] = {}
    heap = []
    for score, a, b in edges:
        if b not in adjacent.get(a, ()):
            adjacent.setdefault(a, set()).add(b)
            adjacent.setdefault(b, set()).add(a)
            heap.append((-score, min(a, b), max(a, b)))
    heapq.heapify(heap)
    total = lambda group: sums[group] if group >= count else vectors[group].astype(np.float64)  # noqa: E731
    fresh = count
    while heap:
        negative, a, b = heapq.heappop(heap)
        if -negative < threshold:
            break
        if a not in members or b not in members:
            continue  # one of them has merged since
        group, fresh = fresh, fresh + 1
        members[group] = members.pop(a) + members.pop(b)
        sums[group] = total(a) + total(b)
        sums.pop(a, None), sums.pop(b, None)
        linked = (adjacent.pop(a) | adjacent.pop(b)) - {a, b}
        adjacent[group] = linked
        size = len(members[group])
        for other in linked:
            adjacent[other] -= {a, b}
            adjacent[other].add(group)
            mean = float(sums[group] @ total(other)) / (size * len(members[other]))
            if mean >= threshold:
                heapq.heappush(heap, (-mean, other, group))
    return list(members.values())


def cluster_faces(service, params: ClusterParams = ClusterParams()) -> Clustering:
    """Cluster the faces to review of the service's embedding set (a gallery.search.service.SearchService)."""
    started = time.monotonic()
    index = service.index()
    threshold = Threshold.of(params, service.calibration())
    floor = service.quality_floor
    with service.database.session() as session:
        faces = faces_to_review(session, service.embedding_set.id, read_evidence(session))
    in_index = set(index.ids.tolist())
    faces = [f for f in faces if f.face_id in in_index]
    poor = [f for f in faces if f.quality is not None and f.quality < floor]
    faces = [f for f in faces if f.quality is None or f.quality >= floor]
    vectors = index.vectors_for([f.face_id for f in faces]) if faces else np.zeros((0, index.dim), np.float32)
    labels = cluster_vectors(vectors, params, threshold.score)
    groups = [np.flatnonzero(labels == label) for label in range(labels.max() + 1 if len(labels) else 0)]
    groups.sort(key=lambda rows: (-len(rows), faces[rows[0]].face_id))
    clusters = []
    for number, rows in enumerate(groups, start=1):
        members = vectors[rows]
        similarity = members @ members.T
        cohesion = float((similarity.sum() - np.trace(similarity)) / (len(rows) * (len(rows) - 1)))
        clusters.append(Cluster(number, [_face(faces[r]) for r in rows], cohesion))
    return Clustering(clusters, int((labels < 0).sum()), params, time.monotonic() - started, threshold,
                      tuple(_face(f) for f in poor), floor)


def _face(face) -> ClusterFace:
    return ClusterFace(face.face_id, face.artwork_id, face.path, face.face_index, face.title)
