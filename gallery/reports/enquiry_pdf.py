"""The PDF of an enquiry: a summary table (one line per query face), then one section per query
with its ranked candidates and the face thumbnail of each candidate's best matching work."""

from __future__ import annotations

from datetime import datetime, timezone

from db.collection import face_thumbnails

from gallery.core.version import release
from gallery.reports.pdf import THUMB, Writer, new_writer, short, thumbnail_row

SUMMARY_COLUMNS = (("query", 62), ("face", 10), ("best candidate", 48), ("score", 14), ("false matches", 46))
SECTION_CANDIDATES = 5


def render_enquiry_pdf(enquiry, service=None) -> bytes:
    out = new_writer()
    counts = enquiry.counts()
    out.line("Portrait Gallery: enquiry", 16, bold=True, height=9)
    out.line(f"{enquiry.source}   {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    out.line(f"{counts['queries']} image(s), {counts['faces_searched']} face(s) searched, {counts['confident']} with a "
             f"confident match, {counts['no_face']} without a face, {counts['failed']} unreadable. Profile "
             f"{enquiry.profile}, embedding set {enquiry.embedding_set}; {release()}.", 8)
    _summary(out, enquiry)
    thumbs = _thumbnails(enquiry, service)
    for outcome in enquiry.outcomes:
        _section(out, outcome, thumbs)
    return bytes(out.pdf.output())


def _cells(out: Writer, values, bold: bool = False) -> None:
    out.room(6)
    out.pdf.set_font(out.family, "B" if bold else "", 7)
    for (_name, width), value in zip(SUMMARY_COLUMNS, values):
        out.pdf.cell(width, 5, out.text(short(str(value), int(width / 1.4))), border=1)
    out.pdf.ln(5)


def _summary(out: Writer, enquiry) -> None:
    out.line("")
    out.line("Summary", 12, bold=True, height=7)
    _cells(out, [name for name, _ in SUMMARY_COLUMNS], bold=True)
    for outcome in enquiry.outcomes:
        if outcome.problem is not None:
            _cells(out, [outcome.query, "", outcome.problem, "", ""])
            continue
        for result in outcome.results:
            best = result.candidates[0] if result.candidates else None
            verdict = "no candidate" if best is None else (
                best.sitter + (" (below threshold)" if result.no_confident_match else ""))
            _cells(out, [outcome.query, result.face, verdict, f"{best.score:.3f}" if best else "",
                         (best.false_match or "") if best else ""])


def _thumbnails(enquiry, service) -> dict[int, bytes]:
    if service is None:
        return {}
    wanted = [c.artworks[0].face_id for o in enquiry.outcomes for r in o.results
              for c in r.candidates[:SECTION_CANDIDATES]]
    with service.database.session() as session:
        return face_thumbnails(session, wanted)


def _section(out: Writer, outcome, thumbs: dict[int, bytes]) -> None:
    out.room(20)
    out.line("")
    out.line(outcome.query, 11, bold=True, height=6)
    if outcome.problem is not None:
        out.line(outcome.problem, 9)
        return
    for result in outcome.results:
        out.line(f"face {result.face} of {len(result.faces)}"
                 + ("; no confident match" if result.no_confident_match else ""), 9, bold=True)
        shown = result.candidates[:SECTION_CANDIDATES]
        for rank, cand in enumerate(shown, start=1):
            out.line(f"{rank}. {cand.sitter}   {cand.score:.3f}   {cand.status}   {len(cand.artworks)} work(s)"
                     + (f"   {cand.false_match}" if cand.false_match else ""), 8, height=4)
            if cand.search_false_match:
                out.line(f"    in a search: {cand.search_false_match}", 7, height=4)
            if cand.likelihood is not None:
                out.line(f"    {cand.likelihood.describe()}", 7, height=4)
            if cand.same_hand:
                out.line(f"    Caution: {cand.same_hand}", 7, height=4)
        if shown:
            out.room(THUMB + 10)
            thumbnail_row(out, thumbs, [cand.artworks[0].to_json() for cand in shown])
