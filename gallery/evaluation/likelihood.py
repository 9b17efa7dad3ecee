"""Likelihood ratios: evidence a curator can cite, in the forensic way.

Two propositions about a query face and a candidate sitter X:

- Hp: the sitter of the query face is X;
- Hd: the sitter is someone else from the relevant population (the sitters of the collection's
  confirmed faces, in the collection's own paintings).

The likelihood ratio LR = P(evidence | Hp) / P(evidence | Hd) says how much more probable the
evidence is if the sitter is X than if it is someone else. It is never the probability that the
sitter is X: that would also need the prior odds, which are the curator's, not the model's.

**The evidence** is the query's comparison with every known likeness of a candidate sitter: the
mean of the query's scores against all the candidate's identified works (one score per work, the
replicas a search finds counted once; past LIKENESSES works, the best LIKENESSES). With one work it
is that work's score, so one calibration serves both. Chosen on lfw-mini against the best single
face, the mean of the best two or three, and log-mean-exp pooling: the mean of all had the lowest
Cllr-min. `gallery evaluate` shows what weighing several likenesses gains over the best single
face (Cllr, below).

**Calibration**: every confirmed face is compared with every sitter of the collection the way a
search compares a query with a candidate (its own sitter with the face itself left out: a
same-sitter comparison; every other sitter: a different-sitter comparison). The pool-adjacent-
violators algorithm (PAV) fits a monotone map from the evidence score to the LR; log10 LR is read
between the PAV blocks' centres by linear interpolation.

**Bounds**: an LR stronger than the data could show is not given. The comparisons are not
independent (each face takes part in many), so the data are counted by faces: the LR is bounded
to [1/M, Q], Q being the number of faces compared with other sitters and M the number of
same-sitter comparisons. With 400 confirmed faces no LR above 400 is stated. The uncertainty
range is the 90 % Poisson range of the same-sitter and different-sitter counts in the PAV block
the score falls in, within the same bounds.

**Search-aware bound**: a candidate is the best of a search. So that the LR never contradicts the
search rate of the same calibration (gallery.evaluation.calibration), a candidate's LR is at most
1 / FPIR at its best score: a stranger's search of a collection this size reaches that score
with chance FPIR, and a held sitter's with chance at most 1.

**Verbal scale**: the ENFSI guideline for evaluative reporting in forensic science (2015), lower
bound of each band included: [2, 10) weak, [10, 100) moderate, [100, 1,000) moderately strong,
[1,000, 10,000) strong, [10,000, 1,000,000) very strong, 1,000,000 and above extremely strong
support; an LR below 1 supports the alternative in the same bands of 1/LR; an LR above 1/2 and
below 2 (the guideline's "1") supports neither.

**Measures** (Brümmer's): Cllr = (mean over same-sitter comparisons of log2(1 + 1/LR) + mean over
different-sitter comparisons of log2(1 + LR)) / 2; 0 is perfect, 1 is what an LR of 1 always
scores. Cllr-min is the Cllr of the PAV fit on the measured comparisons themselves: the loss that
better calibration could not remove.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from gallery.core.errors import GalleryError

LIKENESSES = 20  # works weighed for a candidate: the mean score of all its works, its 20 best past that
MIN_SITTERS = 10
MIN_SAME = 30  # same-sitter comparisons needed to calibrate
MAX_DIFFERENT = 200_000  # different-sitter comparisons past this are a seeded sample
PROPOSITIONS = ("the sitter of the query face is {sitter}",
                "the sitter is someone else from the collection's population of sitters")
EXPLANATION = (
    "A likelihood ratio (LR) compares two explanations of the resemblance between the query face and the "
    "candidate's likenesses: that the sitter is the candidate, or that it is someone else. An LR of 100 means the "
    "resemblance is about 100 times more probable if the sitter is the candidate than if it is someone else. It "
    "is not the probability that the sitter is the candidate: that also depends on what else is known about the "
    "work (its date, provenance, inscriptions), which is the curator's to weigh. The LR is learned from this "
    "collection's own confirmed faces and is never stated beyond what their number can support.")
BANDS = ((1_000_000, "extremely strong support"), (10_000, "very strong support"), (1_000, "strong support"),
         (100, "moderately strong support"), (10, "moderate support"), (2, "weak support"))


class LikelihoodError(GalleryError):
    """Too few confirmed faces to calibrate likelihood ratios."""


def verbal(lr: float) -> str:
    """The ENFSI (2015) verbal equivalent of an LR, for the candidate or for the alternative."""
    strength = lr if lr >= 1 else 1 / lr
    phrase = next((words for floor, words in BANDS if strength >= floor * (1 - 1e-12)), None)
    if phrase is None:
        return "no support for either proposition"
    return f"{phrase} for the candidate" if lr > 1 else f"{phrase} for someone else"


def evidence_score(scores) -> tuple[float, int]:
    """(the evidence score, likenesses weighed) from a query's scores against a candidate's works."""
    best = np.sort(np.asarray(scores, np.float64))[::-1][:LIKENESSES]
    return float(best.mean()), int(len(best))


def pav_blocks(scores: np.ndarray, same: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Pool-adjacent-violators on scores labelled same (1) or different (0): blocks of
    (lowest score, highest score, same count, different count) whose rate same / all rises."""
    order = np.argsort(scores, kind="stable")
    blocks: list[list[float]] = []
    for score, label in zip(np.asarray(scores, np.float64)[order], np.asarray(same, bool)[order]):
        blocks.append([score, score, float(label), float(not label)])
        while len(blocks) > 1 and _rate(blocks[-2]) >= _rate(blocks[-1]):
            top = blocks.pop()
            blocks[-1] = [blocks[-1][0], top[1], blocks[-1][2] + top[2], blocks[-1][3] + top[3]]
    return [tuple(b) for b in blocks]


