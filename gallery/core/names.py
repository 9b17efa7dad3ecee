"""Names found however they are typed: a sitter's name and aliases compared by Unicode case folding
and without accents, the same on every database (the comparison is made here, not in SQL, whose
`lower()` folds only ASCII on SQLite and all of Unicode on PostgreSQL).

`fold` takes the accents off Latin, Greek and Cyrillic letters (é → e, ё → е, ά → α), the vowel
points off Arabic and Hebrew, and folds case (ß → ss); it leaves the marks that make a different
letter in Japanese kana (が is not か) and in the Indic scripts (their vowel signs and virama).
"""

from __future__ import annotations

import unicodedata

# letters that are not a base letter plus an accent in Unicode, written as a reader would type them
_PLAIN = str.maketrans({"ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ł": "l", "Ł": "l", "ı": "i", "æ": "ae",
                        "Æ": "ae", "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th", "ð": "d", "Ð": "d",
                        "‘": "'", "’": "'", "ʼ": "'", "‐": "-", "–": "-", "—": "-"})
_ACCENT_BLOCKS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F),
                  (0x0591, 0x05C7), (0x0610, 0x061A), (0x064B, 0x065F), (0x0670, 0x0670))


def _accent(char: str) -> bool:
    point = ord(char)
    return any(low <= point <= high for low, high in _ACCENT_BLOCKS)


def written(text: str) -> str:
    """`text` as a name is stored: Unicode NFC (macOS and some catalogues write NFD, é as e plus an
    accent), runs of white space made one space, none at either end."""
    return unicodedata.normalize("NFC", " ".join(str(text).split()))


def fold(text: str) -> str:
    """`text` as names are compared: compatibility-decomposed, accents off, case folded, spaces
    collapsed, recomposed."""
    decomposed = unicodedata.normalize("NFKD", str(text).translate(_PLAIN))
    plain = "".join(c for c in decomposed if not _accent(c)).casefold()
    return unicodedata.normalize("NFC", " ".join(plain.split()))


def match_rank(query: str, name: str, aliases=()) -> int | None:
    """How well `query` finds a sitter: 0 the name as written, 1 the name however typed, 2 an
    alias however typed, 3 the start of the name, 4 inside the name, 5 inside an alias; None when
    it does not."""
    wanted = fold(query)
    if not wanted:
        return None
    folded_name = fold(name)
    folded_aliases = [fold(a) for a in aliases or ()]
    for rank, found in ((0, written(query) == written(name)), (1, wanted == folded_name), (2, wanted in folded_aliases),
                        (3, folded_name.startswith(wanted)), (4, wanted in folded_name),
                        (5, any(wanted in alias for alias in folded_aliases))):
        if found:
            return rank
    return None
