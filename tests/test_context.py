"""Art-historical context: catalogue dates parsed, a candidate's plausibility at the work's date,
replicas grouped in search (and split by a curator), the sitter's dossier, implausible
identifications in the status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

# real catalogue dates as museums write them -> (earliest, latest); None = open
CATALOGUE_DATES = [
    ("1650", (1650, 1650)), ("dated 1650", (1650, 1650)), ("Signed and dated 1634", (1634, 1634)),
    ("1650-03-12", (1650, 1650)), ("c. 1650", (1645, 1655)), ("ca. 1665", (1660, 1670)), ("circa 1500", (1495, 1505)),
    ("about 1530", (1525, 1535)), ("1650?", (1645, 1655)), ("1640-1660", (1640, 1660)), ("1640–60", (1640, 1660)),
    ("1632-1635", (1632, 1635)), ("1640/45", (1640, 1645)), ("1640-5", (1640, 1645)),
    ("between 1640 and 1660", (1640, 1660)), ("1650 or 1651", (1650, 1651)), ("c. 1640-1660", (1635, 1665)),
    ("ca. 1665-1670", (1660, 1675)), ("1640s", (1640, 1649)), ("early 1640s", (1640, 1643)),
    ("mid-1640s", (1643, 1646)), ("late 1640s", (1646, 1649)), ("17th century", (1600, 1699)),
    ("early 17th century", (1600, 1633)), ("Mid 16th century", (1533, 1566)), ("late 17th c.", (1666, 1699)),
    ("first half of the 17th century", (1600, 1649)), ("second half of the 18th century", (1750, 1799)),
    ("second quarter of the 17th century", (1625, 1649)), ("before 1662", (None, 1662)), ("by 1662", (None, 1662)),
    ("not after 1700", (None, 1700)), ("after 1650", (1650, None)), ("not before 1650", (1650, None)),
    ("[c. 1650]", (1645, 1655)),
]


@pytest.mark.parametrize("text,expected", CATALOGUE_DATES)
def test_catalogue_dates_parse_into_ranges(text, expected):
    from gallery.core.dates import parse_date

    found = parse_date(text)
    assert (found.start, found.end) == expected and found.text == text


def test_dates_without_a_year_are_unknown_and_nonsense_is_refused():
    from gallery.core.dates import DateError, parse_date

    for text in (None, "", "undated", "n.d.", "Unknown"):
        assert parse_date(text) is None
    for text in ("next tuesday", "1660-1640", "17th", "c."):
        with pytest.raises(DateError):
            parse_date(text)


def test_plausibility_worked_examples():
    from gallery.core.dates import judge, parse_date

    rembrandt = (1606, 1669)
    assert judge(parse_date("1640"), *rembrandt, 50).to_json() == {
        "plausibility": "plausible", "age_at_date": "34", "plausibility_reason": "aged 34 in 1640"}
    assert judge(parse_date("c. 1640"), *rembrandt, 50).age_at_date == "29–39"
    young = judge(parse_date("1590"), *rembrandt, 50)
    assert young.verdict == "implausible" and "predates the sitter's birth in 1606" in young.reason
    posthumous = judge(parse_date("1700"), *rembrandt, 50)  # a posthumous portrait, within the allowance
    assert posthumous.verdict == "plausible" and "posthumous" in posthumous.reason
    assert judge(parse_date("1720"), *rembrandt, 50).verdict == "implausible"
    assert judge(parse_date("1720"), *rembrandt, 60).verdict == "plausible"  # the allowance is a setting
    assert judge(parse_date("17th century"), *rembrandt, 50).verdict == "plausible"  # overlaps the life
    assert judge(parse_date("before 1610"), *rembrandt, 50).verdict == "plausible"  # open start
    assert judge(parse_date("before 1600"), *rembrandt, 50).verdict == "implausible"
    assert judge(None, *rembrandt, 50).verdict == "unknown"
    assert judge(parse_date("1640"), None, None, 50).verdict == "unknown"
    assert judge(parse_date("1640"), None, 1669, 50).verdict == "plausible"  # no birth year: no age


def test_implausible_candidates_go_after_plausible_ones_of_equal_evidence():
    from gallery.core.dates import parse_date
    from gallery.search.service import Candidate, _judged

    def candidate(name, score, born, died):
        return Candidate(len(name), name, born, died, score, {}, "confirmed", [])

    ranked = [candidate("Too late", 0.61, 1500, 1550), candidate("Right age", 0.60, 1620, 1680),
              candidate("Far ahead", 0.70, 1500, 1550), candidate("Unknown life", 0.595, None, None), candidate("Weak", 0.5, 1620, 1680)]
    ranked.sort(key=lambda c: -c.score)
    judged = _judged(ranked, parse_date("1650"), 50)
    assert [c.sitter for c in judged] == ["Far ahead", "Right age", "Unknown life", "Too late", "Weak"]
    assert [c.plausibility.verdict for c in judged] == ["implausible", "plausible", "unknown", "implausible", "plausible"]
    assert [c.sitter for c in _judged(ranked, None, 50)] == [c.sitter for c in ranked]  # no date: as ranked


@pytest.fixture(scope="module")
def dated(lfw_dir, onnx_profile, onnx_pipeline, tmp_path_factory):
    """(settings, search service, held-out images, sitter names, sitter folders): see
    tests.collections.build_dated."""
    from gallery.search.service import search_service
    from tests.collections import build_dated

    settings, held_out, names, folders = build_dated(lfw_dir, tmp_path_factory.mktemp("dated"), onnx_profile,
                                                     onnx_pipeline)
    service = search_service(settings)
    service.pipeline = onnx_pipeline  # the models already loaded
    return settings, service, held_out, names, folders


@pytest.mark.slow
def test_search_judges_the_date_and_groups_replicas(dated):
    settings, service, held_out, names, folders = dated
    result = service.search(held_out[0], date="c. 1650")
    top = result.candidates[0]
    assert top.sitter == names[0] and result.date.start == 1645
    payload = result.to_json()["candidates"][0]
    assert payload["plausibility"] == "plausible" and payload["age_at_date"] == "35–45"
    # five files of sitter 0 (three photographs, two copies of one): three works, one with two replicas
    assert len(top.artworks) == 3 and sorted(len(a.replicas) for a in top.artworks) == [0, 0, 2]
    assert payload["works"] == 3 and payload["replicas"] == 2
    grouped = next(a for a in top.artworks if a.replicas)
    assert {Path(r.path).name for r in grouped.replicas} | {Path(grouped.path).name} == \
        {sorted(folders[0].glob("*.jpg"))[0].name, "copy-reencoded.jpg", "copy-resized-cropped.png"}
    judged = {c.sitter: c.plausibility.verdict for c in result.candidates}
    assert judged.get(names[2]) in (None, "implausible") and judged.get(names[3]) in (None, "unknown")
    with pytest.raises(Exception, match="cannot read the date"):
        service.search(held_out[0], date="next tuesday")
    # a collection work is judged against its own catalogued date
    own = service.search(sorted(folders[0].glob("*.jpg"))[1])
    assert own.date is not None and own.date.text == "1645"


@pytest.mark.slow
def test_replica_groups_and_a_curator_split(dated, tmp_path):
    from db.replicas import ReplicaError, decide_replicas
    from gallery.curation.replicas import collection_replicas

    settings, service, held_out, names, folders = dated
    groups = collection_replicas(service)
    assert len(groups) == 1 and len(groups[0].artworks) == 3 and not groups[0].decided
    ids = [a["id"] for a in groups[0].artworks]
    shutil.copytree(settings.data_dir, tmp_path / "data")  # decisions on a copy: the module's data stays
    from dataclasses import replace

    from gallery.search.service import search_service

    copy = search_service(replace(settings, data_dir=tmp_path / "data"))
    copy.pipeline = service.pipeline
    with copy.database.session() as session:
        decide_replicas(session, ids[0], ids[2], False, "anna", "a studio replica on another canvas")
    with copy.database.session() as session, pytest.raises(ReplicaError, match="already recorded"):
        decide_replicas(session, ids[2], ids[0], False, "anna")
    top = copy.search(held_out[0]).candidates[0]
    assert sorted(len(a.replicas) for a in top.artworks) == [0, 0, 0, 1]  # the split one stands alone
    after = collection_replicas(copy)
    assert [len(g.artworks) for g in after] == [2] and after[0].decided is False


@pytest.mark.slow
def test_dossier_json_and_pdf_and_implausible_identifications(dated, tmp_path):
    from pypdf import PdfReader

    from gallery.curation.dossier import DossierError, build_dossier, implausible_identifications
    from gallery.reports.dossier_pdf import write_dossier
    from indexer.status import collection_status

    settings, service, _held_out, names, _folders = dated
    dossier = build_dossier(service.database, names[0], settings.posthumous_years)
    dates = [x.date for x in dossier.likenesses]
    assert dates[:3] == ["c. 1630", "1645", "1660-1665"] and len(dossier.likenesses) == 5  # undated copies last
    assert [x.age for x in dossier.likenesses[:3]] == ["15–25", "35", "50–55"]
    data = json.loads(write_dossier(dossier, tmp_path / "d.json").read_text())
    assert data["sitter"] == names[0] and data["likenesses"][1]["age"] == "35"
    text = " ".join(p.extract_text() for p in PdfReader(write_dossier(dossier, tmp_path / "d.pdf")).pages)
    assert names[0] in text and "1610–1680" in text and "aged 35" in text and "c. 1630" in text
    with pytest.raises(DossierError):
        build_dossier(service.database, "Nobody We Know", 50)
    with pytest.raises(DossierError, match=".pdf or .json"):
        write_dossier(dossier, tmp_path / "d.txt")

    found = implausible_identifications(service.database, settings.posthumous_years)
    assert [(f["sitter"], f["date"]) for f in found] == [(names[1], "c. 1790")]
    assert "more than 50 years after the sitter's death in 1650" in found[0]["reason"]
    assert collection_status(settings, service.database).to_json()["implausible_dates"] == found


@pytest.mark.slow
def test_cli_date_dossier_and_replicas(dated, gallery_cli, tmp_path):
    settings, _service, held_out, names, _folders = dated
    data = tmp_path / "data"
    shutil.copytree(settings.data_dir, data)
    args = ("--config", settings.config_file, "--data-dir", data)
    found = json.loads(gallery_cli("search", held_out[0], "--date", "1750", "--json", *args).stdout)
    first = found["candidates"][0]
    assert first["sitter"] == names[0] and first["plausibility"] == "implausible" and found["date"]["start"] == 1750
    bad = gallery_cli("search", held_out[0], "--date", "soon", *args, check=False)
    assert bad.returncode == 1 and "cannot read the date 'soon'" in bad.stderr
    written = gallery_cli("dossier", names[0], "-o", tmp_path / "d.pdf", *args)
    assert "5 likeness(es)" in written.stdout and (tmp_path / "d.pdf").read_bytes()[:5] == b"%PDF-"
    groups = json.loads(gallery_cli("replicas", "--json", *args).stdout)["groups"]
    a, b = groups[0]["artworks"][0]["id"], groups[0]["artworks"][1]["id"]
    gallery_cli("replicas", "--different", a, b, "--curator", "anna", *args)
    twice = gallery_cli("replicas", "--different", a, b, *args, check=False)
    assert twice.returncode == 1 and "already recorded" in twice.stderr
    status = gallery_cli("status", *args).stdout
    assert "1 identification(s) with a date implausible for the sitter" in status
