"""Calibrated scores: score -> estimated false-match rate, from the labelled collection.

For one embedding set, the fused scores of all impostor pairs (faces of different confirmed
sitters) give, for any score s, the fraction of impostor pairs scoring s or more: the rate at
which a search would show a wrong sitter at that score. It is stored with the embedding set
(`gallery calibrate`) and shown as "about 1 in N false matches at this score". With too few
labelled sitters the estimate would mislead, so calibration is refused and search says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import numpy as np

from gallery.core.errors import GalleryError
from gallery.evaluation.evaluate import Labelled
from gallery.evaluation.metrics import pair_scores

MIN_SITTERS = 10
MIN_IMPOSTOR_PAIRS = 1000
POINTS = 400  # stored (score, rate) points, spaced evenly in log rate


class CalibrationError(GalleryError):
    """Too few labelled sitters or pairs to calibrate."""


@dataclass(frozen=True)
class Calibration:
    scores: list[float]  # increasing
    rates: list[float]  # the false-match rate at each score (decreasing)
    impostor_pairs: int
    genuine_pairs: int
    sitters: int
    created_at: str

    def false_match_rate(self, score: float) -> tuple[float, bool]:
        """(rate, is_upper_bound): past the highest impostor score only a bound is known."""
        scores = np.asarray(self.scores)
        if score > scores[-1]:
            return 1.0 / self.impostor_pairs, True
        if score <= scores[0]:
            return float(self.rates[0]), False
        return float(np.exp(np.interp(score, scores, np.log(self.rates)))), False

    def describe(self, score: float) -> str:
        rate, bound = self.false_match_rate(score)
        if bound:
            return f"fewer than 1 in {self.impostor_pairs:,} false matches at this score"
        return f"≈ 1 in {max(1, round(1 / rate)):,} false matches at this score"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> "Calibration | None":
        return cls(**data) if data else None


def calibrate(labelled: Labelled) -> Calibration:
    sitters = len(set(labelled.labels.tolist()))
    if sitters < MIN_SITTERS:
        raise CalibrationError(f"only {sitters} labelled sitter(s); calibration needs at least {MIN_SITTERS} "
                               "with confirmed faces, so scores stay uncalibrated")
    genuine, impostor = pair_scores(labelled.fused @ labelled.fused.T, labelled.labels)
    if len(impostor) < MIN_IMPOSTOR_PAIRS:
        raise CalibrationError(f"only {len(impostor)} impostor pairs; calibration needs {MIN_IMPOSTOR_PAIRS}")
    ascending = np.sort(impostor)
    n = len(ascending)
    counts = np.unique(np.maximum(1, np.round(np.geomspace(1.0 / n, 1.0, POINTS) * n).astype(int)))
    scores = np.unique(ascending[::-1][counts - 1])  # the scores that many impostor pairs reach, ascending
    rates = (n - np.searchsorted(ascending, scores, side="left")) / n  # fraction of impostors >= score
    return Calibration([float(s) for s in scores], [float(r) for r in rates], n, int(len(genuine)), sitters,
                       datetime.now(timezone.utc).isoformat(timespec="seconds"))
