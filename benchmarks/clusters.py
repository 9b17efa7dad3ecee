"""Clustering the unidentified faces (gallery.curation.clusters): quality on collections shaped like
real ones, and time.

1. Quality, each stage a whole `gallery` process as a user runs it. ../shared/data/lfw-mini is split
   in two halves of 50 people (sitter-disjoint, by a seeded hash of the name). Half A is labelled (a
   folder per sitter): `gallery calibrate` measures the false-match rates on it. Half B is put at
   the root, unlabelled, shaped three ways: all 50 people with four photographs; 15 with four and
   35 seen once; 5 with four and 45 seen once. Background faces come along as they are.
   `gallery clusters --json` (the defaults: 1 in 10,000 false matches, quality floor) is scored on
   half B's portraits (face 0 of each photograph):
   - purity: the share of clustered faces that belong to their cluster's majority person;
   - pairwise precision, recall and F1 (an unclustered face is a cluster of its own);
   - people found: of the people with four photographs, how many come out as a cluster of at least
     two of their faces in which they are the majority;
   - one-off pairs: clusters made only of people seen once;
   - the faces kept out as too poor to cluster.
2. Time: `cluster_vectors` on 10k and 100k synthetic faces (512-d unit vectors; half the people
   with four faces around a random centre, half seen once), with the same scores.

    python benchmarks/clusters.py [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gallery.config.device import cpu_name  # noqa: E402
from gallery.curation.clusters import ClusterParams, cluster_vectors  # noqa: E402
from gallery.evaluation.evaluate import sitter_disjoint  # noqa: E402

LFW = ROOT.parent / "shared" / "data" / "lfw-mini"
PROFILE = ROOT / "profiles" / "shared-onnx.toml"
RESULTS = Path(__file__).parent / "results" / "clusters.json"
SHAPES = ((50, 0), (15, 35), (5, 45))  # (people with four photographs, people seen once) of half B


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


def found_people(labels: np.ndarray, truth: np.ndarray, recurring: set) -> tuple[int, int]:
    """(recurring people found as a cluster they are the majority of, clusters of one-off people only)."""
    found, one_off = set(), 0
    for cluster in np.unique(labels[labels >= 0]):
        people, counts = np.unique(truth[labels == cluster], return_counts=True)
        top = people[counts.argmax()]
        if top in recurring and counts.max() >= 2 and counts.max() > counts.sum() / 2:
            found.add(top)
        one_off += not (set(people) & recurring)
    return len(found), one_off


def _gallery(*args, env) -> tuple[str, float]:
    command = [sys.executable, "-m", "gallery", *map(str, args)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return done.stdout, time.perf_counter() - started


def lfw_quality(seed: int = 0) -> list[dict]:
    people = sorted(p for p in LFW.iterdir() if p.is_dir())
    held = sitter_disjoint(np.array([p.name for p in people]), 0.5, seed)
    half_a = [p for p, h in zip(people, held) if not h]
    half_b = [p for p, h in zip(people, held) if h]
    rows = []
    for recurring_count, once_count in SHAPES:
        work = Path(tempfile.mkdtemp(prefix="clusters-bench-"))
        try:
            collection = work / "collection"
            for person in half_a:
                shutil.copytree(person, collection / person.name)  # labelled: calibrates
            recurring = {p.name for p in half_b[:recurring_count]}
            for person in half_b[:recurring_count + once_count]:
                for image in sorted(person.glob("*.jpg"))[: 4 if person.name in recurring else 1]:
                    shutil.copy(image, collection / image.name)  # at the root: unlabelled
            env = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
            env.update(HOME=str(work), GALLERY_DATA_DIR=str(work / "data"), HF_HUB_OFFLINE="1")
            _gallery("index", collection, "--config", PROFILE, env=env)
            _gallery("calibrate", "--config", PROFILE, env=env)
            text, seconds = _gallery("clusters", "--config", PROFILE, "--json", env=env)
            found = json.loads(text)
            faces, labels = [], []
            for cluster in found["clusters"]:
                for face in cluster["faces"]:
                    faces.append(face), labels.append(cluster["id"])
            # the portraits of half B that stayed alone are clusters of their own
            clustered = {Path(f["path"]).name for f in faces if f["face_index"] == 0}
            alone = [p.name for p in collection.glob("*.jpg") if p.name not in clustered]
            main = [(Path(f["path"]).stem.rsplit("_", 1)[0], label) for f, label in zip(faces, labels)
                    if f["face_index"] == 0]
            truth = np.array([m[0] for m in main] + [Path(a).stem.rsplit("_", 1)[0] for a in alone])
            labels = np.array([m[1] for m in main] + [-1] * len(alone))
            people_found, one_off = found_people(labels, truth, recurring)
            rows.append({"set": f"lfw-mini B: {recurring_count} x 4 + {once_count} x 1", "faces": len(truth),
                         "threshold": found["threshold"]["score"], "seconds": round(seconds, 2),
                         "too_poor": len(found["too_poor_to_cluster"]),
                         "people_found": f"{people_found}/{recurring_count}", "one_off_pairs": one_off,
                         **pairwise(labels, truth)})
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return rows


def synthetic(count: int, dim: int = 512, per_person: int = 4, spread: float = 1.1,
              once: float = 0.5) -> tuple[np.ndarray, np.ndarray, set]:
    """`count` unit vectors: a share `once` of them of people seen once, the rest of people with
    `per_person` faces around a centre. Returns (vectors, person of each, the recurring people)."""
    rng = np.random.default_rng(0)
    singles = int(count * once)
    recurring = (count - singles) // per_person
    truth = np.concatenate([np.repeat(np.arange(recurring), per_person), recurring + np.arange(singles)])
    centres = rng.standard_normal((recurring + singles, dim)).astype(np.float32)
    vectors = centres[truth] + spread * rng.standard_normal((len(truth), dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), truth, set(range(recurring))


def timing(sizes: list[int]) -> list[dict]:
    rows = []
    for size in sizes:
        vectors, truth, recurring = synthetic(size)
        params = ClusterParams()
        started = time.perf_counter()
        labels = cluster_vectors(vectors, params, 0.2)
        people_found, one_off = found_people(labels, truth, recurring)
        rows.append({"set": f"synthetic {size:,} (half seen once)", "faces": size, "threshold": 0.2,
                     "seconds": round(time.perf_counter() - started, 2), "too_poor": 0,
                     "people_found": f"{people_found}/{len(recurring)}", "one_off_pairs": one_off,
                     **pairwise(labels, truth)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    rows = lfw_quality() + timing([int(s) for s in args.sizes.split(",") if s])
    print(f"CPU: {cpu_name()}")
    header = ("set", "faces", "too_poor", "threshold", "clusters", "unclustered", "purity", "precision", "recall",
              "f1", "people_found", "one_off_pairs", "seconds")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu": cpu_name(), "rows": rows}, indent=2))
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