def _rate(block) -> float:
    return block[2] / (block[2] + block[3])


def pav_log10_lr(scores: np.ndarray, same: np.ndarray) -> np.ndarray:
    """The PAV LR (log10) of every comparison, fitted on these comparisons themselves (for Cllr-min)."""
    n_same, n_diff = int(np.sum(same)), int(np.sum(~np.asarray(same, bool)))
    out = np.empty(len(scores))
    order = np.argsort(scores, kind="stable")
    position = 0
    for _low, _high, s, d in pav_blocks(scores, same):
        count = int(s + d)
        out[order[position:position + count]] = math.log10(s / n_same) - math.log10(d / n_diff) if d and s else (
            np.inf if s else -np.inf)
        position += count
    return out


def cllr(log10_same: np.ndarray, log10_diff: np.ndarray) -> float:
    """Brümmer's log-likelihood-ratio cost of LRs (log10) of same- and different-sitter comparisons."""
    same = np.mean(np.logaddexp2(0, -np.asarray(log10_same) * math.log2(10)))  # log2(1 + 1/LR)
    diff = np.mean(np.logaddexp2(0, np.asarray(log10_diff) * math.log2(10)))  # log2(1 + LR)
    return float((same + diff) / 2)


def cllr_min(scores_same: np.ndarray, scores_diff: np.ndarray) -> float:
    scores = np.concatenate([scores_same, scores_diff])
    labels = np.r_[np.ones(len(scores_same), bool), np.zeros(len(scores_diff), bool)]
    fitted = pav_log10_lr(scores, labels)
    return cllr(fitted[labels], fitted[~labels])


