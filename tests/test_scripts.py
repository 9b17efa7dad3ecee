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


def test_names_are_folded_for_comparison_only_where_a_reader_would():
    from gallery.core.names import fold, match_rank

    assert fold("Élisabeth VIGÉE Le Brun") == fold("elisabeth vigee le brun") == "elisabeth vigee le brun"
    assert fold("Фёдор Достоевский") == fold("федор достоевский")
    assert fold("Straße") == fold("STRASSE") and fold("Łukasiewicz") == "lukasiewicz" and fold("Ørsted") == "orsted"
    assert fold("محمَّد") == fold("محمد")  # vowel points off
    assert fold("が") != fold("か") and fold("राजा") == "राजा"  # a different letter, kept
    assert match_rank("Élisabeth Vigée Le Brun", "Élisabeth Vigée Le Brun") == 0
    assert match_rank("elisabeth vigee le brun", "Élisabeth Vigée Le Brun") == 1
    assert match_rank("Dostoevsky", "Фёдор Достоевский", ["Fyodor Dostoevsky"]) == 5
    assert match_rank("fyodor dostoevsky", "Фёдор Достоевский", ["Fyodor Dostoevsky"]) == 2
    assert match_rank("Vigee", "Élisabeth Vigée Le Brun") == 4 and match_rank("Rembrandt", "Élisabeth") is None


def _search_every_way(database):
    from db.sitters import list_sitters, sitter_typed
    from db.identifications import IdentificationError

    with database.session() as session:
        for name in NAMES:
            for typed in (name, name.upper(), name.lower(), _unaccented(name)):
                found = [s.name for s in list_sitters(session, typed)]
                assert found and found[0] == name, (typed, found)
                assert sitter_typed(session, typed).name == name
        assert [s.name for s in list_sitters(session, "Dostoevsky")] == ["Фёдор Достоевский"]  # by its alias
        assert [s.name for s in list_sitters(session, "徐")] == ["徐悲鸿"]
        assert sitter_typed(session, "fyodor DOSTOEVSKY").name == "Фёдор Достоевский"
        with pytest.raises(IdentificationError, match="could be any of"):
            sitter_typed(session, "anne de bretagne")
    _picked_every_way(database)
    _one_sitter_in_nfc_and_nfd(database)


def _picked_every_way(database):
    """The page's pickers offer the same sitters as the search, as the curator types, best first."""
    from db.sitters import find_sitters

    with database.session() as session:
        for name in NAMES:
            assert name in [c.name for c in find_sitters(session, name[:2])], name  # the first letters typed
            assert find_sitters(session, _unaccented(name).lower())[0].name == name
        assert [(c.name, c.label) for c in find_sitters(session, "dostoevsky")] == [
            ("Фёдор Достоевский", "Фёдор Достоевский (also Fyodor Dostoevsky)")]
        assert [c.name for c in find_sitters(session, "ANNE DE BRETAGNE")] == ["Anne de Bretagne", "Anne de Bretagné"]
        assert [c.name for c in find_sitters(session, "Anne de Bretagné")] == ["Anne de Bretagné", "Anne de Bretagne"]
        assert find_sitters(session, "  ") == [] and find_sitters(session, "Rembrandt") == []
        assert len(find_sitters(session, "a", limit=3)) == 3


def _one_sitter_in_nfc_and_nfd(database):
    """A name typed decomposed (as macOS writes it) is the stored sitter; one an earlier release
    stored decomposed is found, and never created a second time."""
    from db.schema import Sitter
    from db.sitters import sitter_named, sitters_named

    decomposed = unicodedata.normalize("NFD", "Élisabeth Vigée Le Brun")
    with database.session() as session:
        stored = sitter_named(session, "Élisabeth Vigée Le Brun")
        assert sitter_named(session, decomposed, create=True).id == stored.id
        old = Sitter(name=unicodedata.normalize("NFD", "Zoé Ancienne"), alternative_names=[], external_ids={})
        session.add(old)
        session.flush()
        assert sitter_named(session, "Zoé Ancienne", create=True).id == old.id
        assert sitters_named(session, ["Zoé Ancienne", decomposed], create=True) == {
            "Zoé Ancienne": old, decomposed: stored}
        created = sitter_named(session, unicodedata.normalize("NFD", "Zoë Nouvelle"), create=True)
        assert created.name == unicodedata.normalize("NFC", "Zoë Nouvelle")  # stored composed


