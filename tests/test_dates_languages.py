"""Catalogue dates as French, German, Dutch, Spanish, Italian, Chinese and Japanese catalogues write
them, read into the same ranges as their English forms (gallery.core.dates)."""

from __future__ import annotations

import pytest

from gallery.core.dates import DateError, parse_date

CASES = {
    # circa: 1650 +/- 5
    "vers 1650": (1645, 1655), "env. 1650": (1645, 1655), "um 1650": (1645, 1655), "1650 ca.": (1645, 1655),
    "omstreeks 1650": (1645, 1655), "hacia 1650": (1645, 1655), "h. 1650": (1645, 1655),
    "verso il 1650": (1645, 1655), "circa 1650": (1645, 1655), "1650年頃": (1645, 1655), "约1650年": (1645, 1655),
    "1650年": (1650, 1650),
    # before, after
    "avant 1662": (None, 1662), "vor 1662": (None, 1662), "vóór 1662": (None, 1662), "antes de 1662": (None, 1662),
    "prima del 1662": (None, 1662), "1662年以前": (None, 1662),
    "après 1650": (1650, None), "nach 1650": (1650, None), "na 1650": (1650, None),
    "después de 1650": (1650, None), "dopo il 1650": (1650, None), "1650年以後": (1650, None),
    # ranges
    "entre 1640 et 1660": (1640, 1660), "de 1640 à 1660": (1640, 1660), "zwischen 1640 und 1660": (1640, 1660),
    "1640 bis 1660": (1640, 1660), "von 1640 bis 1660": (1640, 1660), "tussen 1640 en 1660": (1640, 1660),
    "van 1640 tot 1660": (1640, 1660), "entre 1640 y 1660": (1640, 1660), "de 1640 a 1660": (1640, 1660),
    "tra il 1640 e il 1660": (1640, 1660), "dal 1640 al 1660": (1640, 1660), "1640年至1660年": (1640, 1660),
    "1640〜1660年": (1640, 1660), "vers 1640-1660": (1635, 1665),
    # decades
    "années 1640": (1640, 1649), "1640er Jahre": (1640, 1649), "jaren 1640": (1640, 1649),
    "década de 1640": (1640, 1649), "anni 1640": (1640, 1649), "1640年代": (1640, 1649),
    # centuries and their parts
    "XVIIe siècle": (1600, 1699), "XVIIᵉ siècle": (1600, 1699), "17e siècle": (1600, 1699),
    "fin du XVIIe siècle": (1666, 1699), "début du XVIIe siècle": (1600, 1633),
    "milieu du XVIIe siècle": (1633, 1666), "première moitié du XVIIe siècle": (1600, 1649),
    "seconde moitié du XIXe siècle": (1850, 1899), "XVe siècle": (1400, 1499),
    "17. Jahrhundert": (1600, 1699), "17. Jh.": (1600, 1699), "Anfang des 17. Jahrhunderts": (1600, 1633),
    "Mitte des 17. Jahrhunderts": (1633, 1666), "zweite Hälfte des 17. Jahrhunderts": (1650, 1699),
    "17de eeuw": (1600, 1699), "eerste helft 17de eeuw": (1600, 1649), "eind 17de eeuw": (1666, 1699),
    "siglo XVII": (1600, 1699), "mediados del siglo XVII": (1633, 1666), "finales del siglo XVII": (1666, 1699),
    "primera mitad del siglo XVII": (1600, 1649),
    "XVII secolo": (1600, 1699), "secolo XVII": (1600, 1699), "sec. XVII": (1600, 1699),
    "fine del XVII secolo": (1666, 1699), "prima metà del XVII secolo": (1600, 1649),
    "17世紀": (1600, 1699), "17世纪": (1600, 1699), "17世紀前半": (1600, 1649), "17世紀後半": (1650, 1699),
    "17世紀末": (1666, 1699),
}


@pytest.mark.parametrize("text,expected", list(CASES.items()))
def test_a_catalogue_date_in_its_own_language(text, expected):
    found = parse_date(text)
    assert (found.start, found.end) == expected and found.text == text


@pytest.mark.parametrize("text", ["c. 1650", "1640-1660", "late 17th century", "before 1662", "1640s", "1650 or 1651",
                                  "between 1640 and 1660", "first half of the 17th century", "dated 1650"])
def test_english_forms_read_as_before(text):
    assert parse_date(text) is not None


@pytest.mark.parametrize("text", ["vers quelque temps", "um Mitternacht", "siglo de oro"])
def test_words_without_a_year_are_still_refused(text):
    with pytest.raises(DateError, match="cannot read the date"):
        parse_date(text)


def test_an_unreadable_catalogue_date_is_kept_and_reported_once(tmp_path):
    from gallery.core.dates import catalogued_date
    from indexer.metadata import read_artwork_csv

    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "b.jpg").write_bytes(b"")
    csv = tmp_path / "works.csv"
    csv.write_text("file,title,date\na.jpg,Portrait,vers 1650\nb.jpg,Bildnis,zur Zeit Karls V.\n", encoding="utf-8")
    found, problems = read_artwork_csv(csv, tmp_path)
    assert found["b.jpg"].fields["date"] == "zur Zeit Karls V."  # the artwork and its text are kept
    assert [p.message for p in problems] == [
        "cannot read the date 'zur Zeit Karls V.'; write e.g. 1650, c. 1650, 1640-1660, 1640s, before 1662 or "
        "17th century; kept as text, the work's date counts as unknown"]
    assert catalogued_date("zur Zeit Karls V.") is None and catalogued_date("vers 1650").start == 1645
