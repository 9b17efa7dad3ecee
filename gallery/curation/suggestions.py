"""Suggestions: for every face still to review, the sitter the collection's evidence points to.

For each face to review (db.review), its nearest faces in the set's vector index are read, most
similar first; faces of the same artwork are skipped (one painting's faces are different people),
and so are sitters a curator has rejected for this face. The first neighbour that carries
evidence (a curator's or the catalogue's identification) gives the suggested sitter, its score
and the matching face. With a calibration each score's rates are given too: the pair rate, and
the search rate (gallery.evaluation.calibration): the chance that a face of someone the collection
does not hold would get a suggestion scoring this high, with this many identified faces to compare
it with. A suggestion is the best of that many comparisons, so the search rate is the one that
`--max-false-match` and accepting in bulk use, and the expected number of wrong identifications
among the accepted is at most (faces searched) x (the search rate of the weakest accepted). Most
confident first.

A curator then accepts (confirmed, source `curator`), rejects (rejected, source `curator`: the
next suggestion for that face is another sitter) or skips each one. Suggestions may also be
stored as `probable`, source `model`: they never displace a record that exists for the pair,
and they are never used as evidence for further suggestions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from sqlalchemy import select

from db.decisions import confirm_faces
from db.identifications import identify
from db.review import Evidence, ReviewFace, artworks_of_faces, faces_to_review, read_evidence
from db.schema import Identification, Sitter

from gallery.core.errors import GalleryError

NEIGHBOURS = 50  # nearest faces read per face to review
CHUNK = 1024  # faces searched per FAISS call


class SuggestionError(GalleryError):
    """Suggestions that cannot be computed or acted on as asked."""


@dataclass(frozen=True)
class Suggestion:
    face_id: int
    artwork_id: int
    face_index: int
    path: str
    title: str | None
    sitter_id: int
    sitter: str
    score: float
    evidence_face_id: int  # the sitter's face that matched best
    evidence_status: str
    false_match_rate: float | None = None  # pair rate
    false_match: str | None = None
    search_false_match_rate: float | None = None  # search rate (FPIR), the one bulk decisions use
    search_false_match: str | None = None

    def to_json(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Suggestions:
    suggestions: list[Suggestion]  # most confident first, after the filters
    to_review: int  # faces to review, with or without a suggestion
    without_suggestion: int  # faces to review whose neighbours carry no usable evidence
    calibrated: bool
    compared_faces: int = 0  # identified faces (evidence) each face was compared with
    search_rates: bool = False  # the calibration gives search rates

    def expected_wrong(self, chosen: list[Suggestion]) -> float:
        """At most this many of `chosen` are expected to name the wrong sitter: every face
        searched had at most the weakest chosen one's search rate of reaching its score with a
        wrong sitter."""
        rates = [s.search_false_match_rate for s in chosen]
        if not chosen or None in rates:
            return float(len(chosen))
        return min(float(len(chosen)), self.to_review * max(rates))

    def describe_expected_wrong(self, chosen: list[Suggestion]) -> str:
        return (f"at most about {self.expected_wrong(chosen):.1f} of them are expected to name the wrong sitter "
                f"({self.to_review:,} faces searched)")

    def to_json(self) -> dict:
        return {"to_review": self.to_review, "without_suggestion": self.without_suggestion,
                "calibrated": self.calibrated, "compared_faces": self.compared_faces,
                "search_rates": self.search_rates, "suggestions": [s.to_json() for s in self.suggestions]}


def suggest(service, min_score: float | None = None, max_false_match: float | None = None,
            limit: int | None = None, neighbours: int = NEIGHBOURS) -> Suggestions:
    """The best candidate sitter of every face to review (`service` is a gallery.search.service.SearchService)."""
    calibration = service.calibration()
    if max_false_match is not None and calibration is None:
        raise SuggestionError("false-match rates need a calibration; run `gallery calibrate` first, "
                              "or filter by score (--min-score)")
    if max_false_match is not None and not calibration.search_rates:
        raise SuggestionError(f"no search rates: {calibration.why_no_search_rates()}; filter by score (--min-score)")
    index = service.index()
    with service.database.session() as session:
        evidence = read_evidence(session)
        faces = faces_to_review(session, service.embedding_set.id, evidence)
        artwork_of = artworks_of_faces(session)
        names = dict(session.execute(select(Sitter.id, Sitter.name)).all())
    in_index = set(index.ids.tolist())
    faces = [f for f in faces if f.face_id in in_index]
    compared = len(in_index & set(evidence.labels))
    if max_false_match is not None:
        _check_rate(calibration, max_false_match, compared)
    found: list[Suggestion] = []
    for start in range(0, len(faces), CHUNK):
        chunk = faces[start:start + CHUNK]
        scores, ids = index.search(index.vectors_for([f.face_id for f in chunk]), neighbours + 1)
        for face, row_scores, row_ids in zip(chunk, scores, ids):
            best = _best(face, row_scores, row_ids, evidence, artwork_of)
            if best is not None:
                sitter_id, score, evidence_face, status = best
                found.append(Suggestion(face.face_id, face.artwork_id, face.face_index, face.path, face.title,
                                        sitter_id, names[sitter_id], score, evidence_face, status))
    if calibration is not None:
        found = [replace(s, **asdict(calibration.rates_at(s.score, compared))) for s in found]
    kept = [s for s in found if (min_score is None or s.score >= min_score)]
    if max_false_match is not None:
        kept = at_rate(kept, max_false_match)
    kept.sort(key=lambda s: (-s.score, s.face_id))
    return Suggestions(kept[:limit] if limit else kept, len(faces), len(faces) - len(found), calibration is not None,
                       compared, calibration is not None and calibration.search_rates)


def _check_rate(calibration, rate: float, compared: int) -> None:
    if not 0 < rate < 1:
        raise SuggestionError(f"a false-match rate is a fraction between 0 and 1, not {rate:g}")
    finest = calibration.finest_search_rate(compared)
    if rate < finest:
        raise SuggestionError(
            f"the calibration rests on {calibration.searches['non_mated']:,} searches; against {compared:,} identified "
            f"faces it can show search rates down to {finest:.3g}, not {rate:g}. Ask for at least {finest:.3g}, or "
            "confirm more faces and run `gallery calibrate` again")


def at_rate(suggestions: list[Suggestion], rate: float) -> list[Suggestion]:
    """The suggestions whose search rate is at most `rate` (none without search rates)."""
    return [s for s in suggestions if s.search_false_match_rate is not None and s.search_false_match_rate <= rate]


def _best(face: ReviewFace, scores, ids, evidence: Evidence, artwork_of: dict[int, int]):
    for score, other in zip(scores, ids):
        other = int(other)
        if other < 0 or other == face.face_id or artwork_of.get(other) in (None, face.artwork_id):
            continue
        for sitter_id, status in evidence.labels.get(other, ()):
            if (face.face_id, sitter_id) not in evidence.rejected:
                return sitter_id, float(score), other, status
    return None


def accept(service, suggestions: list[Suggestion], who: str | None, note: str | None = None) -> int:
    """Confirm each suggested sitter for its face (source `curator`): all of them or none."""
    return _decide(service, suggestions, "confirmed", who, note or "accepted suggestion")


def reject(service, suggestions: list[Suggestion], who: str | None, note: str | None = None) -> int:
    """Record that each suggested sitter is not the face's (source `curator`): all or none."""
    return _decide(service, suggestions, "rejected", who, note or "rejected suggestion")


