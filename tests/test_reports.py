"""Match reports: PDF parsed back, CSV and JSON with the same facts; the report command."""

from __future__ import annotations

import csv
import json

import pytest

from gallery.reports.match import ReportError, build_report, write_report

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(indexed):
    _settings, service, held_out, _db = indexed
    result = service.search(held_out[4], candidates=3)
    return build_report(service, result, curator="Zoë Ångström", note="Lot 42, attribution pending"), result


def test_pdf_names_the_sitters_scores_and_weights(report, tmp_path):
    from pypdf import PdfReader

    built, result = report
    path = write_report(built, tmp_path / "report.pdf")
    text = " ".join(page.extract_text() for page in PdfReader(path).pages)
    flat = " ".join(text.split())
    for candidate in result.candidates:
        assert candidate.sitter in flat and f"{candidate.score:.3f}" in flat
    assert "Zoë Ångström" in flat and "Lot 42" in flat
    assert "threshold 0.30" in flat and "not probabilities" in flat  # the calibration note
    assert "No likelihood ratio: scores are not calibrated" in flat  # and never a bare figure without a reason
    assert built.profile["detector"]["sha256"][:16] in flat.replace(" ", "")
    assert len(PdfReader(path).pages[0].images) >= 3  # query, aligned crop, face thumbnails
    # why the top candidate matched: its two overlays (one component) and the regions in words
    assert "Why the top candidate matched" in flat and flat.count("most against") == 2
    assert sum(len(page.images) for page in PdfReader(path).pages) >= 3 + 2


def test_csv_and_json_carry_the_same_facts(report, tmp_path):
    built, result = report
    rows = list(csv.DictReader(open(write_report(built, tmp_path / "r.csv"), encoding="utf-8")))
    data = json.loads(write_report(built, tmp_path / "r.json").read_text())
    assert [c["sitter"] for c in data["candidates"]] == [c.sitter for c in result.candidates]
    ranked = [r for r in rows if r["rank"]]
    assert len(ranked) == sum(len(c.artworks) for c in result.candidates)
    assert ranked[0]["sitter"] == data["candidates"][0]["sitter"]
    assert float(ranked[0]["match_score"]) == pytest.approx(data["candidates"][0]["artworks"][0]["score"])
    assert {r["curator"] for r in rows} == {data["curator"]} == {"Zoë Ångström"}
    assert data["model"]["encoders"][0]["weights"] and "mobilefacenet:" in rows[0]["weights_sha256"]
    assert data["collection"]["faces"] == int(rows[0]["collection_faces"]) > 0
    explained = data["top_candidate_explanation"]
    assert explained["face_id"] == data["candidates"][0]["artworks"][0]["face_id"] and explained["grid"] == 7
    (component,) = explained["components"]
    assert component["component"] == "mobilefacenet" and len(component["query_map"]) == 7
    assert component["score"] == pytest.approx(data["candidates"][0]["score"], abs=0.02)  # the same pair's score


def test_unknown_report_type_is_refused(report, tmp_path):
    with pytest.raises(ReportError, match=".pdf, .csv or .json"):
        write_report(report[0], tmp_path / "report.docx")
    assert not list(tmp_path.iterdir())


def test_report_command(gallery_cli, indexed, env, tmp_path):
    settings, _service, held_out, _db = indexed
    env["GALLERY_DATA_DIR"] = str(settings.data_dir)
    out = tmp_path / "r.json"
    gallery_cli("report", held_out[5], "-o", out, "--config", settings.config_file, "--curator", "anna")
    data = json.loads(out.read_text())
    assert data["curator"] == "anna" and data["candidates"][0]["sitter"] == held_out[5].parent.name.replace("_", " ")
    assert data["top_candidate_explanation"]["grid"] == 7
    gallery_cli("report", held_out[5], "-o", out, "--config", settings.config_file, "--explain-grid", "0")
    data = json.loads(out.read_text())
    assert data["top_candidate_explanation"] is None and data["explanation_note"] == "not asked for"


def test_explain_command_and_a_missing_picture(gallery_cli, indexed, env, tmp_path):
    settings, _service, held_out, _db = indexed
    env["GALLERY_DATA_DIR"] = str(settings.data_dir)
    query, sitter = held_out[6], held_out[6].parent.name.replace("_", " ")
    out = tmp_path / "why.png"
    shown = gallery_cli("explain", query, "--config", settings.config_file, "--grid", "5", "-o", out).stdout
    assert f"{sitter}'s best matching face" in shown and "most against" in shown
    from PIL import Image

    assert Image.open(out).size == (2 * 224 + 8, 224)  # one component: query and match side by side
    data = json.loads(gallery_cli("explain", query, "--config", settings.config_file, "--grid", "3", "--json").stdout)
    assert len(data["components"][0]["match_map"]) == 3
    refused = gallery_cli("explain", query, "--config", settings.config_file, "--sitter", "Nobody Here", check=False)
    assert refused.returncode == 1 and "'Nobody Here' is not among" in refused.stderr
    refused = gallery_cli("explain", query, "--config", settings.config_file, "-o", tmp_path / "why.gif", check=False)
    assert refused.returncode == 1 and ".png or .jpg" in refused.stderr


def test_a_report_whose_match_picture_is_gone_says_so(indexed, tmp_path):
    import shutil

    _settings, service, held_out, _db = indexed
    result = service.search(held_out[7], candidates=1)
    best = result.candidates[0].artworks[0]
    moved = tmp_path / "moved.jpg"
    shutil.move(best.path, moved)
    try:
        built = build_report(service, result)
    finally:
        shutil.move(moved, best.path)
    assert built.explanation is None and "cannot be read here" in built.explanation_note
    path = write_report(built, tmp_path / "report.pdf")
    from pypdf import PdfReader

    text = " ".join(" ".join(p.extract_text() for p in PdfReader(path).pages).split())
    assert "No explanation in this report: the matched work's picture cannot be read here" in text
