"""Match reports: what a search found, with the evidence and what produced it, as PDF, CSV or JSON.

A report records the query (image and aligned crop), the face searched, the ranked candidate
sitters with their scores, component scores and matching works (with face thumbnails), the
threshold and the calibration note, the profile with the sha256 of every weights file, a
snapshot of the collection, the curator's name and note, and the time; and why the top candidate
matched (gallery.curation.explain: the occlusion maps of the query face and the candidate's best matching
face, per component) unless the report is asked for without it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from db.collection import collection_counts, face_thumbnails
from db.sitters import portraits_of

from gallery.core.version import release
from gallery.reports.formats import file_format
from gallery.faces.align import thumbnail_crop
from gallery.curation.dossier import Dossier, build_dossier
from gallery.core.errors import GalleryError
from gallery.core.files import write_atomically
from gallery.faces.images import encode_jpeg
from gallery.search.service import SearchResult, SearchService

FORMATS = ("pdf", "csv", "json")
UNCALIBRATED = ("Scores are cosine similarities of the fused vectors, not probabilities; no calibration "
                "of false-match rates exists for this embedding set yet.")


class ReportError(GalleryError):
    """A report that cannot be written."""


@dataclass(frozen=True)
class MatchReport:
    created_at: str
    curator: str | None
    note: str | None
    result: dict  # SearchResult.to_json()
    profile: dict  # ProfileInfo.to_json(): components, weights sha256, fusion
    collection: dict  # counts at the time of the report
    calibration_note: str
    query_jpeg: bytes = field(repr=False)
    crop_jpeg: bytes = field(repr=False)
    thumbnails: dict[int, bytes] = field(default_factory=dict, repr=False)  # face id -> JPEG
    dossier: Dossier | None = None  # the top candidate's likenesses (gallery.curation.dossier)
    explanation: dict | None = None  # Explanation.to_json() for the top candidate's best face, and its face_id
    explanation_note: str = ""  # why there is none, when there is none
    overlays: list[tuple[bytes, bytes]] = field(default_factory=list, repr=False)  # per component: query, match JPEG

    def to_json(self) -> dict:
        return {"report": "portrait-gallery match report", "release": release(), "created_at": self.created_at,
                "curator": self.curator,
                "note": self.note, "calibration_note": self.calibration_note, "model": self.profile,
                "collection": self.collection, **self.result,
                "top_candidate_dossier": self.dossier.to_json() if self.dossier else None,
                "top_candidate_explanation": self.explanation, "explanation_note": self.explanation_note}


def build_report(service: SearchService, result: SearchResult, curator: str | None = None,
                 note: str | None = None, explain_grid: int | None = None) -> MatchReport:
    """`explain_grid`: the explanation's grid (None: the settings' explain_grid; 0: no explanation)."""
    view = result.view  # made with the search: the upload is not decoded again
    overview = thumbnail_crop(view.picture, (0, 0, view.picture.shape[1], view.picture.shape[0]), 800, margin=1.0)
    face_ids = [a.face_id for c in result.candidates for a in c.artworks] + [u.face_id for u in result.unidentified]
    with service.database.session() as session:
        counts = collection_counts(session)
        thumbs = face_thumbnails(session, face_ids)
        portrait = portraits_of(session, [c.sitter_id for c in result.candidates])
    answer = result.to_json()
    for candidate in answer["candidates"]:  # the face the sitter's dossier shows, as the PDF does
        candidate["portrait_face_id"] = portrait.get(candidate["sitter_id"])
    dossier = build_dossier(service.database, result.candidates[0].sitter, service.posthumous_years) \
        if result.candidates else None
    explanation, explanation_note, overlays = _explanation(service, result, explain_grid)
    return MatchReport(datetime.now(timezone.utc).isoformat(timespec="seconds"), curator, note, answer,
                       service.pipeline.info().to_json(), {k: v for k, v in counts.items() if k != "last_run"},
                       _calibration_note(result.calibration), encode_jpeg(overview),
                       encode_jpeg(view.crops[result.face]), thumbs, dossier, explanation, explanation_note, overlays)


def explain_grid_for(path: Path | str, grid: int | None = None) -> int | None:
    """The explanation grid a report written to `path` asks for: none for a CSV, which has no
    room for the maps (so they are not computed), else `grid` (None: the settings')."""
    return 0 if Path(path).suffix.lower() == ".csv" else grid


def _explanation(service: SearchService, result: SearchResult, grid: int | None):
    """The top candidate's explanation, a note when there is none, and its overlays."""
    from gallery.curation.explain import ExplainError, explain_match, overlays

    if grid == 0:
        return None, "not asked for", []
    if not result.candidates:
        return None, "no candidate to explain", []
    face_id = result.candidates[0].artworks[0].face_id
    try:
        found = explain_match(service, result, face_id, grid)
    except ExplainError as err:
        return None, str(err), []
    pictures = [(encode_jpeg(query), encode_jpeg(match)) for query, match in overlays(found)]
    return {**found.to_json(), "face_id": face_id}, "", pictures


def _calibration_note(calibration) -> str:
    if calibration is None:
        return UNCALIBRATED
    note = (f"Scores are cosine similarities of the fused vectors. Calibrated on {calibration.sitters} labelled "
            f"sitters ({calibration.impostor_pairs:,} impostor pairs, {calibration.created_at}): each candidate "
            "shows the estimated rate of false matches at its score for one pair of faces")
    if not calibration.search_rates:
        return note + f". No search rate: {calibration.why_no_search_rates()}."
    return (note + f", and for a whole search: the chance that a person the collection does not hold would get a "
            f"candidate scoring as high when every identified face is compared (measured by "
            f"{calibration.searches['non_mated']:,} searches with the sitter left out, as an upper 95 % bound).")


def write_report(report: MatchReport, path: Path) -> Path:
    path = Path(path)
    kind = file_format(path, FORMATS, "the report file", ReportError)
    return write_atomically(path, {"json": _json_bytes, "csv": _csv_bytes, "pdf": _pdf_bytes}[kind](report))


def _json_bytes(report: MatchReport) -> bytes:
    return (json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n").encode()


LR_COLUMNS = ("likelihood_ratio", "log10_lr", "verbal", "likenesses")
CSV_COLUMNS = ("rank", "sitter", "portrait_face_id", "sitter_score", "false_match", "search_false_match", *LR_COLUMNS,
               "status", "face_id", "artwork", "title", "artist", "date", "match_score", "components", "iiif_link",
               "query", "face", "threshold", "no_confident_match", "profile", "embedding_set", "weights_sha256",
               "collection_faces", "curator", "note", "created_at", "release")


def _csv_bytes(report: MatchReport) -> bytes:
    r = report.result
    common = {"query": r["query"], "face": r["face"], "threshold": r["threshold"],
              "no_confident_match": r["no_confident_match"], "profile": r["profile"],
              "embedding_set": r["embedding_set"], "weights_sha256": " ".join(_weights(report.profile)),
              "collection_faces": report.collection.get("faces"), "curator": report.curator or "",
              "note": report.note or "", "created_at": report.created_at, "release": release()}
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS)
    writer.writeheader()
    for rank, candidate in enumerate(r["candidates"], start=1):
        for artwork in candidate["artworks"]:
            writer.writerow({**common, "rank": rank, "sitter": candidate["sitter"],
                             "portrait_face_id": candidate.get("portrait_face_id") or "",
                             "sitter_score": candidate["score"],
                             "false_match": candidate["false_match"] or "",
                             "search_false_match": candidate.get("search_false_match") or "",
                             **{k: "" if candidate.get(k) is None else candidate[k] for k in LR_COLUMNS},
                             "status": artwork["status"],
                             **_artwork_columns(artwork)})
    for artwork in r["unidentified"]:
        writer.writerow({**common, "rank": "", "sitter": "(unidentified)", "portrait_face_id": "", "sitter_score": "",
                         "false_match": "", "search_false_match": "", **dict.fromkeys(LR_COLUMNS, ""), "status": "",
                         **_artwork_columns(artwork)})
    return out.getvalue().encode()


def _artwork_columns(artwork: dict) -> dict:
    return {"face_id": artwork["face_id"], "artwork": artwork["path"], "title": artwork["title"] or "",
            "artist": artwork["artist"] or "", "date": artwork["date"] or "", "match_score": artwork["score"],
            "components": json.dumps(artwork["components"]), "iiif_link": artwork.get("iiif_link") or ""}


def _weights(profile: dict) -> list[str]:
    out = [f"detector:{profile['detector']['sha256']}"]
    for encoder in profile["encoders"]:
        out += [f"{encoder['name']}:{sha}" for sha in encoder["weights"].values()] or [f"{encoder['name']}:random-init"]
    return out


def _pdf_bytes(report: MatchReport) -> bytes:
    from gallery.reports.match_pdf import render_pdf

    return render_pdf(report, _weights(report.profile))