@dataclass(frozen=True)
class Ratio:
    """One candidate's LR with its range and its words."""

    likelihood_ratio: float
    log10_lr: float
    log10_low: float
    log10_high: float
    verbal: str
    likenesses: int
    bounded: bool  # at the bound the data can support (or the search-aware bound)

    def to_json(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> "Ratio | None":
        """Read back from a candidate's JSON (None when it has no LR)."""
        if data.get("likelihood_ratio") is None:
            return None
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    @property
    def lr_text(self) -> str:
        return _lr_text(self.likelihood_ratio)

    def describe(self) -> str:
        return (f"LR ≈ {self.lr_text} (range {_lr_text(10 ** self.log10_low)} to "
                f"{_lr_text(10 ** self.log10_high)}): {self.verbal}, from {self.likenesses} likeness"
                f"{'es' if self.likenesses != 1 else ''}")


def _lr_text(lr: float) -> str:
    if lr >= 10:
        return f"{lr:,.0f}"
    if lr >= 1:
        return f"{lr:.1f}"
    return f"1/{1 / lr:,.0f}" if lr <= 0.1 else f"1/{1 / lr:.1f}"


@dataclass(frozen=True)
class LikelihoodCalibration:
    centres: list[float]  # PAV block centres (score), increasing
    log10: list[float]  # log10 LR at each centre
    low: list[float]  # log10 of the range's low end, per block
    high: list[float]
    edges: list[float]  # each block's highest score, to find the block of a score
    bound_low: float  # log10
    bound_high: float
    same: int  # same-sitter comparisons
    different: int
    faces: int
    sitters: int

    def ratio(self, score: float, likenesses: int, cap_log10: float | None = None) -> Ratio:
        value = float(np.interp(score, self.centres, self.log10))
        block = min(int(np.searchsorted(self.edges, score, side="left")), len(self.edges) - 1)
        low, high = min(self.low[block], value), max(self.high[block], value)
        ceiling = self.bound_high if cap_log10 is None else min(self.bound_high, cap_log10)
        bounded = value >= ceiling or value <= self.bound_low
        value = float(np.clip(value, self.bound_low, ceiling))
        low, high = float(np.clip(low, self.bound_low, ceiling)), float(np.clip(high, self.bound_low, ceiling))
        lr = 10 ** value
        return Ratio(lr, value, low, high, verbal(lr), likenesses, bounded)  # clipping keeps low <= value <= high

    def log10_at(self, scores) -> np.ndarray:
        """log10 LR of evidence scores, within the bounds (no search-aware bound: for measuring)."""
        return np.clip(np.interp(np.asarray(scores, np.float64), self.centres, self.log10), self.bound_low,
                       self.bound_high)

    def population(self) -> str:
        return (f"{self.sitters:,} sitters with {self.faces:,} confirmed faces ({self.same:,} same-sitter and "
                f"{self.different:,} different-sitter comparisons)")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> "LikelihoodCalibration | None":
        return cls(**data) if data else None


def sitter_comparisons(similarity: np.ndarray, labels: np.ndarray, single: bool = False
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Every face compared with every sitter as a search compares a query with a candidate: the
    evidence score against the sitter's faces (the face itself left out). `single`: the best
    single face instead of several likenesses. Returns (same-sitter scores, different-sitter scores)."""
    codes = np.unique(np.asarray(labels), return_inverse=True)[1]
    scores = np.array(similarity, np.float64, copy=True)
    np.fill_diagonal(scores, -np.inf)
    same, different = [], []
    for sitter in range(codes.max() + 1):
        members = np.flatnonzero(codes == sitter)
        block = np.sort(scores[:, members], axis=1)[:, ::-1][:, :1 if single else LIKENESSES]
        valid = np.isfinite(block)
        counts = valid.sum(axis=1)
        means = np.where(valid, block, 0).sum(axis=1) / np.maximum(counts, 1)
        mine = codes == sitter
        same.extend(means[mine & (counts > 0)].tolist())
        different.extend(means[~mine].tolist())
    different = np.asarray(different)
    if len(different) > MAX_DIFFERENT:
        different = np.random.default_rng(0).choice(different, MAX_DIFFERENT, replace=False)
    return np.asarray(same), different


def forensic(similarity: np.ndarray, labels: np.ndarray, held: np.ndarray) -> dict:
    """Cllr and Cllr-min for the best single face and for several likenesses: calibrated on the
    sitters outside `held` (a mask of faces), measured on the held ones. Each measure carries the
    LRs it was computed from (`log10_same`, `log10_different`) for a Tippett plot."""
    labels = np.asarray(labels)
    out: dict = {"calibrated_on": int(len(set(labels[~held].tolist()))), "measured_on": int(len(set(labels[held].tolist())))}
    for kind, single in (("single", True), ("several", False)):
        fit_same, fit_diff = sitter_comparisons(similarity[np.ix_(~held, ~held)], labels[~held], single)
        same, diff = sitter_comparisons(similarity[np.ix_(held, held)], labels[held], single)
        try:
            fitted = fit(fit_same, fit_diff, int((~held).sum()), out["calibrated_on"])
        except LikelihoodError as err:
            out[kind] = {"reason": str(err)}
            continue
        if not len(same) or not len(diff):
            out[kind] = {"reason": "the measuring half has no same-sitter or no different-sitter comparison"}
            continue
        log_same, log_diff = fitted.log10_at(same), fitted.log10_at(diff)
        out[kind] = {"cllr": cllr(log_same, log_diff), "cllr_min": cllr_min(same, diff), "same": int(len(same)),
                     "different": int(len(diff)), "log10_same": log_same, "log10_different": log_diff}
    return out


def fit(same: np.ndarray, different: np.ndarray, faces: int, sitters: int) -> LikelihoodCalibration:
    """A bounded PAV calibration from same- and different-sitter evidence scores."""
    if sitters < MIN_SITTERS or len(same) < MIN_SAME:
        raise LikelihoodError(f"likelihood ratios need at least {MIN_SITTERS} sitters and {MIN_SAME} same-sitter "
                              f"comparisons (faces whose sitter has another confirmed face); the collection has "
                              f"{sitters} sitter(s) and {len(same)} such comparison(s)")
    scores = np.concatenate([same, different])
    labels = np.r_[np.ones(len(same), bool), np.zeros(len(different), bool)]
    bound_high, bound_low = math.log10(faces), -math.log10(len(same))
    centres, values, lows, highs, edges = [], [], [], [], []
    for low_score, high_score, s, d in pav_blocks(scores, labels):
        centres.append((low_score + high_score) / 2)
        edges.append(high_score)
        values.append(_log10_lr(s, d, len(same), len(different), bound_low, bound_high))
        s_lo, s_hi = _poisson_range(s)
        d_lo, d_hi = _poisson_range(d)
        lows.append(_log10_lr(s_lo, d_hi, len(same), len(different), bound_low, bound_high))
        highs.append(_log10_lr(s_hi, d_lo, len(same), len(different), bound_low, bound_high))
    return LikelihoodCalibration(centres, values, lows, highs, edges, bound_low, bound_high, int(len(same)),
                                 int(len(different)), int(faces), int(sitters))


def _log10_lr(s: float, d: float, n_same: int, n_diff: int, low: float, high: float) -> float:
    if s <= 0:
        return low
    if d <= 0:
        return high
    return float(np.clip(math.log10(s / n_same) - math.log10(d / n_diff), low, high))


def _poisson_range(count: float, confidence: float = 0.90) -> tuple[float, float]:
    from scipy.stats import chi2

    tail = (1 - confidence) / 2
    low = 0.0 if count == 0 else chi2.ppf(tail, 2 * count) / 2
    return float(low), float(chi2.ppf(1 - tail, 2 * count + 2) / 2)
