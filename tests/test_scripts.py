"""Names in every script: every PDF the product writes prints them (Noto fonts, fallback chain,
HarfBuzz shaping), read back with a PDF text extractor; a character no font has is an error that
names the package, never a blank."""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path

import pytest

from gallery.reports import fonts

NAMES = ["Élisabeth Vigée Le Brun", "Фёдор Достоевский", "徐悲鸿", "محمد علي", "דוד בן-גוריון",
         "Ἀλέξανδρος Μέγας", "राजा रवि वर्मा", "葛飾北斎", "김홍도", "ரவி வர்மா", "Zoë O'Brien-Łukasiewicz"]


def _fonts_or_skip():
    main, fallbacks = fonts.available()
    found = {f.script.family for f in fallbacks}
    if main is None or not {"NotoSansCJK", "NotoSansArabic", "NotoSansDevanagari"} <= found:
        pytest.skip("the Noto fonts are not installed (apt-get install fonts-noto-core fonts-noto-cjk; "
                    "scripts/install-test-services.sh does)")


def _clean(text: str) -> str:
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c) != "Cc")


def printed(name: str, text: str) -> bool:
    """Each word of `name` is in the extracted text. (Extractors give CJK glyphs spaced apart, and the
    words of a right-to-left line, hyphenated parts too, in the order they stand on the page.)"""
    return all(_clean(word) in _clean(text) for word in re.split(r"[\s\-]+", name) if word)


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def test_the_writer_prints_every_script_shaped(tmp_path):
    _fonts_or_skip()
    from gallery.reports.pdf import new_writer

    writer = new_writer()
    for name in NAMES:
        writer.line(f"Best candidate: {name}", bold=True)
    writer.pdf.output(tmp_path / "names.pdf")
    text = _pdf_text(tmp_path / "names.pdf")
    assert [n for n in NAMES if not printed(n, text)] == []
    assert writer.pdf.text_shaping  # HarfBuzz joins Arabic letters and orders right-to-left runs


def test_a_latin_report_loads_no_fallback_font():
    _fonts_or_skip()
    from gallery.reports.pdf import new_writer

    writer = new_writer()
    writer.line("Élisabeth Vigée Le Brun, Фёдор Достоевский")
    assert writer._used == []
    writer.line("徐悲鸿")
    assert writer._used == ["notosanscjk"]


def test_a_character_no_font_has_is_an_error_naming_the_package(monkeypatch):
    from gallery.reports.pdf import new_writer

    monkeypatch.setattr(fonts, "available", lambda: (None, []))  # only DejaVu Sans, from matplotlib
    writer = new_writer()
    assert writer.text("Фёдор") == "Фёдор"
    with pytest.raises(fonts.MissingGlyphs, match="徐悲鸿.*fonts-noto-cjk"):
        writer.text("徐悲鸿")
    assert writer.text("محمد") == "محمد"  # DejaVu Sans has Arabic letters
    with pytest.raises(fonts.MissingGlyphs, match="fonts-noto-core \\(Indic scripts\\)"):
        writer.text("रवि वर्मा")


@pytest.mark.slow
def test_every_pdf_prints_the_names_of_a_collection_in_eleven_scripts(lfw_dir, onnx_profile, onnx_pipeline,
                                                                      tmp_path):
    _fonts_or_skip()
    from db.engine import open_database
    from gallery.config.settings import load_settings
    from gallery.curation.dossier import build_dossier
    from gallery.reports.dossier_pdf import write_dossier
    from gallery.reports.enquiry import run_enquiry, write_enquiry
    from gallery.reports.match import build_report, write_report
    from gallery.search.service import SearchService
    from indexer.runner import index_collection

    collection, queries = tmp_path / "collection", tmp_path / "queries"
    queries.mkdir()
    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[:len(NAMES)]
    for name, person in zip(NAMES, people):
        images = sorted(person.glob("*.jpg"))
        (collection / name).mkdir(parents=True)
        for image in images[1:]:
            shutil.copy(image, collection / name / image.name)
        shutil.copy(images[0], queries / f"{name}.jpg")  # the query's own name in the script too
    settings = load_settings(onnx_profile, {"HOME": str(tmp_path)}, data_dir=str(tmp_path / "data"), workers=0)
    index_collection(settings, collection, pipeline=onnx_pipeline)
    service = SearchService(onnx_pipeline, open_database(settings.database_url), settings.index_dir)
    for name in NAMES:
        result = service.search(queries / f"{name}.jpg", candidates=3)
        assert result.candidates[0].sitter == name
        text = _pdf_text(write_report(build_report(service, result), tmp_path / "report.pdf"))
        assert printed(name, text), name
        dossier = build_dossier(service.database, name, settings.posthumous_years)
        assert printed(name, _pdf_text(write_dossier(dossier, tmp_path / "dossier.pdf"))), name
    enquiry = run_enquiry(service, [queries], tmp_path / "work")
    text = _pdf_text(write_enquiry(enquiry, tmp_path / "enquiry.pdf"))
    assert [n for n in NAMES if not printed(n, text)] == []
