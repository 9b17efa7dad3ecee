"""A sitter's dossier as a file: the PDF (the sitter, then the timeline of likenesses, one row each
with the face thumbnail) or JSON. `dossier_section` also closes a match report, for its top
candidate."""

from __future__ import annotations

import json
from pathlib import Path

from gallery.core.files import write_atomically
from gallery.core.version import release
from gallery.curation.dossier import Dossier, DossierError
from gallery.reports.formats import file_format
from gallery.reports.pdf import MARGIN, Writer, new_writer, short

ROW = 20  # mm per likeness (the thumbnail's side)


def render_dossier_pdf(dossier) -> bytes:
    out = new_writer()
    out.line("Portrait Gallery: sitter dossier", 16, bold=True, height=9)
    out.line(f"{dossier.created_at}   {release()}", 8)
    dossier_section(out, dossier)
    return bytes(out.pdf.output())


def dossier_section(out: Writer, dossier, title: str | None = None) -> None:
    out.room(30)
    out.line("")
    out.line(title or f"{dossier.sitter}" + (f" ({dossier.dates})" if dossier.dates else ""), 13, bold=True, height=7)
    facts = []
    if dossier.alternative_names:
        facts.append("also: " + "; ".join(dossier.alternative_names))
    if dossier.external_ids:
        facts.append(", ".join(f"{k} {v}" for k, v in sorted(dossier.external_ids.items())))
    if dossier.notes:
        facts.append(dossier.notes)
    for fact in facts:
        out.line(fact, 8)
    portrait = dossier.portrait
    if portrait is not None and portrait.thumbnail:
        out.room(2 * ROW + 2)
        top = out.pdf.get_y() + 1
        out.image(portrait.thumbnail, MARGIN, top, 2 * ROW)
        out.pdf.set_xy(MARGIN + 2 * ROW + 4, top)
        out.pdf.set_font(out.family, "", 8)
        out.pdf.cell(0, 4, out.text(f"The likeness shown for the sitter: face {portrait.face_id}, "
                                    f"{short(portrait.title or Path(portrait.path).name, 60)}"),
                     new_x="LMARGIN", new_y="NEXT")
        out.pdf.set_y(top + 2 * ROW + 1)
    out.line(f"{len(dossier.likenesses)} identified likeness(es), by the work's date:", 9)
    for likeness in dossier.likenesses:
        out.room(ROW + 2)
        top = out.pdf.get_y() + 1
        if likeness.thumbnail:
            out.image(likeness.thumbnail, MARGIN, top, ROW)
        out.pdf.set_xy(MARGIN + ROW + 4, top)
        when = likeness.date or "undated"
        age = f", aged {likeness.age}" if likeness.age else ""
        out.pdf.set_font(out.family, "B", 9)
        out.pdf.cell(0, 5, out.text(f"{when}{age}: {short(likeness.title or Path(likeness.path).name, 70)}"),
                     new_x="LMARGIN", new_y="NEXT")
        out.pdf.set_x(MARGIN + ROW + 4)
        out.pdf.set_font(out.family, "", 8)
        out.pdf.cell(0, 4, out.text(f"{likeness.artist or 'artist unknown'}; face {likeness.face_id}; "
                                    f"{likeness.status} ({likeness.source}"
                                    + (f", {likeness.who}" if likeness.who else "") + f", {likeness.at[:10]})"
                                    + ("; date implausible for the sitter" if likeness.plausibility == "implausible"
                                       else "")), new_x="LMARGIN", new_y="NEXT")
        out.pdf.set_y(top + ROW + 1)


def write_dossier(dossier: Dossier, path: Path) -> Path:
    """The dossier as PDF or JSON, by the file's suffix."""
    if file_format(path, ("pdf", "json"), "a dossier file", DossierError) == "json":
        data = json.dumps(dossier.to_json(), indent=2, ensure_ascii=False).encode("utf-8")
    else:
        data = render_dossier_pdf(dossier)
    return write_atomically(Path(path), data)
