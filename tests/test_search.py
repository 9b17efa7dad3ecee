"""The search service on an indexed part of lfw-mini, with the real ONNX models."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from db.engine import open_database
from db.identifications import identify
from db.schema import Artwork, Face
from db.sitters import sitter_named
from gallery.core.errors import ImageLoadError, NoFaceError
from gallery.search.service import SearchError, SearchService

pytestmark = pytest.mark.slow


def _name(path):
    return path.parent.name.replace("_", " ")


def test_candidates_grouped_by_sitter_best_first(indexed):
    _settings, service, held_out, _db = indexed
    result = service.search(held_out[0], threshold=0.3)
    first = result.candidates[0]
    assert first.sitter == _name(held_out[0]) and not result.no_confident_match
    assert len(first.artworks) == 3 and first.status == "confirmed"  # the sitter's 3 indexed portraits
    assert [a.score for a in first.artworks] == sorted((a.score for a in first.artworks), reverse=True)
    assert [c.score for c in result.candidates] == sorted((c.score for c in result.candidates), reverse=True)
    assert len({c.sitter for c in result.candidates}) == len(result.candidates)
    assert set(first.components) == {"mobilefacenet"}
    assert abs(first.components["mobilefacenet"] - first.score) < 2e-3  # one component: its cosine is the score
    assert all(u.status is None for u in result.unidentified)
    assert any(u.path.endswith("group.jpg") for u in result.unidentified)  # the unlabelled group faces
    assert json.loads(json.dumps(result.to_json()))["candidates"][0]["sitter"] == first.sitter


def test_rejected_faces_do_not_count_and_changes_apply_at_once(indexed):
    _settings, service, held_out, database = indexed
    query = held_out[1]
    before = service.search(query)
    assert before.candidates[0].sitter == _name(query)
    with database.session() as session:
        sitter = sitter_named(session, _name(query))
        for match in before.candidates[0].artworks:
            identify(session, match.face_id, sitter.id, "rejected", "curator", who="test")
    after = service.search(query)  # no re-indexing
    assert _name(query) not in [c.sitter for c in after.candidates]
    rejected_ids = {m.face_id for m in before.candidates[0].artworks}
    assert rejected_ids <= {u.face_id for u in after.unidentified}  # now they resemble, unidentified
    with database.session() as session:  # a curator puts one back, as probable
        identify(session, min(rejected_ids), sitter_named(session, _name(query)).id, "probable", "curator")
    again = service.search(query)
    assert again.candidates[0].sitter == _name(query) and again.candidates[0].status == "probable"


def test_threshold_gives_no_confident_match(indexed, group_photo):
    _settings, service, held_out, _db = indexed
    assert service.search(held_out[2], threshold=0.99).no_confident_match
    stranger = service.search(group_photo, face=3, threshold=0.5)
    assert stranger.no_confident_match and stranger.face == 3 and len(stranger.faces) == 6
    assert any(u.same_file for u in stranger.unidentified)  # the group photo itself is in the collection


def test_multi_face_query_and_bad_face_number(indexed, group_photo):
    _settings, service, _held_out, _db = indexed
    results = [service.search(group_photo, face=i) for i in range(2)]
    assert [r.face for r in results] == [0, 1]
    assert results[0].unidentified[0].face_id != results[1].unidentified[0].face_id
    with pytest.raises(NoFaceError, match="face 9 does not exist"):
        service.search(group_photo, face=9)
    with pytest.raises(ImageLoadError, match="No such file"):
        service.search(group_photo.with_name("no-such-photo.jpg"))


def test_nothing_indexed_with_the_profile(indexed, tmp_path, onnx_pipeline):
    settings, _service, held_out, _db = indexed
    empty = SearchService(onnx_pipeline, open_database(f"sqlite:///{tmp_path / 'empty.db'}"), tmp_path / "index")
    with pytest.raises(SearchError, match="run `gallery index"):
        empty.search(held_out[0])


def test_search_command_json(gallery_cli, indexed, env):
    settings, _service, held_out, database = indexed
    env["GALLERY_DATA_DIR"] = str(settings.data_dir)
    out = json.loads(gallery_cli("search", held_out[3], "--config", settings.config_file, "--top-k", "3",
                                 "--json").stdout)
    assert set(out) >= {"faces", "face", "no_confident_match", "candidates", "unidentified"}
    assert len(out["candidates"]) == 3 and out["candidates"][0]["sitter"] == _name(held_out[3])
    with database.session() as session:
        path = session.scalar(select(Artwork.path).join(Face).where(Face.id == out["candidates"][0]["artworks"][0]
                                                                    ["face_id"]))
    assert path == out["candidates"][0]["artworks"][0]["path"]


def test_calibration_adds_false_match_rates_to_search_and_reports(indexed, onnx_pipeline, tmp_path):
    from db.collection import save_calibration
    from gallery.evaluation.calibration import calibrate
    from gallery.evaluation.evaluate import labelled_from_database
    from gallery.reports.match import build_report, write_report

    _settings, service, held_out, database = indexed
    assert service.search(held_out[6]).candidates[0].false_match is None  # not calibrated yet
    key = onnx_pipeline.info().key
    calibration = calibrate(labelled_from_database(database, key, onnx_pipeline.layout))
    with database.session() as session:
        save_calibration(session, key, calibration.to_json())
    result = service.search(held_out[6])  # applies without a restart
    first, last = result.candidates[0], result.candidates[-1]
    assert first.false_match.startswith(("≈ 1 in", "fewer than 1 in")) and first.false_match_rate <= last.false_match_rate
    assert result.to_json()["calibrated"] and result.to_json()["candidates"][0]["false_match"] == first.false_match
    report = build_report(service, result)
    assert "Calibrated on" in report.calibration_note
    assert first.false_match in write_report(report, tmp_path / "r.csv").read_text(encoding="utf-8")


def test_a_detector_failure_fails_only_its_own_query(indexed, monkeypatch):
    from gallery.search.service import SearchError, SearchRequest

    _settings, service, held_out, _db = indexed
    real = service.pipeline.detect

    def detect(image):
        if image.path == "poisoned.jpg":
            raise RuntimeError("the detector broke")
        return real(image)

    monkeypatch.setattr(service.pipeline, "detect", detect)
    answers = service.search_many([SearchRequest(held_out[0]), SearchRequest(held_out[1].read_bytes(), "poisoned.jpg"),
                                   SearchRequest(held_out[2])])
    assert isinstance(answers[1], SearchError) and "the detector broke" in str(answers[1])
    assert answers[0].candidates[0].sitter == held_out[0].parent.name.replace("_", " ")
    assert answers[2].candidates[0].sitter == held_out[2].parent.name.replace("_", " ")


def test_a_scan_sized_query_is_viewed_at_display_size_with_full_resolution_crops(indexed):
    """What the page and the report show comes with the answer: the picture brought down to the
    view's side, the boxes scaled to it, and each face's crop cut from the full-resolution image."""
    import numpy as np

    from gallery.faces.align import ARCFACE_CROP, align_face
    from gallery.faces.query_view import VIEW_SIDE
    from tests.collections import scan_of

    _settings, service, held_out, _db = indexed
    scan = scan_of(held_out[3])
    result = service.search(scan, "scan.jpg")
    assert result.candidates[0].sitter == _name(held_out[3])
    view, face = result.view, result.faces[result.face]
    assert view.picture.shape == (960, VIEW_SIDE, 3) and view.scale == pytest.approx(VIEW_SIDE / 4032)
    x1, y1, x2, y2 = view.box(face.box)
    assert 1300 * view.scale < x1 < x2 < 2700 * view.scale and 800 * view.scale < y1 < y2 < 2200 * view.scale
    full = service.pipeline.load(scan).rgb
    np.testing.assert_array_equal(view.crops[result.face], align_face(full, face.landmarks, ARCFACE_CROP))


def test_every_face_of_a_group_has_its_crop_in_the_shared_view(indexed, group_photo):
    from gallery.search.service import SearchRequest

    _settings, service, _held_out, _db = indexed
    [results] = service.search_each_face([SearchRequest(group_photo)])
    assert [r.face for r in results] == list(range(6)) and all(r.view is results[0].view for r in results)
    assert len(results[0].view.crops) == 6 and results[0].view.picture.shape[:2] == results[0].result.size[::-1]
