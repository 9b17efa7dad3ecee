"""The PDF of a match report, laid out with the shared writer (gallery.reports.pdf)."""

from __future__ import annotations

from db.sitters import life_dates

from gallery.core.version import release
from gallery.evaluation.likelihood import Ratio
from gallery.reports.dossier_pdf import dossier_section
from gallery.reports.pdf import MARGIN, THUMB, Writer, new_writer, score, thumbnail_row

MAX_WORKS = 5  # thumbnails per candidate


def _components(components: dict) -> str:
    return ", ".join(f"{k} {score(v)}" for k, v in components.items())


def render_pdf(report, weights: list[str]) -> bytes:
    out = new_writer()
    r = report.result
    out.line("Portrait Gallery: match report", 16, bold=True, height=9)
    out.line(f"{report.created_at}   curator: {report.curator or '-'}")
    if report.note:
        out.line(f"Note: {report.note}")
    _query(out, report, r)
    _candidates(out, report, r)
    _explanation(out, report, r)
    _unidentified(out, report, r)
    if report.dossier is not None:
        dossier_section(out, report.dossier, f"Dossier of the top candidate: {report.dossier.sitter}"
                        + (f" ({report.dossier.dates})" if report.dossier.dates else ""))
    _provenance(out, report, r, weights)
    return bytes(out.pdf.output())


def _query(out: Writer, report, r: dict) -> None:
    out.line("")
    out.line("Query", 12, bold=True, height=7)
    quality = f", quality {r['query_quality']:.2f}" if r.get("query_quality") is not None else ""
    out.line(f"{r['query']}: face {r['face']} of {len(r['faces'])} (0 = the largest){quality}")
    if r.get("low_quality"):
        out.line(f"Warning: the query face's quality is below {r['quality_floor']:.2f}; the scores are unreliable.",
                 10, bold=True)
    out.room(62)
    top = out.pdf.get_y() + 1
    out.image(report.query_jpeg, MARGIN, top, 55, 58)
    out.image(report.crop_jpeg, MARGIN + 60, top, 30)
    out.pdf.set_y(top + 60)
    if r["no_confident_match"]:
        out.line(f"No confident match: no sitter scores above the threshold {r['threshold']:.2f}.", 11, bold=True)
    else:
        best = r["candidates"][0]
        out.line(f"Best candidate: {best['sitter']} ({score(best['score'])}; threshold {r['threshold']:.2f})",
                 11, bold=True)
    out.line(report.calibration_note, 8)
    _likelihood(out, r)


def _likelihood(out: Writer, r: dict) -> None:
    """The propositions, the reference population and what an LR is and is not; or why none."""
    context = r.get("likelihood") or {"available": False, "reason": "not calibrated"}
    if not context["available"]:
        out.line(f"No likelihood ratio: {context['reason']}.", 8)
        return
    out.line("Likelihood ratios", 10, bold=True, height=6)
    out.line(f"Hp: {context['propositions']['Hp']}.  Hd: {context['propositions']['Hd']}.", 8)
    out.line(f"Calibrated on {context['population']}.", 8)
    out.line(context["explanation"], 8)


