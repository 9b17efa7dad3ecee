"""Fonts for every script a sitter's name is written in, found at run time.

The PDFs print with Noto Sans, a fallback chain of Noto fonts covering the other scripts, and
HarfBuzz text shaping (fpdf2 with uharfbuzz): Arabic letters joined and right to left, Indic
conjuncts formed. The fonts come from Debian's packages (or any folder of fonts named in
`PORTRAIT_GALLERY_FONTS`, searched first):

| scripts | font | Debian package |
|---|---|---|
| Latin, Greek, Cyrillic | NotoSans (DejaVu Sans from matplotlib when Noto is absent) | fonts-noto-core |
| Arabic, Hebrew, Devanagari, Bengali, Tamil, Telugu, Kannada, Malayalam, Gujarati, Gurmukhi, Sinhala, Thai, Georgian, Armenian, Ethiopic | NotoSans<Script> | fonts-noto-core |
| Chinese, Japanese, Korean | NotoSansCJK (the Simplified Chinese face of the collection) | fonts-noto-cjk |

A character that no found font has is never printed blank: `MissingGlyphs` names the characters
and the package that has them.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from gallery.core.errors import GalleryError

SEARCHED = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
CJK_FACE = 2  # in NotoSansCJK-*.ttc: 0 JP, 1 KR, 2 SC, 3 TC, 4 HK


class MissingGlyphs(GalleryError):
    """Text holds characters that none of the found fonts can print."""


@dataclass(frozen=True)
class Script:
    name: str
    family: str  # the font's file name without -Regular/-Bold
    package: str
    face: int = 0  # in a font collection (.ttc)


MAIN = Script("Latin, Greek and Cyrillic", "NotoSans", "fonts-noto-core")
FALLBACKS = tuple(Script(name, f"NotoSans{name}", "fonts-noto-core") for name in (
    "Arabic", "Hebrew", "Devanagari", "Bengali", "Tamil", "Telugu", "Kannada", "Malayalam", "Gujarati",
    "Gurmukhi", "Sinhala", "Thai", "Georgian", "Armenian", "Ethiopic")) + (
    Script("Chinese, Japanese and Korean", "NotoSansCJK", "fonts-noto-cjk", CJK_FACE),)
# which package has a block's characters, to name it when they cannot be printed
BLOCKS = ((0x0370, 0x052F, MAIN), (0x0590, 0x05FF, FALLBACKS[1]), (0x0600, 0x06FF, FALLBACKS[0]),
          (0x0750, 0x077F, FALLBACKS[0]), (0x0900, 0x0DFF, Script("Indic scripts", "NotoSansDevanagari", "fonts-noto-core")), (0x0E00, 0x0E7F, FALLBACKS[11]),
          (0x10A0, 0x10FF, FALLBACKS[12]), (0x1100, 0x11FF, FALLBACKS[-1]), (0x1200, 0x139F, FALLBACKS[14]),
          (0x2E80, 0x9FFF, FALLBACKS[-1]), (0xAC00, 0xD7AF, FALLBACKS[-1]), (0xF900, 0xFAFF, FALLBACKS[-1]),
          (0xFB50, 0xFEFF, FALLBACKS[0]), (0x20000, 0x3FFFF, FALLBACKS[-1]))


@dataclass(frozen=True)
class Font:
    script: Script
    regular: Path
    bold: Path | None

    @property
    def key(self) -> str:
        return self.script.family.lower()


def _folders() -> list[Path]:
    given = [Path(p) for p in os.environ.get("PORTRAIT_GALLERY_FONTS", "").split(os.pathsep) if p]
    return [p.expanduser() for p in (*given, *map(Path, SEARCHED)) if p.expanduser().is_dir()]


@functools.cache
def _files(folders: tuple[Path, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.suffix.lower() in (".ttf", ".otf", ".ttc"):
                found.setdefault(path.name, path)
    return found


def _font(script: Script, files: dict[str, Path]) -> Font | None:
    for suffix in (".ttf", ".otf", ".ttc"):
        regular = files.get(f"{script.family}-Regular{suffix}")
        if regular:
            return Font(script, regular, files.get(f"{script.family}-Bold{suffix}"))
    return None


def available() -> tuple[Font | None, list[Font]]:
    """The main font (None when Noto Sans is absent) and the fallbacks found, in order."""
    files = _files(tuple(_folders()))
    return _font(MAIN, files), [f for f in (_font(s, files) for s in FALLBACKS) if f]


@functools.cache
def coverage(path: Path, face: int = 0) -> frozenset[int]:
    """The code points a font file has glyphs for."""
    from fontTools.ttLib import TTFont

    with TTFont(str(path), fontNumber=face, lazy=True) as font:
        return frozenset(font.getBestCmap() or {})


def package_for(char: str) -> str:
    point = ord(char)
    for low, high, script in BLOCKS:
        if low <= point <= high:
            return f"{script.package} ({script.name})"
    return "a font that has it (fonts-noto-core, fonts-noto-extra)"


def missing(text: str, covered: list[frozenset[int]]) -> list[str]:
    """The characters of `text` that no font of `covered` has (spaces and controls aside)."""
    return sorted({c for c in text if not c.isspace() and ord(c) >= 32 and c not in "\u200c\u200d\u200e\u200f"
                   and not any(ord(c) in font for font in covered)})


def explain_missing(chars: list[str]) -> str:
    by_package: dict[str, list[str]] = {}
    for char in chars:
        by_package.setdefault(package_for(char), []).append(char)
    needs = "; ".join(f"{''.join(found)} needs {package}" for package, found in by_package.items())
    return (f"no font found prints {''.join(chars)!r}: {needs}. Install the Debian package named "
            "(apt-get install ...) or put the Noto fonts in a folder named by PORTRAIT_GALLERY_FONTS")
