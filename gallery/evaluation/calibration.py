"""Calibrated scores: what a score means for one pair and for a whole search, from the labelled collection.

**Pair rate.** For one embedding set, the fused scores of all impostor pairs (faces of different
confirmed sitters) give, for any score s, FMR(s): the fraction of impostor pairs scoring s or more.

**Search rate (open set, 1:N).** A search or a suggestion is the best of many comparisons: the
face against every identified face of the collection. What a curator needs is FPIR(s, N): the
chance that a search of a person the collection does not hold returns a candidate scoring s or
more, when N identified faces are searched. It is measured by searches, not pairs: every
confirmed face is searched against all the others with its own sitter left out (a non-mated
search, as if the collection did not hold that sitter), Q searches of about N_cal faces each.
At a score s that k of them reached, the stated rate is the one-sided 95 % upper (Clopper-Pearson)
bound U(s) of k / Q, so that a rate rests on the searches behind it and errs towards more false
matches where they are few; as a high-scoring pair of faces is in two searches (one for each
face), the bound counts k/2 events in Q/2 searches. For a collection of N identified faces it is carried over by treating
the comparisons as independent:

    FPIR(s, N) = 1 - (1 - U(s)) ** (max(N, N_cal) / N_cal)

Scores of one query against many faces are positively associated, so independence overstates
how fast FPIR grows with N (a conservative extrapolation); a smaller collection is never given a
lower rate than the calibration's own (FPIR only grows with N). Where no search reached the
score only a bound is known: U = 1 - 0.05 ** (2/Q), about 6/Q, the finest rate Q searches can show.

The mated searches (each face against the others, its own sitter's included) give FNIR(s): the
share whose own sitter is not the top candidate at s or more. Rates are stored on a grid of scores
(GRID) and read at the grid point at or below a score, which errs towards the higher rate.
With too few labelled sitters or pairs calibration is refused; a rate finer than the searches can
show is refused by name (`finest_search_rate`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import numpy as np

from gallery.core.errors import GalleryError
from gallery.evaluation.evaluate import Labelled
from gallery.evaluation.metrics import open_set_searches, pair_scores

MIN_SITTERS = 10
MIN_IMPOSTOR_PAIRS = 1000
POINTS = 400  # stored (score, rate) points, spaced evenly in log rate
GRID = (-1.0, 1.0, 2001)  # scores at which the search counts are stored (start, stop, count): steps of 0.001


class CalibrationError(GalleryError):
    """Too few labelled sitters or pairs to calibrate."""


@dataclass(frozen=True)
class Rates:
    """What one score means: for a pair, and for a search of so many identified faces."""

    false_match_rate: float  # pair rate: FMR
    false_match: str
    search_false_match_rate: float | None  # search rate: FPIR; None when withheld
    search_false_match: str | None


@dataclass(frozen=True)
class Calibration:
    scores: list[float]  # increasing
    rates: list[float]  # the false-match rate at each score (decreasing)
    impostor_pairs: int
    genuine_pairs: int
    sitters: int
    created_at: str
    faces: int | None = None  # confirmed faces calibrated on (None: calibrated before search rates)
    searches: dict | None = None  # the open-set part (`search_part`); None in calibrations made before it
    likelihood: dict | None = None  # gallery.evaluation.likelihood.LikelihoodCalibration, when there are enough faces
    likelihood_withheld: str | None = None  # why there is none

    def false_match_rate(self, score: float) -> tuple[float, bool]:
        """(rate, is_upper_bound): past the highest impostor score only a bound is known."""
        scores = np.asarray(self.scores)
        if score > scores[-1]:
            return 1.0 / self.impostor_pairs, True
        if score <= scores[0]:
            return float(self.rates[0]), False
        return float(np.exp(np.interp(score, scores, np.log(self.rates)))), False

    def score_at(self, rate: float) -> tuple[float, bool]:
        """(score, is_bound): the lowest score whose pair false-match rate is at most `rate`. A rate
        finer than the calibration can show gives its highest impostor score, flagged as a bound."""
        scores, rates = np.asarray(self.scores), np.asarray(self.rates)
        if rate < rates[-1]:
            return float(scores[-1]), True
        if rate >= rates[0]:
            return float(scores[0]), False
        return float(np.interp(np.log(rate), np.log(rates[::-1]), scores[::-1])), False

    def describe(self, score: float) -> str:
        rate, bound = self.false_match_rate(score)
        if bound:
            return f"fewer than 1 in {self.impostor_pairs:,} false matches at this score"
        return f"≈ 1 in {max(1, round(1 / rate)):,} false matches at this score"

    @property
    def search_rates(self) -> bool:
        return self.searches is not None

    def why_no_search_rates(self) -> str:
        return "" if self.searches is not None else "this calibration predates search rates; run `gallery calibrate` again"

    def search_false_match_rate(self, score: float, faces: int) -> tuple[float, bool] | None:
        """(FPIR, is_upper_bound) at `score` for a search of `faces` identified faces; None
        without search rates."""
        if self.searches is None:
            return None
        reached = int(_on_grid(self.searches["reached"], score))
        return _grown(_search_bound(reached, self.searches["non_mated"]), faces,
                      self.searches["gallery_faces"]), reached == 0

    def finest_search_rate(self, faces: int) -> float | None:
        """The lowest search rate these data can show against `faces` identified faces."""
        if self.searches is None:
            return None
        return _grown(_search_bound(0, self.searches["non_mated"]), faces, self.searches["gallery_faces"])

    def describe_search(self, score: float, faces: int) -> str | None:
        found = self.search_false_match_rate(score, faces)
        return None if found is None else _search_words(*found, faces)

    def rates_at(self, score: float, faces: int) -> Rates:
        found = self.search_false_match_rate(score, faces)
        return Rates(self.false_match_rate(score)[0], self.describe(score), found[0] if found else None,
                     _search_words(*found, faces) if found else None)

    def likelihood_ratio(self, evidence: float, likenesses: int, search_rate: float | None):
        """A candidate's LR (gallery.evaluation.likelihood.Ratio) from its evidence score over
        `likenesses` works, at most the search-aware bound 1 / `search_rate` (its search rate at
        its best score); None without one."""
        from gallery.evaluation.likelihood import LikelihoodCalibration

        fitted = LikelihoodCalibration.from_json(self.likelihood)
        if fitted is None:
            return None
        cap = None if search_rate is None else -math.log10(max(search_rate, 1e-12))
        return fitted.ratio(evidence, likenesses, cap)

    def why_no_likelihood(self) -> str:
        if self.likelihood is not None:
            return ""
        return self.likelihood_withheld or "this calibration predates likelihood ratios; run `gallery calibrate` again"

    def observed_fnir(self, score: float) -> float | None:
        """The share of mated calibration searches that would miss at this threshold."""
        if self.searches is None or not self.searches["mated"]:
            return None
        return _on_grid(self.searches["fnir"], score)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> "Calibration | None":
        return cls(**data) if data else None


def upper_bound(hits: int, n: int, confidence: float = 0.95) -> float:
    """The one-sided Clopper-Pearson upper bound of a proportion hits / n: the `confidence`
    quantile of Beta(hits + 1, n - hits), by scipy.special (scipy.stats takes a second to import
    on the first search)."""
    from scipy.special import betaincinv

    return 1.0 if hits >= n else float(betaincinv(hits + 1, n - hits, confidence))


def _search_bound(reached: int, searches: int) -> float:
    """The upper bound of a search rate: a high-scoring pair of faces is in two searches (one
    for each face), so the searches count as half as many independent events."""
    return upper_bound(math.ceil(reached / 2), max(1, searches // 2))


def _grown(rate: float, faces: int, calibration_faces: float) -> float:
    """A search rate measured against `calibration_faces` faces, carried over to `faces`."""
    if rate >= 1.0:
        return 1.0
    return float(-math.expm1(max(faces, calibration_faces) / calibration_faces * math.log1p(-rate)))


def _search_words(rate: float, bound: bool, faces: int) -> str:
    against = f"of {faces:,} identified face{'s' if faces != 1 else ''}"
    return (f"a person not in the collection scores this high in {'fewer than' if bound else 'at most'} "
            f"{_share(rate)} searches {against}")


def _share(rate: float) -> str:
    if rate >= 0.995:
        return "almost all"
    if rate >= 0.1:
        return f"{rate:.0%} of"
    return f"1 in {max(1, round(1 / rate)):,}"


@functools.cache
def _grid() -> np.ndarray:
    """GRID's scores, made once (every rate a search shows is read on it)."""
    start, stop, count = GRID
    grid = np.linspace(start, stop, count)
    grid.flags.writeable = False
    return grid


