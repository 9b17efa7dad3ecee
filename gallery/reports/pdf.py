"""The PDF layout every report shares (fpdf2): an A4 page writer that prints every script (Noto
fonts with a fallback chain and HarfBuzz shaping, `gallery.reports.fonts`), and the row of face
thumbnails. The match report, the dossier and the enquiry results are laid out with it.

Every string goes through `Writer.text`, which registers the fallback font a script needs the
first time it appears (a report in Latin script never loads the CJK font) and raises MissingGlyphs,
naming the package to install, for a character no found font has: never a blank."""

from __future__ import annotations

import io
from pathlib import Path

from gallery.core.errors import GalleryError

MARGIN = 15
THUMB = 24  # mm, face thumbnails


def _font_file() -> Path | None:
    try:
        import matplotlib

        path = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        return path if path.exists() else None
    except ImportError:
        return None


class Writer:
    def __init__(self):
        from fpdf import FPDF

        from gallery.reports.fonts import available, coverage

        self.pdf = FPDF(format="A4")
        self.pdf.set_margins(MARGIN, MARGIN)
        self.pdf.set_auto_page_break(True, MARGIN)
        self.pdf.add_page()
        main, self._fallbacks = available()
        regular, bold = (main.regular, main.bold) if main else (_font_file(), None)
        self._covered: list = []
        self._used: list[str] = []
        if regular is not None:
            self.pdf.add_font("body", "", str(regular))
            bold = bold or regular.with_name("DejaVuSans-Bold.ttf")
            self.pdf.add_font("body", "B", str(bold if bold.exists() else regular))
            self.family, self.unicode = "body", True
            self._covered.append(coverage(regular))
            _shaping(self.pdf)
        else:
            self.family, self.unicode = "helvetica", False

    def text(self, value: str) -> str:
        """`value` ready to print: the fonts its scripts need registered; MissingGlyphs when a
        character has none."""
        if not self.unicode:
            return value.encode("latin-1", "replace").decode("latin-1")
        from gallery.reports.fonts import MissingGlyphs, coverage, explain_missing, missing

        lacking = missing(value, self._covered)
        for font in self._fallbacks if lacking else ():
            have = coverage(font.regular, font.script.face)
            if font.key not in self._used and any(ord(c) in have for c in lacking):
                self._register(font)
                self._covered.append(have)
                lacking = missing(value, self._covered)
        if lacking:
            raise MissingGlyphs(explain_missing(lacking))
        return value

    def _register(self, font) -> None:
        for style, path in (("", font.regular), ("B", font.bold or font.regular)):
            self.pdf.add_font(font.key, style, str(path), collection_font_number=font.script.face)
        self._used.append(font.key)
        self.pdf.set_fallback_fonts(self._used, exact_match=False)

    def line(self, value: str, size: float = 9, bold: bool = False, height: float = 5) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)
        self.pdf.multi_cell(0, height, self.text(value), new_x="LMARGIN", new_y="NEXT")

    def image(self, jpeg: bytes, x: float, y: float, w: float, h: float | None = None, link: str = "") -> None:
        """Fit the image in a w x h box (h = w: a square), keeping its proportions; `link` opens on a click."""
        self.pdf.image(io.BytesIO(jpeg), x=x, y=y, w=w, h=h or w, keep_aspect_ratio=True, link=link)

    def room(self, height: float) -> None:
        if self.pdf.get_y() + height > self.pdf.h - MARGIN:
            self.pdf.add_page()


def _shaping(pdf) -> None:
    """HarfBuzz text shaping (joined Arabic, right-to-left runs, Indic conjuncts) when uharfbuzz is
    installed, as it is with the product."""
    try:
        import uharfbuzz  # noqa: F401
    except ImportError:
        return
    pdf.set_text_shaping(True)


def score(value: float) -> str:
    return f"{value:.3f}"


def short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def new_writer() -> Writer:
    """A writer on a first empty page; a clear error where fpdf2 is missing."""
    try:
        return Writer()
    except ImportError as err:
        raise GalleryError(f"PDF reports need fpdf2 ({err}); pip install fpdf2") from None


def thumbnail_row(out: Writer, thumbnails: dict[int, bytes], artworks: list[dict]) -> None:
    """Face thumbnails side by side, each with its match score and file name; a work from IIIF
    links (its picture and the words "open in viewer") to the face in the museum's viewer."""
    top = out.pdf.get_y() + 1
    for i, artwork in enumerate(artworks):
        x = MARGIN + i * (THUMB + 10)
        link = artwork.get("iiif_link") or ""
        jpeg = thumbnails.get(artwork["face_id"])
        if jpeg:
            out.image(jpeg, x, top, THUMB, link=link)
        out.pdf.set_xy(x, top + THUMB + 0.5)
        out.pdf.set_font(out.family, "", 6)
        out.pdf.cell(THUMB + 8, 3, out.text(score(artwork["score"]) + ("  open in viewer" if link else "")), link=link)
        out.pdf.set_xy(x, top + THUMB + 3.5)
        out.pdf.cell(THUMB + 8, 3, out.text(short(Path(artwork["path"]).name, 24)))
    out.pdf.set_xy(MARGIN, top + THUMB + 8)
