"""Clustering the unidentified faces (gallery.curation.clusters): quality against held-back labels and time.

1. Quality: ../shared/data/lfw-mini (100 people x 4 photographs) indexed with the shared ONNX
   models with every label hidden (all images in one folder), then clustered as `gallery clusters`
   does. Scored on each photograph's main face (face 0; background faces are clustered too but
   have no label): purity (share of clustered faces that belong to their cluster's majority
   person), pairwise precision / recall / F1 (an unclustered face is a cluster of its own), for a
   few values of the score floor.
2. Time: `cluster_vectors` on 10k and 100k synthetic faces (512-d unit vectors, four faces per
   person around a random centre), with the pairwise F1 there too.

    python benchmarks/clusters.py [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gallery.curation.clusters import ClusterParams, cluster_vectors  # noqa: E402
from gallery.config.device import cpu_name  # noqa: E402

LFW = ROOT.parent / "shared" / "data" / "lfw-mini"
RESULTS = Path(__file__).parent / "results" / "clusters.json"
FLOORS = (0.1, 0.2, 0.3)


def pairwise(labels: np.ndarray, truth: np.ndarray) -> dict:
    """Purity and pairwise precision / recall / F1; label -1 = a cluster of its own."""
    own = labels.copy()
    loners = own < 0
    own[loners] = own.max(initial=0) + 1 + np.arange(loners.sum())
    _, truth_ids = np.unique(truth, return_inverse=True)
    pairs = lambda counts: float((counts * (counts - 1) / 2).sum())  # noqa: E731
    joint = np.unique(np.stack([own, truth_ids]), axis=1, return_counts=True)[1]
    together, predicted, actual = pairs(joint), pairs(np.bincount(own)), pairs(np.bincount(truth_ids))
    precision = together / predicted if predicted else 1.0
    recall = together / actual if actual else 1.0
    clustered = labels >= 0
    majority = sum(np.bincount(truth_ids[labels == c]).max() for c in np.unique(labels[clustered]))
    return {"purity": round(majority / clustered.sum(), 4) if clustered.any() else None,
            "precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
            "clusters": int(len(np.unique(labels[clustered]))), "unclustered": int((~clustered).sum())}


def lfw_quality() -> list[dict]:
    from db.engine import open_database
    from db.review import faces_to_review, read_evidence
    from gallery.search.service import search_service
    from gallery.config.settings import load_settings
    from indexer.runner import index_collection

    work = Path(tempfile.mkdtemp(prefix="clusters-bench-"))
    try:
        flat = work / "collection"
        flat.mkdir()
        for image in LFW.glob("*/*.jpg"):
            shutil.copy(image, flat / image.name)  # no folder per person: every label hidden
        settings = load_settings(ROOT / "profiles" / "shared-onnx.toml", {"HOME": str(work), "HF_HUB_OFFLINE": "1"},
                                 data_dir=str(work / "data"))
        settings = replace(settings, workers=1)
        index_collection(settings, flat)
        service = search_service(settings)
        index = service.index()
        with open_database(settings.database_url).session() as session:
            faces = faces_to_review(session, service.embedding_set.id, read_evidence(session))
        vectors = index.vectors_for([f.face_id for f in faces])
        main = np.array([f.face_index == 0 for f in faces])
        truth = np.array([Path(f.path).stem.rsplit("_", 1)[0] for f in faces])
        rows = []
        for floor in FLOORS:
            params = ClusterParams(floor=floor)
            started = time.perf_counter()
            labels = cluster_vectors(vectors, params)
            seconds = time.perf_counter() - started
            rows.append({"set": "lfw-mini", "faces": len(faces), "scored_faces": int(main.sum()), "floor": floor,
                         "seconds": round(seconds, 3), **pairwise(labels[main], truth[main])})
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def synthetic(count: int, dim: int = 512, per_person: int = 4, spread: float = 1.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    people = count // per_person
    centres = rng.standard_normal((people, dim)).astype(np.float32)
    truth = np.repeat(np.arange(people), per_person)
    vectors = centres[truth] + spread * rng.standard_normal((len(truth), dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), truth


def timing(sizes: list[int]) -> list[dict]:
    rows = []
    for size in sizes:
        vectors, truth = synthetic(size)
        started = time.perf_counter()
        labels = cluster_vectors(vectors, ClusterParams())
        rows.append({"set": f"synthetic {size}", "faces": size, "scored_faces": size, "floor": 0.2,
                     "seconds": round(time.perf_counter() - started, 2), **pairwise(labels, truth)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    rows = lfw_quality() + timing([int(s) for s in args.sizes.split(",") if s])
    print(f"CPU: {cpu_name()}")
    header = ("set", "faces", "floor", "clusters", "unclustered", "purity", "precision", "recall", "f1", "seconds")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu": cpu_name(), "rows": rows}, indent=2))
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