def _candidates(out: Writer, report, r: dict) -> None:
    out.line("")
    out.line("Candidate sitters", 12, bold=True, height=7)
    for rank, candidate in enumerate(r["candidates"], start=1):
        out.room(14 + THUMB)
        dates = life_dates(candidate["birth_year"], candidate["death_year"], dash="-")
        dates = f" ({dates})" if dates else ""
        replicas = f" (+{candidate['replicas']} replica(s))" if candidate.get("replicas") else ""
        out.line(f"{rank}. {candidate['sitter']}{dates}   score {score(candidate['score'])}   "
                 f"{candidate['status']}   {len(candidate['artworks'])} matching work(s){replicas}", 10, bold=True)
        if r.get("date"):
            age = f", aged {candidate['age_at_date']}" if candidate.get("age_at_date") else ""
            out.line(f"date {r['date']['text']}: {candidate['plausibility']}{age} ({candidate['plausibility_reason']})", 8)
        if candidate.get("links"):
            out.line("  ".join(f"{k}: {v}" for k, v in sorted(candidate["links"].items())), 7, height=4)
        out.line(f"components: {_components(candidate['components'])}"
                 + (f"   {candidate['false_match']}" if candidate.get("false_match") else ""), 8)
        if candidate.get("search_false_match"):
            out.line(f"in a search: {candidate['search_false_match']}", 8)
        ratio = Ratio.from_json(candidate)
        if ratio is not None:
            out.line(ratio.describe(), 8, bold=True)
        if candidate.get("same_hand"):
            out.line(f"Caution: {candidate['same_hand']}", 8)
        thumbnail_row(out, report.thumbnails, candidate["artworks"][:MAX_WORKS])


EXPLAIN_CROP = 32  # mm, an explanation's overlays


def _explanation(out: Writer, report, r: dict) -> None:
    if not r["candidates"]:
        return
    out.room(30 + EXPLAIN_CROP)
    out.line("")
    out.line(f"Why the top candidate matched: {r['candidates'][0]['sitter']}", 12, bold=True, height=7)
    found = report.explanation
    if found is None:
        out.line(f"No explanation in this report: {report.explanation_note}.", 8)
        return
    out.line(f"Occlusion maps ({found['grid']} x {found['grid']} positions) of the query face and the candidate's best "
             f"matching face (face {found['face_id']}), per component. Red: covering the region lowers the score "
             "(it supports the match); blue: covering it raises the score (it argues against it, as where the "
             "other face differs, is painted over or damaged).", 8)
    for component, (query, match) in zip(found["components"], report.overlays):
        out.room(EXPLAIN_CROP + 6)
        top = out.pdf.get_y() + 1
        out.image(query, MARGIN, top, EXPLAIN_CROP)
        out.image(match, MARGIN + EXPLAIN_CROP + 3, top, EXPLAIN_CROP)
        out.pdf.set_xy(MARGIN + 2 * EXPLAIN_CROP + 8, top)
        out.pdf.set_font(out.family, "B", 9)
        out.pdf.multi_cell(0, 5, out.text(f"{component['component']}: score {score(component['score'])}"),
                           new_x="LMARGIN", new_y="NEXT")
        out.pdf.set_x(MARGIN + 2 * EXPLAIN_CROP + 8)
        out.pdf.set_font(out.family, "", 8)
        out.pdf.multi_cell(0, 4.5, out.text(
            f"query (left): most for {component['query_for']}, most against {component['query_against']}\n"
            f"match (right): most for {component['match_for']}, most against {component['match_against']}"),
            new_x="LMARGIN", new_y="NEXT")
        out.pdf.set_y(top + EXPLAIN_CROP + 3)


def _unidentified(out: Writer, report, r: dict) -> None:
    if not r["unidentified"]:
        return
    out.room(20 + THUMB)
    out.line("")
    out.line("Unidentified faces that resemble the query", 12, bold=True, height=7)
    thumbnail_row(out, report.thumbnails, r["unidentified"][:MAX_WORKS])


def _provenance(out: Writer, report, r: dict, weights: list[str]) -> None:
    out.room(40)
    out.line("")
    out.line("How this was produced", 12, bold=True, height=7)
    fusion = ", ".join(f"{c['name']} x{c['weight']:g}" for c in report.profile["components"])
    out.line(f"{release()}; profile {r['profile']}, embedding set {r['embedding_set']}; fusion: {fusion}", 8)
    for entry in weights:
        out.line(f"weights sha256 {entry}", 7, height=4)
    c = report.collection
    out.line(f"Collection at the time of the report: {c.get('artworks')} artworks, {c.get('faces')} faces, "
             f"{c.get('sitters')} sitters, {c.get('identified_faces')} identified faces.", 8)
