"""Dates as museums write them, parsed into year ranges; a sitter's age and the plausibility of
a work's date for a sitter.

`parse_date` reads catalogue dates into an inclusive range of years, open at one end where the
text is ("before 1662": no earliest year). The rules, in order:

| written                                   | range                                   |
|-------------------------------------------|-----------------------------------------|
| `1650`, `dated 1650`, `1650-03-12`        | 1650–1650                               |
| `c. 1650`, `ca 1650`, `circa 1650`, `about 1650`, `1650?` | 1650 ± `CIRCA` (5) years  |
| `1640-1660`, `1640–60`, `1640/45`, `1640 to 1660`, `between 1640 and 1660`, `1650 or 1651` | as written |
| `1640s`, `early 1640s`, `mid-1640s`, `late 1640s` | 1640–1649, 1640–1643, 1643–1646, 1646–1649 |
| `17th century`, `early/mid/late 17th century` | 1600–1699, 1600–1633, 1633–1666, 1666–1699 |
| `first/second half of the 17th century`   | 1600–1649, 1650–1699                    |
| `first/second/third/fourth quarter of the 17th century` | 1600–1624 … 1675–1699     |
| `before 1662`, `by 1662`, `not after 1662` | open start – 1662                      |
| `after 1650`, `not before 1650`            | 1650 – open end                        |

The same forms are read as French, German, Dutch, Spanish, Italian and Chinese/Japanese catalogues
write them (`_in_english` turns them into the English forms above), for example `vers 1650`,
`um 1650`, `hacia 1650`, `omstreeks 1650`, `1650 ca.`, `1650年頃`; `avant 1662`, `vor 1662`,
`antes de 1662`, `prima del 1662`, `vóór 1662`, `1662年以前`; `entre 1640 et 1660`,
`1640 bis 1660`, `tussen 1640 en 1660`, `dal 1640 al 1660`, `1640年至1660年`; `années 1640`,
`1640er Jahre`, `década de 1640`, `anni 1640`, `1640年代`; `XVIIe siècle`, `17. Jahrhundert`,
`17de eeuw`, `siglo XVII`, `XVII secolo`, `17世紀`, with their parts (`fin du XVIIe siècle`,
`zweite Hälfte des 17. Jahrhunderts`, `mediados del siglo XVII`, `17世紀前半`).

A circa or a range keeps its own circa: `c. 1640-1660` is 1635–1665. Text that names no year
(`undated`, `n.d.`) is None, "unknown". Text that looks like a date but cannot be read raises
DateError, so a curator's typing mistake is never silently ignored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from gallery.core.errors import GalleryError

CIRCA = 5  # years either side of a "circa" date

_CIRCA = r"(?:circa|ca\.?|c\.?|about|around|approximately|approx\.?)"
_SEP = r"\s*(?:-|–|—|/|to|or|and)\s*"
_PART = {"early": (0.0, 1 / 3), "mid": (1 / 3, 2 / 3), "middle": (1 / 3, 2 / 3), "late": (2 / 3, 1.0),
         "first half": (0.0, 0.5), "second half": (0.5, 1.0), "first quarter": (0.0, 0.25),
         "second quarter": (0.25, 0.5), "third quarter": (0.5, 0.75), "fourth quarter": (0.75, 1.0),
         "last quarter": (0.75, 1.0)}
_NO_DATE = {"", "undated", "n.d", "nd", "unknown", "no date", "?", "-"}


class DateError(GalleryError):
    """A date that cannot be read."""


@dataclass(frozen=True)
class DateRange:
    start: int | None  # earliest year, None when open ("before 1662")
    end: int | None  # latest year, None when open ("after 1650")
    text: str

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text}

    def __str__(self) -> str:
        if self.start == self.end:
            return str(self.start)
        return f"{self.start if self.start is not None else '…'}–{self.end if self.end is not None else '…'}"


def parse_date(text: str | None) -> DateRange | None:
    """The range of years `text` means (see the module's table); None when it names no date."""
    if text is None:
        return None
    raw = " ".join(str(text).split())
    value = _in_english(raw.lower().strip(" .,;[]()"))
    value = re.sub(r"^(?:signed and dated|dated|painted|executed|made)\s+", "", value)
    if value in _NO_DATE:
        return None
    circa = bool(re.match(_CIRCA + r"\s*\d", value)) or value.endswith("?")
    value = re.sub(r"^" + _CIRCA + r"\s*", "", value).rstrip("? ").strip()
    found = _read(value)
    if found is None:
        raise DateError(f"cannot read the date {raw!r}; write e.g. 1650, c. 1650, 1640-1660, 1640s, "
                        "before 1662 or 17th century")
    start, end = found
    if start is not None and end is not None and end < start:
        raise DateError(f"the date {raw!r} ends before it starts")
    if circa:
        start, end = (None if start is None else start - CIRCA), (None if end is None else end + CIRCA)
    return DateRange(start, end, raw)


_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}
_ORDINAL = r"(?:e|è|ème|eme|ᵉ|er|de|ste|e\.|°|º)"
# (pattern, English) in order; applied to the lower-cased text
_WORDS = [
    # parts of a century (halves and quarters before "mid": "prima metà"), then the century itself
    (r"\b(?:première|premiere|1re)\s+moitié\s+du\b|\berste\s+hälfte\s+des\b|\beerste\s+helft(?:\s+van\s+de)?\b|"
     r"\bprimera\s+mitad\s+del\b|\bprima\s+metà\s+del\b", "first half of "),
    (r"\b(?:seconde|deuxième|deuxieme|2e)\s+moitié\s+du\b|\bzweite\s+hälfte\s+des\b|"
     r"\btweede\s+helft(?:\s+van\s+de)?\b|\bsegunda\s+mitad\s+del\b|\bseconda\s+metà\s+del\b", "second half of "),
    (r"\bpremier\s+quart\s+du\b|\berstes\s+viertel\s+des\b|\beerste\s+kwart(?:\s+van\s+de)?\b|"
     r"\bprimer\s+cuarto\s+del\b|\bprimo\s+quarto\s+del\b", "first quarter of "),
    (r"\bdernier\s+quart\s+du\b|\bletztes\s+viertel\s+des\b|\blaatste\s+kwart(?:\s+van\s+de)?\b|"
     r"\búltimo\s+cuarto\s+del\b|\bultimo\s+quarto\s+del\b", "last quarter of "),
    (r"\b(?:au\s+)?(?:début|debut)\s+du\b|\banfang\s+des\b|\bfrühe[sn]?\b|\bbegin(?:\s+van\s+de)?\b|"
     r"\b(?:principios|inicios|comienzos)\s+del\b|\binizi[oi]\s+del\b", "early "),
    (r"\bmilieu\s+du\b|\bmitte\s+des\b|\bmidden(?:\s+van\s+de)?\b|\bmediados\s+del\b|\bmetà\s+del\b", "mid "),
    (r"\bfin\s+du\b|\bende\s+des\b|\bspäte[sn]?\b|\beind(?:e)?(?:\s+van\s+de)?\b|\b(?:finales|fines)\s+del\b|"
     r"\bfine\s+del\b", "late "),
    # centuries
    (r"\b(\d{1,2})" + _ORDINAL + r"?\s*(?:siècle|siecle|s\.|eeuw)", r"\1th century"),
    (r"\b([ivxlc]+)" + _ORDINAL + r"?\s*(?:siècle|siecle|s\.|secolo|sec\.)", lambda m: f"{_roman(m[1])}th century"),
    (r"\b(?:siglo|secolo|sec\.|s\.)\s*([ivxlc]+)\b", lambda m: f"{_roman(m[1])}th century"),
    (r"\b(\d{1,2})\.\s*(?:jahrhunderts?|jhdts?\.?|jhd?t?\.?|jh\.?)", r"\1th century"),
    (r"(\d{1,2})\s*世[紀纪]\s*(前半|後半|后半|初頭|初期|初|中葉|中期|中|末期|末)?",
     lambda m: f"{_CJK_PART.get(m[2] or '', '')}{m[1]}th century"),
    # decades
    (r"\b(?:années|annees|jaren|década\s+de|decada\s+de|años|anni)\s+(\d{3}0)\b", r"\1s"),
    (r"\b(\d{3}0)er(?:\s+jahre)?\b", r"\1s"),
    (r"(\d{3}0)\s*年代", r"\1s"),
    # circa, before, after
    (r"^(?:verso(?:\s+il)?|vers|env\.?|environ|autour\s+de|um|etwa|gegen|omstreeks|rond|hacia|h\.|aprox\.?|alrededor\s+de|"
     r"intorno\s+al|約|约)\s*", "c. "),
    (r"^(\d{3,4})\s*年?\s*(?:ca\.?|circa|env\.?|頃|ごろ|左右)$", r"c. \1"),
    (r"^(?:avant|vor|vóór|voor|antes\s+de|prima\s+del?)\s+", "before "),
    (r"^(\d{3,4})\s*年?\s*(?:以前|前)$", r"before \1"),
    (r"^(?:après|apres|nach|na|después\s+de|despues\s+de|dopo(?:\s+il)?)\s+", "after "),
    (r"^(\d{3,4})\s*年?\s*(?:以後|以后|以降|後|后)$", r"after \1"),
    # ranges
    (r"^(?:entre|zwischen|tussen|tra\s+il|fra\s+il)\s+", "between "),
    (r"(\d)\s+(?:et|und|en|y|e(?:\s+il)?)\s+(\d)", r"\1 and \2"),
    (r"^(?:de|von|van|dal|desde)\s+(\d)", r"\1"),
    (r"(\d)\s*年?\s*(?:à|a|bis|tot|al|hasta|至|〜|～|~)\s*(\d)", r"\1-\2"),
    (r"(\d{3,4})\s*年", r"\1"),
]
_CJK_PART = {"前半": "first half of ", "後半": "second half of ", "后半": "second half of ", "初頭": "early ",
             "初期": "early ", "初": "early ", "中葉": "mid ", "中期": "mid ", "中": "mid ", "末期": "late ", "末": "late "}