def _unaccented(name: str) -> str:
    """As typed without accents on a Latin, Greek or Cyrillic keyboard."""
    return unicodedata.normalize("NFC", "".join(c for c in unicodedata.normalize("NFD", name)
                                                if not 0x0300 <= ord(c) <= 0x036F))


def _sitters_in_every_script(database):
    from db.sitters import SitterRecord, import_sitters

    records = [SitterRecord(name) for name in NAMES if name != "Фёдор Достоевский"]
    records += [SitterRecord("Фёдор Достоевский", ("Fyodor Dostoevsky",)), SitterRecord("Anne de Bretagne"),
                SitterRecord("Anne de Bretagné")]
    with database.session() as session:
        import_sitters(session, records)


def test_names_are_found_however_typed_and_by_alias_on_sqlite(tmp_path):
    from db.engine import open_database

    database = open_database(f"sqlite:///{tmp_path / 'gallery.db'}")
    _sitters_in_every_script(database)
    _search_every_way(database)


def test_names_are_found_the_same_way_on_postgresql(postgres_url):
    from db.engine import open_database

    database = open_database(postgres_url)
    _sitters_in_every_script(database)
    _search_every_way(database)


def _without_utf8_flag(data: bytes) -> bytes:
    """The zip with the 'names are UTF-8' flag cleared, as macOS's Archive Utility writes them."""
    raw = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.find(signature)
        while at >= 0:
            raw[at + offset + 1] &= ~0x08 & 0xFF  # bit 11 of the little-endian flags: bit 3 of the second byte
            at = raw.find(signature, at + 4)
    return bytes(raw)


def test_zip_member_names_without_the_utf8_flag_read_as_written(tmp_path):
    import io
    import zipfile

    from gallery.reports.enquiry import member_name

    names = ["Portrait de Zoë.jpg", "Фёдор.jpg", "徐悲鸿 像.jpg", unicodedata.normalize("NFD", "Élisabeth.jpg")]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name in names:
            bundle.writestr(name, b"x")
    with zipfile.ZipFile(io.BytesIO(_without_utf8_flag(buffer.getvalue()))) as legacy:
        assert not any(m.flag_bits & 0x800 for m in legacy.infolist())
        assert legacy.infolist()[0].filename != names[0]  # Python alone reads it as code page 437
        read = [member_name(m) for m in legacy.infolist()]
    assert read == [unicodedata.normalize("NFC", n) for n in names]
    with zipfile.ZipFile(buffer) as flagged:
        assert [member_name(m) for m in flagged.infolist()] == [unicodedata.normalize("NFC", n) for n in names]


@pytest.mark.slow
def test_a_file_renamed_from_nfc_to_nfd_stays_one_artwork(lfw_dir, onnx_profile, onnx_pipeline, tmp_path):
    """macOS writes names decomposed (NFD): a collection copied through it is the same collection."""
    from db.collection import ingest_errors
    from db.engine import open_database
    from gallery.config.settings import load_settings
    from indexer.runner import index_collection

    folder = tmp_path / "collection" / unicodedata.normalize("NFC", "Élisabeth Vigée Le Brun")
    folder.mkdir(parents=True)
    source = sorted(lfw_dir.rglob("*.jpg"))[0]
    composed = folder / unicodedata.normalize("NFC", "Portrait de la reine, d'après nature.jpg")
    shutil.copy(source, composed)
    settings = load_settings(onnx_profile, {"HOME": str(tmp_path)}, data_dir=str(tmp_path / "data"), workers=0)
    first = index_collection(settings, tmp_path / "collection", pipeline=onnx_pipeline)
    assert first.counts["new"] == 1
    composed.rename(folder / unicodedata.normalize("NFD", composed.name))
    second = index_collection(settings, tmp_path / "collection", pipeline=onnx_pipeline)
    assert second.counts.get("new", 0) == 0 and second.counts["moved"] == 1
    with open_database(settings.database_url).session() as session:
        assert ingest_errors(session) == []
