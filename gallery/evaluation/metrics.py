"""Verification and identification metrics in the terms of the ArtFace paper.

Verification on all genuine and impostor pairs: EER, TAR at FAR 0.1 % and 1 %, the ROC.
Identification, leave-one-out: each face is a probe against all others; sitters are ranked by
their best matching face (as search ranks them); rank-1, rank-5 and mAP over faces.
Open-set identification (1:N), as searches rather than pairs: FNIR at FPIR 1 % and 0.1 %.
Rates are fractions. Scores are similarities: higher means more alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAR_POINTS = (0.001, 0.01)
MAX_PAIRS = 50_000_000  # beyond this many impostor pairs, a seeded sample is used


@dataclass(frozen=True)
class Roc:
    far: np.ndarray  # increasing
    tar: np.ndarray
    thresholds: np.ndarray  # decreasing; accept when score >= threshold


def roc(genuine: np.ndarray, impostor: np.ndarray) -> Roc:
    """Every operating point: accept at score >= t, for t over all distinct scores."""
    scores = np.concatenate([genuine, impostor]).astype(np.float64)
    labels = np.concatenate([np.ones(len(genuine)), np.zeros(len(impostor))])
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # end of each run of equal scores
    tp, fp = np.cumsum(labels)[last], np.cumsum(1 - labels)[last]
    tar = np.r_[0.0, tp / max(len(genuine), 1)]
    far = np.r_[0.0, fp / max(len(impostor), 1)]
    return Roc(far, tar, np.r_[np.inf, scores[last]])


def eer(curve: Roc) -> float:
    """Where the false accept rate equals the false reject rate (linear between ROC points)."""
    frr = 1.0 - curve.tar
    diff = curve.far - frr  # increasing from -1 towards +1
    i = int(np.searchsorted(diff, 0.0))
    if i == 0:
        return float(curve.far[0])
    if i >= len(diff):
        return float(frr[-1])
    t = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(curve.far[i - 1] + t * (curve.far[i] - curve.far[i - 1]))


def tar_at_far(curve: Roc, target: float) -> float:
    """The best TAR at an operating point whose FAR does not exceed `target`."""
    allowed = curve.far <= target + 1e-12
    return float(curve.tar[allowed].max()) if allowed.any() else 0.0


def pair_scores(similarity: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Genuine and impostor scores of all pairs i < j (impostors sampled past MAX_PAIRS)."""
    upper = np.triu_indices(len(labels), k=1)
    same = labels[upper[0]] == labels[upper[1]]
    scores = similarity[upper]
    genuine, impostor = scores[same], scores[~same]
    if len(impostor) > MAX_PAIRS:
        impostor = np.random.default_rng(seed).choice(impostor, MAX_PAIRS, replace=False)
    return genuine, impostor


def identification(similarity: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Leave-one-out rank-1, rank-5 (sitters ranked by best face) and mAP over faces."""
    n = len(labels)
    ranks, precisions = [], []
    for i in range(n):
        others = np.r_[0:i, i + 1:n]
        scores, names = similarity[i, others], labels[others]
        genuine = names == labels[i]
        if not genuine.any():
            continue  # a sitter with a single face cannot be found again
        order = np.argsort(-scores, kind="stable")
        seen: list = []
        for name in names[order]:  # sitters in order of their best face
            if name not in seen:
                seen.append(name)
        ranks.append(seen.index(labels[i]) + 1)
        hits = genuine[order]
        precision_at_hit = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)
        precisions.append(float(precision_at_hit.mean()))
    if not ranks:
        return {"rank1": 0.0, "rank5": 0.0, "map": 0.0, "probes": 0}
    ranks = np.asarray(ranks)
    return {"rank1": float(np.mean(ranks <= 1)), "rank5": float(np.mean(ranks <= 5)),
            "map": float(np.mean(precisions)), "probes": len(ranks)}


def evaluate_vectors(vectors: np.ndarray, labels: np.ndarray) -> tuple[dict, Roc]:
    """All the figures for one set of L2-normalised vectors (N x D) with sitter labels."""
    vectors = np.asarray(vectors, np.float32)
    labels = np.asarray(labels)
    similarity = vectors @ vectors.T
    genuine, impostor = pair_scores(similarity, labels)
    if len(genuine) == 0 or len(impostor) == 0:
        raise ValueError("evaluation needs at least two sitters and one sitter with two faces")
    curve = roc(genuine, impostor)
    out = {"eer": eer(curve), **{f"tar@far={f:g}": tar_at_far(curve, f) for f in FAR_POINTS},
           **identification(similarity, labels), **open_set(similarity, labels), "genuine_pairs": int(len(genuine)),
           "impostor_pairs": int(len(impostor))}
    return out, curve


FPIR_POINTS = (0.01, 0.001)


def open_set_searches(similarity: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every face searched against all the others, as a collection search ranks sitters by
    their best face. Per face: the best score of another sitter's face (its non-mated search:
    the face's own sitter left out, as if the collection did not hold it), and its mated hit:
    the best score of its own sitter's other faces when that sitter comes first, -inf when
    another sitter outranks it, NaN when the sitter has no other face."""
    labels = np.unique(np.asarray(labels), return_inverse=True)[1]
    same = labels[:, None] == labels[None, :]
    scores = np.asarray(similarity, np.float32)
    impostor = np.where(same, -np.inf, scores).max(axis=1)
    mates = same & ~np.eye(len(labels), dtype=bool)
    genuine = np.where(mates, scores, -np.inf).max(axis=1)
    hit = np.where(genuine > impostor, genuine, -np.inf)
    return impostor, np.where(mates.any(axis=1), hit, np.nan)


def open_set(similarity: np.ndarray, labels: np.ndarray, targets=FPIR_POINTS) -> dict:
    """Open-set (1:N) identification as NIST's face-search evaluations count it: FNIR at the
    threshold where FPIR (the share of non-mated searches whose best candidate reaches it) is
    at most each target. A target finer than 1 / (non-mated searches) cannot be measured and
    is given as None."""
    impostor, hit = open_set_searches(similarity, labels)
    mated = hit[~np.isnan(hit)]
    out: dict = {"non_mated_searches": int(len(impostor)), "mated_searches": int(len(mated)),
                 "gallery_faces": int(len(labels)) - 1}
    descending = np.sort(impostor)[::-1]
    for target in targets:
        allowed = int(np.floor(target * len(descending) + 1e-9))
        if len(descending) * target < 1 or not len(mated):
            out[f"fnir@fpir={target:g}"] = out[f"threshold@fpir={target:g}"] = None
            continue
        threshold = float(descending[allowed]) if allowed < len(descending) else -np.inf  # accept above it
        out[f"fnir@fpir={target:g}"] = float(np.mean(~(mated > threshold)))
        out[f"threshold@fpir={target:g}"] = threshold
    return out