def _decide(service, suggestions: list[Suggestion], status: str, who, note) -> int:
    if not suggestions:
        raise SuggestionError("no suggestion to act on; nothing was recorded")
    by_sitter: dict[int, list[int]] = {}
    for suggestion in suggestions:
        by_sitter.setdefault(suggestion.sitter_id, []).append(suggestion.face_id)
    with service.database.session() as session:
        evidence = read_evidence(session)
        settled = [s.face_id for s in suggestions if s.face_id in evidence.settled]
        if settled:
            raise SuggestionError(f"face {settled[0]} was identified meanwhile; nothing was recorded")
        for sitter_id, face_ids in by_sitter.items():
            confirm_faces(session, face_ids, sitter_id, who, note, status=status)
    return len(suggestions)


def for_faces(service, face_ids: list[int]) -> list[Suggestion]:
    """The pending suggestions of these faces (for accepting or rejecting them by face id); an
    error names a face that has none."""
    pending = {s.face_id: s for s in suggest(service).suggestions}
    missing = [f for f in face_ids if f not in pending]
    if missing:
        raise SuggestionError(f"face {missing[0]} has no pending suggestion (no such face, not in the index, "
                              "or already identified); nothing was recorded")
    return [pending[f] for f in face_ids]


def store(service, suggestions: list[Suggestion]) -> int:
    """Record suggestions as `probable`, source `model`, for pairs that have no record at all."""
    stored = 0
    with service.database.session() as session:
        for s in suggestions:
            exists = session.scalar(select(Identification.id).where(Identification.face_id == s.face_id,
                                                                    Identification.sitter_id == s.sitter_id).limit(1))
            if exists is None:
                identify(session, s.face_id, s.sitter_id, "probable", "model",
                         note=f"suggested at score {s.score:.3f} from face {s.evidence_face_id}")
                stored += 1
    return stored

