"""Recurring unknown sitters: clusters of the faces still to review.

The method (documented in the README, parameters in `ClusterParams`):
1. A k-nearest-neighbour graph of the faces to review, built with FAISS on their fused vectors
   (exact inner product up to `EXACT_UP_TO` faces, an IVF index trained on them beyond), as
   cosine distances 1 - score.
2. Edges scoring below `floor` are dropped: two faces that dissimilar never join, however a chain
   of neighbours runs.
3. The connected parts of what remains are chained by edges longer than any cosine distance, so
   they meet only at the root of the hierarchy, and scikit-learn's HDBSCAN clusters the sparse
   precomputed graph (`min_cluster_size` = `min_size`, `min_samples` = 1). An isolated group of
   one unknown sitter's faces therefore comes out whole; faces HDBSCAN calls noise stay
   unclustered.

Measured on lfw-mini with its labels hidden (benchmarks/clusters.py): see the README.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from db.review import faces_to_review, read_evidence

from gallery.core.errors import GalleryError

EXACT_UP_TO = 20_000
BRIDGE = 3.0  # longer than any cosine distance (at most 2)


class ClusterError(GalleryError):
    """Clustering asked with parameters it cannot use."""


@dataclass(frozen=True)
class ClusterParams:
    min_size: int = 2  # the fewest faces a cluster holds
    neighbours: int = 10  # k of the k-NN graph
    floor: float = 0.2  # scores below this never join two faces

    def __post_init__(self):
        if self.min_size < 2:
            raise ClusterError(f"a cluster holds at least 2 faces; min_size {self.min_size} is too small")
        if self.neighbours < 1:
            raise ClusterError(f"neighbours must be positive, got {self.neighbours}")
        if not -1.0 <= self.floor <= 1.0:
            raise ClusterError(f"floor is a cosine score in [-1, 1], got {self.floor}")


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

    def to_json(self) -> dict:
        return {"clusters": [c.to_json() for c in self.clusters], "unclustered": self.unclustered,
                "parameters": asdict(self.params), "seconds": round(self.seconds, 3)}

    def cluster(self, cluster_id: int) -> Cluster:
        for found in self.clusters:
            if found.id == cluster_id:
                return found
        raise ClusterError(f"there is no cluster {cluster_id} (there are {len(self.clusters)})")


def cluster_vectors(vectors: np.ndarray, params: ClusterParams = ClusterParams()) -> np.ndarray:
    """A label per row of L2-normalised vectors: the cluster's number, or -1 for unclustered."""
    from sklearn.cluster import HDBSCAN

    count = len(vectors)
    if count < params.min_size:
        return np.full(count, -1, np.int64)
    graph = _bridged(_knn_graph(np.ascontiguousarray(vectors, np.float32), params))
    return HDBSCAN(min_cluster_size=params.min_size, min_samples=1, metric="precomputed",
                   copy=True).fit(graph).labels_.astype(np.int64)


def _knn_graph(vectors: np.ndarray, params: ClusterParams):
    """Symmetric sparse matrix of cosine distances to each face's neighbours scoring >= floor."""
    import faiss
    from scipy import sparse

    count, dim = vectors.shape
    k = min(params.neighbours + 1, count)
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
    keep = (ids.ravel() >= 0) & (ids.ravel() != rows) & (scores.ravel() >= params.floor)
    # HDBSCAN reads a stored zero as "no edge": identical faces get a tiny positive distance
    distances = np.maximum(1.0 - scores.ravel()[keep], 1e-6)
    graph = sparse.csr_matrix((distances, (rows[keep], ids.ravel()[keep])), shape=(count, count))
    return graph.maximum(graph.T).tocsr()


def _bridged(graph):
    """The graph with its connected parts chained by edges longer than any real one (HDBSCAN needs
    one connected graph): parts join only at the root of the hierarchy, never inside a cluster."""
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    parts, part_of = connected_components(graph, directed=False)
    if parts == 1:
        return graph
    heads = np.unique(part_of, return_index=True)[1]
    far = np.full(parts - 1, BRIDGE)
    bridges = sparse.csr_matrix((far, (heads[:-1], heads[1:])), shape=graph.shape)
    return (graph + bridges + bridges.T).tocsr()


def cluster_faces(service, params: ClusterParams = ClusterParams()) -> Clustering:
    """Cluster the faces to review of the service's embedding set (a gallery.search.service.SearchService)."""
    started = time.monotonic()
    index = service.index()
    with service.database.session() as session:
        faces = faces_to_review(session, service.embedding_set.id, read_evidence(session))
    in_index = set(index.ids.tolist())
    faces = [f for f in faces if f.face_id in in_index]
    vectors = index.vectors_for([f.face_id for f in faces]) if faces else np.zeros((0, index.dim), np.float32)
    labels = cluster_vectors(vectors, params)
    groups = [np.flatnonzero(labels == label) for label in range(labels.max() + 1 if len(labels) else 0)]
    groups.sort(key=lambda rows: (-len(rows), faces[rows[0]].face_id))
    clusters = []
    for number, rows in enumerate(groups, start=1):
        members = vectors[rows]
        similarity = members @ members.T
        cohesion = float((similarity.sum() - np.trace(similarity)) / (len(rows) * (len(rows) - 1)))
        clusters.append(Cluster(number, [ClusterFace(faces[r].face_id, faces[r].artwork_id, faces[r].path,
                                                     faces[r].face_index, faces[r].title) for r in rows], cohesion))
    return Clustering(clusters, int((labels < 0).sum()), params, time.monotonic() - started)