def _on_grid(values: list[float], score: float) -> float:
    grid = _grid()
    position = int(np.clip(np.searchsorted(grid, score, side="right") - 1, 0, len(grid) - 1))
    return float(values[position])


def search_part(similarity: np.ndarray, labels: np.ndarray) -> dict:
    """The open-set part of a calibration, from the labelled faces' similarities. (The pairs a
    calibration needs imply at least 46 faces, so there are always that many searches; how fine a
    rate they can show is `finest_search_rate`.)"""
    best_impostor, hit = open_set_searches(similarity, labels)
    searches = len(best_impostor)
    grid = _grid()
    reached = searches - np.searchsorted(np.sort(best_impostor), grid, side="left")  # searches at or above
    mated = hit[~np.isnan(hit)]
    fnir = (np.searchsorted(np.sort(mated), grid, side="left") / len(mated)) if len(mated) else np.ones(len(grid))
    own = np.unique(labels, return_inverse=True, return_counts=True)
    gallery = float(np.mean(len(labels) - own[2][own[1]]))  # faces a non-mated search meets
    return {"non_mated": searches, "mated": int(len(mated)), "gallery_faces": round(gallery, 2),
            "reached": [int(r) for r in reached], "fnir": [round(float(f), 6) for f in fnir]}


def calibrate(labelled: Labelled) -> Calibration:
    sitters = len(set(labelled.labels.tolist()))
    if sitters < MIN_SITTERS:
        raise CalibrationError(f"only {sitters} labelled sitter(s); calibration needs at least {MIN_SITTERS} "
                               "with confirmed faces, so scores stay uncalibrated")
    similarity = labelled.fused @ labelled.fused.T
    genuine, impostor = pair_scores(similarity, labelled.labels)
    if len(impostor) < MIN_IMPOSTOR_PAIRS:
        raise CalibrationError(f"only {len(impostor)} impostor pairs; calibration needs {MIN_IMPOSTOR_PAIRS}")
    ascending = np.sort(impostor)
    n = len(ascending)
    counts = np.unique(np.maximum(1, np.round(np.geomspace(1.0 / n, 1.0, POINTS) * n).astype(int)))
    scores = np.unique(ascending[::-1][counts - 1])  # the scores that many impostor pairs reach, ascending
    rates = (n - np.searchsorted(ascending, scores, side="left")) / n  # fraction of impostors >= score
    likelihood, withheld = _likelihood(similarity, labelled.labels, sitters)
    return Calibration([float(s) for s in scores], [float(r) for r in rates], n, int(len(genuine)), sitters,
                       datetime.now(timezone.utc).isoformat(timespec="seconds"), len(labelled.labels),
                       search_part(similarity, labelled.labels), likelihood, withheld)


def _likelihood(similarity: np.ndarray, labels: np.ndarray, sitters: int) -> tuple[dict | None, str | None]:
    from gallery.evaluation.likelihood import LikelihoodError, fit, sitter_comparisons

    same, different = sitter_comparisons(similarity, labels)
    try:
        return fit(same, different, len(labels), sitters).to_json(), None
    except LikelihoodError as err:
        return None, str(err)