def _roman(numeral: str) -> int:
    values = [_ROMAN[c] for c in numeral]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def _in_english(value: str) -> str:
    """A catalogue date in another language rewritten in the English forms `_read` knows; English
    text passes unchanged."""
    for pattern, english in _WORDS:
        value = re.sub(pattern, english, value)
    return " ".join(value.split())


def catalogued_date(text: str | None) -> DateRange | None:
    """A date from the catalogue: its range, or None ("unknown") when it cannot be read; the
    indexer reported it when the catalogue came in, and the text is kept as written."""
    try:
        return parse_date(text)
    except DateError:
        return None


def _read(value: str) -> tuple[int | None, int | None] | None:
    if m := re.fullmatch(r"(\d{3,4})(?:-(\d{2})(?:-\d{2})?)?", value):  # 1650, or an ISO date 1650-03-12
        if m.group(2) and int(m.group(2)) > 12:
            return _range(value)  # 1640-60 is a range, not a month
        return int(m.group(1)), int(m.group(1))
    if (found := _range(value)) is not None:
        return found
    if m := re.fullmatch(r"(?:(early|mid|middle|late)[\s-]+)?(\d{3})0s", value):
        decade = int(m.group(2)) * 10
        return _part(decade, 10, m.group(1))
    if m := re.fullmatch(r"(?:(?:the\s+)?(early|mid|middle|late|(?:first|second|third|fourth|last)\s+(?:half|quarter))"
                         r"(?:\s+of)?(?:\s+the)?[\s-]+)?(\d{1,2})(?:st|nd|rd|th)\s+(?:century|c\.?)", value):
        century = (int(m.group(2)) - 1) * 100
        return _part(century, 100, m.group(1))
    if m := re.fullmatch(r"(?:before|by|not after|until|no later than)\s+(\d{3,4})", value):
        return None, int(m.group(1))
    if m := re.fullmatch(r"(?:after|not before|from|no earlier than)\s+(\d{3,4})", value):
        return int(m.group(1)), None
    return None


