"""Search rates hold for whole searches: a collection from lfw-mini where half the faces to review
are of people the collection meets once, accepted in bulk at a stated rate. Real models."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
KNOWN, ONE_OFF = 50, 50  # lfw-mini identities: labelled twice (two more unlabelled); seen once, never labelled
RATE = 0.1


def _wrong(suggestion) -> bool:
    """A suggestion names the wrong sitter: another identity, or any sitter for a background face."""
    return suggestion.face_index != 0 or suggestion.sitter.replace(" ", "_") != Path(suggestion.path).stem.rsplit("_", 1)[0]


@pytest.fixture(scope="module")
def calibrated(lfw_dir, onnx_profile, onnx_pipeline, tmp_path_factory):
    from db.collection import save_calibration
    from db.engine import open_database
    from gallery.config.settings import load_settings
    from gallery.evaluation.calibration import calibrate
    from gallery.evaluation.evaluate import labelled_from_database
    from gallery.search.service import SearchService
    from indexer.runner import index_collection
    from tests.collections import build_curated

    root = tmp_path_factory.mktemp("open-set")
    build_curated(lfw_dir, root / "collection", KNOWN, ONE_OFF, unknown_images=1)
    settings = load_settings(onnx_profile, {"HOME": str(root)}, data_dir=str(root / "data"), workers=0)
    index_collection(settings, root / "collection", pipeline=onnx_pipeline)
    database = open_database(settings.database_url)
    key = onnx_pipeline.info().key
    calibration = calibrate(labelled_from_database(database, key, onnx_pipeline.layout, settings.quality_floor))
    with database.session() as session:
        save_calibration(session, key, calibration.to_json())
    return SearchService(onnx_pipeline, database, settings.index_dir), calibration


def test_bulk_accept_at_a_search_rate_keeps_to_it_where_the_pair_rate_does_not(calibrated):
    from gallery.curation.suggestions import at_rate, suggest

    service, calibration = calibrated
    found = suggest(service)
    assert found.search_rates and found.compared_faces == 2 * KNOWN
    assert found.to_review >= 2 * KNOWN + ONE_OFF  # and the background faces some photographs hold
    expected = found.to_review * RATE  # at most this many wrong, on average
    allowed = expected + 3 * math.sqrt(expected)  # with the margin of a count of rare events
    by_search = at_rate(found.suggestions, RATE)
    assert by_search == suggest(service, max_false_match=RATE).suggestions
    assert len(by_search) >= KNOWN  # most of the known sitters' unlabelled portraits
    assert sum(map(_wrong, by_search)) <= allowed
    assert found.expected_wrong(by_search) <= expected
    # the pair rate at the same figure accepts the one-off people's faces as well
    by_pair = [s for s in found.suggestions if s.false_match_rate <= RATE]
    assert sum(map(_wrong, by_pair)) > 2 * allowed
    assert all(s.search_false_match_rate >= s.false_match_rate for s in found.suggestions)


def test_a_rate_finer_than_the_searches_can_show_is_refused(calibrated):
    from gallery.curation.suggestions import SuggestionError, suggest

    service, calibration = calibrated
    finest = calibration.finest_search_rate(2 * KNOWN)
    assert 0.03 < finest < 0.1  # 100 searches with a sitter left out
    with pytest.raises(SuggestionError, match=r"rests on 100 searches; .* down to 0\.0"):
        suggest(service, max_false_match=0.001)


def test_search_answers_carry_both_rates(calibrated, lfw_dir):
    service, _calibration = calibrated
    folder = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[0]
    result = service.search(sorted(folder.glob("*.jpg"))[3])
    best = result.candidates[0]
    assert result.compared_faces == 2 * KNOWN
    assert best.search_false_match.startswith("a person not in the collection scores this high in")
    assert "of 100 identified faces" in best.search_false_match
    data = result.to_json()
    assert data["search_rates"] and data["candidates"][0]["search_false_match_rate"] == best.search_false_match_rate


def test_candidates_carry_likelihood_ratios_that_agree_with_the_search_rates(calibrated, lfw_dir, tmp_path):
    import math

    from gallery.reports.match import build_report, write_report

    service, calibration = calibrated
    folder = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[0]
    result = service.search(sorted(folder.glob("*.jpg"))[3], artist="Unknown hand")
    best = result.candidates[0]
    assert best.sitter == folder.name.replace("_", " ") and best.likelihood.likenesses == 2  # both labelled works
    assert best.likelihood.likelihood_ratio > 2 and best.likelihood.verbal.endswith("support for the candidate")
    for candidate in result.candidates:  # never more support than the search rate at its score allows
        assert candidate.likelihood.log10_lr <= -math.log10(candidate.search_false_match_rate) + 1e-9
    data = result.to_json()
    assert {"likelihood_ratio", "log10_lr", "verbal", "likenesses"} <= set(data["candidates"][0])
    assert data["likelihood"]["available"] and "100 confirmed faces" in data["likelihood"]["population"]
    assert data["artist"] == "Unknown hand" and best.same_hand is None
    from pypdf import PdfReader

    pdf = write_report(build_report(service, result, explain_grid=0), tmp_path / "report.pdf")
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(pdf).pages)
    assert "Hp: the sitter of the query face is the candidate" in text and "Hd: the sitter is someone else" in text
    assert best.likelihood.verbal in text and "not the probability that the sitter is the candidate" in text
    csv_text = write_report(build_report(service, result, explain_grid=0), tmp_path / "report.csv").read_text()
    assert "likelihood_ratio" in csv_text.splitlines()[0] and best.likelihood.verbal in csv_text


def test_the_page_counts_the_expected_wrong_before_a_bulk_accept(calibrated):
    from gallery.curation.suggestions import at_rate, suggest
    from ui.suggestions import _count

    service, _calibration = calibrated
    found = suggest(service)
    chosen = at_rate(found.suggestions, RATE)
    text = _count({"items": found.suggestions, "row": 0, "found": found}, RATE)
    assert text.startswith(f"{len(chosen)} suggestion(s) would be accepted at a search rate of at most 0.1")
    assert f"at most about {found.expected_wrong(chosen):.1f} of them are expected to name the wrong sitter" in text
