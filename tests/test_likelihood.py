"""Likelihood ratios: the PAV calibration against known distributions, its bounds, the ENFSI verbal
scale at every boundary, Cllr on a hand-worked case, and refusal with too few faces."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from gallery.evaluation.likelihood import (LikelihoodError, cllr, cllr_min, evidence_score, fit, pav_blocks,
                                           sitter_comparisons, verbal)


def test_pav_recovers_the_likelihood_ratio_of_known_distributions():
    rng = np.random.default_rng(0)
    same, different = rng.normal(1.0, 0.5, 20_000), rng.normal(0.0, 0.5, 20_000)
    fitted = fit(same, different, faces=10**9, sitters=1000)
    for score in (0.0, 0.25, 0.5, 0.75, 1.0):
        truth = ((score - 0.0) ** 2 - (score - 1.0) ** 2) / (2 * 0.25 * math.log(10))  # log10 of the density ratio
        ratio = fitted.ratio(score, 1)
        assert ratio.log10_lr == pytest.approx(truth, abs=0.12), score
        assert ratio.log10_low <= ratio.log10_lr <= ratio.log10_high
    assert np.all(np.diff(fitted.log10) >= 0)  # monotone in the score
    rates = [s / (s + d) for _low, _high, s, d in pav_blocks(np.r_[same, different],
                                                             np.r_[np.ones(20_000, bool), np.zeros(20_000, bool)])]
    assert np.all(np.diff(rates) > 0)


def test_likelihood_ratios_stay_within_what_the_data_can_show():
    rng = np.random.default_rng(1)
    same, different = rng.normal(1.0, 0.1, 200), rng.normal(0.0, 0.1, 5000)  # perfectly separated
    fitted = fit(same, different, faces=400, sitters=100)
    top, bottom = fitted.ratio(5.0, 3), fitted.ratio(-5.0, 3)
    assert top.likelihood_ratio == pytest.approx(400) and top.bounded  # no LR above the faces behind it
    assert bottom.likelihood_ratio == pytest.approx(1 / 200) and bottom.bounded  # nor below 1 / same comparisons
    capped = fitted.ratio(5.0, 3, cap_log10=1.5)  # the search-aware bound
    assert capped.log10_lr == pytest.approx(1.5) and capped.log10_high <= 1.5 + 1e-9
    assert fitted.ratio(-5.0, 3, cap_log10=1.5).likelihood_ratio == pytest.approx(1 / 200)  # it never adds support


@pytest.mark.parametrize(("lr", "words"), [
    (1.0, "no support for either proposition"), (1.999, "no support for either proposition"),
    (2.0, "weak support for the candidate"), (9.999, "weak support for the candidate"),
    (10.0, "moderate support for the candidate"), (99.99, "moderate support for the candidate"),
    (100.0, "moderately strong support for the candidate"), (1_000.0, "strong support for the candidate"),
    (9_999.0, "strong support for the candidate"), (10_000.0, "very strong support for the candidate"),
    (999_999.0, "very strong support for the candidate"), (1_000_000.0, "extremely strong support for the candidate"),
    (1 / 1.5, "no support for either proposition"), (0.5, "weak support for someone else"),
    (0.1, "moderate support for someone else"), (1e-7, "extremely strong support for someone else"),
])
def test_the_verbal_scale_follows_the_band_at_every_boundary(lr, words):
    assert verbal(lr) == words
    assert verbal(10 ** math.log10(lr)) == words  # as an LR read back from its log10


def test_cllr_on_a_hand_worked_case():
    # LRs 1 and 10 for same-sitter comparisons, 1 and 1/10 for different ones:
    # Cllr = ((log2 2 + log2 1.1) / 2 + (log2 2 + log2 1.1) / 2) / 2 = (1 + 0.137504) / 2
    assert cllr(np.log10([1.0, 10.0]), np.log10([1.0, 0.1])) == pytest.approx(0.568752, abs=1e-6)
    assert cllr(np.zeros(5), np.zeros(7)) == pytest.approx(1.0)  # an LR of 1 always: no information
    assert cllr(np.array([9.0]), np.array([-9.0])) < 1e-8
    rng = np.random.default_rng(2)
    same, different = rng.normal(1, 0.5, 500), rng.normal(0, 0.5, 500)
    fitted = fit(same, different, faces=10**6, sitters=100)
    assert cllr_min(same, different) <= cllr(fitted.log10_at(same), fitted.log10_at(different)) + 1e-9


def test_too_few_faces_give_no_likelihood_ratio_and_a_reason():
    with pytest.raises(LikelihoodError, match=r"at least 10 sitters and 30 same-sitter comparisons.*has 4 sitter"):
        fit(np.ones(40), np.zeros(100), faces=50, sitters=4)
    with pytest.raises(LikelihoodError, match="has 12 sitter"):
        fit(np.ones(12), np.zeros(100), faces=24, sitters=12)


def test_sitter_comparisons_weigh_every_likeness_and_leave_the_face_itself_out():
    labels = np.array(["a", "a", "a", "b"])
    similarity = np.array([[1.0, 0.8, 0.4, 0.1],
                           [0.8, 1.0, 0.6, 0.2],
                           [0.4, 0.6, 1.0, 0.3],
                           [0.1, 0.2, 0.3, 1.0]])
    same, different = sitter_comparisons(similarity, labels)
    assert sorted(same) == pytest.approx(sorted([0.6, 0.7, 0.5]))  # face 0: (0.8 + 0.4) / 2, ...
    assert sorted(different) == pytest.approx(sorted([0.1, 0.2, 0.3, (0.1 + 0.2 + 0.3) / 3]))
    best, _ = sitter_comparisons(similarity, labels, single=True)
    assert sorted(best) == pytest.approx([0.6, 0.8, 0.8])
    assert evidence_score([0.2, 0.9, 0.5]) == (pytest.approx(0.5333333), 3)


def test_the_same_hand_caution():
    from gallery.search.service import same_hand

    works = [SimpleNamespace(artist=a) for a in ("Anthony van Dyck", "Peter Lely", "anthony  van dyck")]
    candidate = SimpleNamespace(artworks=works)
    assert "Anthony van Dyck" in same_hand(candidate, "Anthony van Dyck")  # the best likeness is by the same hand
    assert same_hand(candidate, "Peter Lely") is None  # one of three, not the best
    assert same_hand(candidate, None) is None
    later = SimpleNamespace(artworks=[works[1], works[0], works[2]])
    assert same_hand(later, "ANTHONY VAN DYCK") is not None  # two of the three best
