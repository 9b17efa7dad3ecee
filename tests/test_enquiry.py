"""Enquiries in batches: `gallery search DIR|FILE.zip --out results.csv|json|pdf`."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile

import pytest

pytestmark = pytest.mark.slow


def _run(gallery_cli, settings, *args, check=True):
    return gallery_cli("search", *args, "--config", settings.config_file, "--data-dir", settings.data_dir, check=check)


def _sitter(path) -> str:
    return path.parent.name.replace("_", " ")


def _folder(tmp_path, images):
    folder = tmp_path / "enquiry"
    folder.mkdir()
    for image in images:
        shutil.copy(image, folder / image.name)
    return folder


def test_a_folder_gives_one_ranked_summary(indexed, gallery_cli, tmp_path):
    from PIL import Image

    settings, _service, held_out, _db = indexed
    folder = _folder(tmp_path, held_out[:6])

    Image.new("RGB", (200, 200), "white").save(folder / "blank.png")
    done = _run(gallery_cli, settings, folder, "--out", tmp_path / "results.csv", "--top-k", "3")
    assert "7 image(s)" in done.stdout and "1 without a face" in done.stdout
    rows = list(csv.DictReader(open(tmp_path / "results.csv", encoding="utf-8")))
    assert {"query", "face", "rank", "sitter", "score", "false_match"} <= set(rows[0])
    firsts = {r["query"]: r["sitter"] for r in rows if r["rank"] == "1"}
    assert firsts == {image.name: _sitter(image) for image in held_out[:6]}
    assert [r["note"] for r in rows if r["query"] == "blank.png"] == ["no face found"]
    assert max(int(r["rank"]) for r in rows if r["rank"]) == 3


def test_a_zip_with_bad_members_and_every_face(indexed, gallery_cli, group_photo, tmp_path):
    settings, _service, held_out, _db = indexed
    archive = tmp_path / "catalogue.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(held_out[0], f"lot 1/{held_out[0].name}")
        zf.write(group_photo, "lot 2/group.jpg")
        zf.writestr("lot 3/broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
        zf.writestr("lot 3/notes.txt", "provenance notes")
        zf.writestr("../escape.jpg", held_out[1].read_bytes())
        zf.writestr("__MACOSX/._junk.jpg", b"junk")
    done = _run(gallery_cli, settings, archive, "--out", tmp_path / "results.json", "--all-faces", "--json")
    summary = json.loads(done.stdout)
    assert json.loads((tmp_path / "results.json").read_text()) == summary
    by_query = {q["query"]: q for q in summary["queries"]}
    assert set(by_query) == {f"lot 1/{held_out[0].name}", "lot 2/group.jpg", "lot 3/broken.jpg", "lot 3/notes.txt",
                             "../escape.jpg"}
    assert by_query[f"lot 1/{held_out[0].name}"]["results"][0]["candidates"][0]["sitter"] == _sitter(held_out[0])
    assert len(by_query["lot 2/group.jpg"]["results"]) == 6  # every face of the group photo
    assert by_query["lot 3/broken.jpg"]["problem"].startswith("unreadable")
    assert by_query["lot 3/notes.txt"]["problem"].startswith("not an image")
    assert by_query["../escape.jpg"]["problem"].startswith("refused")
    assert not (tmp_path.parent / "escape.jpg").exists()
    assert summary["failed"] == 3 and summary["faces_searched"] == 7


def test_the_pdf_has_the_summary_first_then_one_section_per_query(indexed, gallery_cli, tmp_path):
    from pypdf import PdfReader

    settings, _service, held_out, _db = indexed
    folder = _folder(tmp_path, held_out[:3])
    _run(gallery_cli, settings, folder, "--out", tmp_path / "results.pdf")
    text = " ".join(page.extract_text() for page in PdfReader(tmp_path / "results.pdf").pages)
    assert text.index("Summary") < min(text.rindex(image.name) for image in held_out[:3])
    for image in held_out[:3]:
        assert text.count(image.name) >= 2 and _sitter(image) in text  # in the summary and in its section


def test_bad_enquiries_are_refused_before_searching(indexed, gallery_cli, tmp_path):
    settings = indexed[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, words in (((empty, "--out", tmp_path / "r.csv"), "holds no image files"),
                        ((empty,), "name the results file with --out"),
                        ((tmp_path / "nowhere", "--out", tmp_path / "r.csv"), "does not exist"),
                        ((empty, "--out", tmp_path / "r.xlsx"), "must end in .csv, .json or .pdf")):
        refused = _run(gallery_cli, settings, *args, check=False)
        assert refused.returncode == 1 and words in refused.stderr and "Traceback" not in refused.stderr, args
    assert not (tmp_path / "r.csv").exists()


def test_an_enquiry_keeps_neither_the_files_nor_their_views(indexed, group_photo, tmp_path):
    """A large enquiry holds every result until its summary is written: each keeps only what the
    summary needs, not the file's bytes nor a picture to show."""
    from gallery.reports.enquiry import run_enquiry

    _settings, service, held_out, _db = indexed
    folder = _folder(tmp_path, [held_out[0], group_photo])
    enquiry = run_enquiry(service, [folder], tmp_path / "work", all_faces=True)
    results = [r for o in enquiry.outcomes for r in o.results]
    assert len(results) == 7 and all(r.query_bytes == b"" and r.view is None for r in results)
    assert service.search(held_out[0]).view is not None  # a single search keeps its view to show