def _range(value: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"(?:between\s+)?(\d{3,4})" + _SEP + r"(?:" + _CIRCA + r"\s*)?(\d{1,4})", value)
    if not m:
        return None
    first, second = m.group(1), m.group(2)
    if len(second) < len(first):  # 1640-60, 1640/5
        second = first[: len(first) - len(second)] + second
    return int(first), int(second)


def _part(base: int, span: int, part: str | None) -> tuple[int, int]:
    if not part:
        return base, base + span - 1
    low, high = _PART[" ".join(part.split())]
    return base + math.floor(low * span), base + math.ceil(high * span) - 1


@dataclass(frozen=True)
class Plausibility:
    verdict: str  # plausible | implausible | unknown
    age_at_date: str | None  # "34" or "29–39" (None when the birth year or the date is unknown)
    reason: str

    def to_json(self) -> dict:
        return {"plausibility": self.verdict, "age_at_date": self.age_at_date, "plausibility_reason": self.reason}


VERDICT_ORDER = {"plausible": 0, "unknown": 1, "implausible": 2}


def judge(date: DateRange | None, birth: int | None, death: int | None, posthumous_years: int) -> Plausibility:
    """Could a work of `date` portray a sitter born `birth` and dead `death`? Implausible only when
    the work's whole range falls before the birth, or more than `posthumous_years` after the
    death (posthumous portraits are common; the allowance is a setting)."""
    if date is None:
        return Plausibility("unknown", None, "the work's date is not known")
    if birth is None and death is None:
        return Plausibility("unknown", None, "the sitter's life dates are not known")
    age = _age(date, birth, death)
    if birth is not None and date.end is not None and date.end < birth:
        return Plausibility("implausible", None, f"the work ({date}) predates the sitter's birth in {birth}")
    if death is not None and date.start is not None and date.start > death + posthumous_years:
        return Plausibility("implausible", None, f"the work ({date}) is more than {posthumous_years} years after "
                                                 f"the sitter's death in {death}")
    if death is not None and date.start is not None and date.start > death:
        return Plausibility("plausible", None, f"posthumous: the sitter died in {death}, within the "
                                               f"{posthumous_years}-year allowance")
    where = f"aged {age} in {date}" if age else f"the work ({date}) falls within the sitter's known life dates"
    return Plausibility("plausible", age, where)


def _age(date: DateRange, birth: int | None, death: int | None) -> str | None:
    if birth is None or date.start is None or date.end is None:
        return None
    low = max(date.start, birth) - birth
    high = min(date.end, death if death is not None else date.end) - birth
    if high < low:
        return None
    return str(low) if low == high else f"{low}–{high}"
