"""Search: a query image -> its faces -> the chosen face's fused vector -> the nearest faces of
the collection -> candidate sitters, ranked, with the artworks behind each match.

- A sitter's score is its best matching face; ties are broken by its best face in another
  work, then by the strength of the identification (confirmed before probable before disputed).
- Works that are the same image (gallery.curation.replicas) count once: one entry per group, carrying its
  replicas, so five photographs of one painting never outweigh four different paintings.
- With the work's date (given, or a collection work's own), each candidate gets the sitter's age
  then and a plausibility verdict (gallery.core.dates); an implausible candidate is never dropped, only
  placed after plausible ones of equal evidence (scores within EQUAL_EVIDENCE).
- A face whose current identification with a sitter is `rejected` does not count for that sitter.
  Identifications are read at every search, so a curator's change applies at once.
- Matches to faces with no (unrejected) sitter are listed apart as `unidentified`.
- Below `match_threshold` the answer is "no confident match" instead of a ranking that looks sure.
- With a calibration (gallery.evaluation.calibration) each candidate gets its pair rate and its
  search rate for the identified faces a search compares with, and, weighing every identified
  likeness of the candidate, a likelihood ratio with its verbal scale
  (gallery.evaluation.likelihood); with the work's artist, a same-hand caution.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from db.collection import CollectionFace, face_in_file, face_thumbnails, find_embedding_set
from db.engine import Database
from db.identifications import current_identifications, identified_face_count, sitter_likenesses
from db.replicas import replica_decisions
from db.schema import Artwork, EmbeddingSet, Face, Identification, Sitter, serving
from db.vectors import index_folder, open_set_index

from gallery.faces.batch import pick_face
from gallery.evaluation.calibration import Calibration
from gallery.evaluation.likelihood import Ratio, evidence_score
from gallery.core.dates import DateRange, Plausibility, catalogued_date, judge, parse_date
from gallery.core.iiif import canvas_region, viewer_link
from gallery.core.errors import GalleryError
from gallery.core.files import read_image_bytes
from gallery.faces.pipeline import FacePipeline, ImageResult
from gallery.faces.query_view import QueryView, query_view
from gallery.curation.replicas import ReplicaRule, group_faces, thumbnail_signature
from gallery.index.choice import IndexRule
from gallery.index.files import MANIFEST

STATUS_RANK = {"confirmed": 3, "probable": 2, "disputed": 1}


class SearchError(GalleryError):
    """A search that cannot run (nothing indexed with this profile, no such face...)."""


@dataclass(frozen=True)
class FaceMatch:
    face_id: int
    artwork_id: int
    path: str
    title: str | None
    artist: str | None
    date: str | None
    score: float
    components: dict[str, float]
    status: str | None = None  # the identification's status, for a sitter's match
    missing: bool = False  # the artwork's file is gone from the collection
    same_file: bool = False  # the very file that was uploaded
    replicas: tuple["FaceMatch", ...] = ()  # other artworks that are the same image (gallery.curation.replicas)
    quality: float | None = None  # of the matched face (gallery.faces.quality)
    iiif_link: str | None = None  # for a work from IIIF: a Content State link that opens the face in the viewer

    def to_json(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()} | {
            "components": {k: round(v, 6) for k, v in self.components.items()},
            "replicas": [r.to_json() for r in self.replicas]}


@dataclass(frozen=True)
class Candidate:
    sitter_id: int
    sitter: str
    birth_year: int | None
    death_year: int | None
    score: float
    components: dict[str, float]  # of the best matching face
    status: str  # of the best matching face's identification
    artworks: list[FaceMatch]
    false_match_rate: float | None = None  # from the set's calibration, when there is one
    false_match: str | None = None  # the same in words: "≈ 1 in N false matches at this score"
    search_false_match_rate: float | None = None  # FPIR: a person not in the collection scoring this high
    search_false_match: str | None = None  # the same in words, with the number of faces searched
    likelihood: Ratio | None = None  # the LR of all the sitter's likenesses (gallery.evaluation.likelihood)
    same_hand: str | None = None  # a caution when the strongest likenesses are by the query's artist
    plausibility: Plausibility | None = None  # of the query's date for this sitter (gallery.core.dates)
    external_ids: dict = field(default_factory=dict)  # the sitter's, e.g. {"wikidata": "Q5598"}

    @property
    def links(self) -> dict[str, str]:
        """The sitter's authority records as URIs (Wikidata, ULAN, VIAF)."""
        from gallery.core.authorities import authority_links

        return authority_links(self.external_ids)

    def to_json(self) -> dict:
        judged = self.plausibility or judge(None, None, None, 0)
        return {"sitter": self.sitter, "sitter_id": self.sitter_id, "birth_year": self.birth_year,
                "death_year": self.death_year, "score": round(self.score, 6), "status": self.status,
                "components": {k: round(v, 6) for k, v in self.components.items()},
                "false_match_rate": self.false_match_rate, "false_match": self.false_match,
                "search_false_match_rate": self.search_false_match_rate,
                "search_false_match": self.search_false_match,
                **(self.likelihood.to_json() if self.likelihood else
                   dict.fromkeys(("likelihood_ratio", "log10_lr", "verbal", "likenesses"))),
                "same_hand": self.same_hand, **judged.to_json(), "external_ids": dict(self.external_ids), "links": self.links,
                "works": len(self.artworks),
                "replicas": sum(len(a.replicas) for a in self.artworks),
                "artworks": [a.to_json() for a in self.artworks]}


@dataclass(frozen=True)
class SearchResult:
    query: str
    faces: list  # DetectedFace of the query image, largest first
    face: int
    threshold: float
    candidates: list[Candidate]
    unidentified: list[FaceMatch]
    embedding_set: str
    profile: str
    result: ImageResult = field(repr=False)
    view: QueryView | None = field(repr=False)  # the picture at display size and the faces' crops, to show
    query_bytes: bytes = field(default=b"", repr=False)  # the uploaded file, for reports
    calibration: Calibration | None = field(default=None, repr=False)
    collection_face: CollectionFace | None = None  # the searched face, when the upload is a collection file
    date: DateRange | None = None  # the work's date the candidates were judged against
    quality_floor: float = 0.0  # below it the query face's scores are flagged as unreliable
    compared_faces: int | None = None  # identified faces searched, for the search rates
    artist: str | None = None  # the query work's artist (given, or a collection work's own)

    @property
    def query_quality(self) -> float | None:
        return self.result.faces[self.face].quality if self.result.faces else None

    @property
    def low_quality(self) -> bool:
        return self.query_quality is not None and self.query_quality < self.quality_floor

    @property
    def no_confident_match(self) -> bool:
        return not self.candidates or self.candidates[0].score < self.threshold

    def likelihood_context(self) -> dict:
        """The two propositions, the reference population and what an LR is; or why there is no LR."""
        from gallery.evaluation.likelihood import EXPLANATION, PROPOSITIONS, LikelihoodCalibration

        if self.calibration is None:
            return {"available": False, "reason": "scores are not calibrated; run `gallery calibrate`"}
        fitted = LikelihoodCalibration.from_json(self.calibration.likelihood)
        if fitted is None:
            return {"available": False, "reason": self.calibration.why_no_likelihood()}
        return {"available": True, "propositions": {"Hp": PROPOSITIONS[0].format(sitter="the candidate"),
                                                    "Hd": PROPOSITIONS[1]},
                "population": fitted.population(), "explanation": EXPLANATION}

    def to_json(self) -> dict:
        return {"query": self.query, "faces": [f.to_json() for f in self.faces], "face": self.face,
                "threshold": self.threshold, "no_confident_match": self.no_confident_match,
                "calibrated": self.calibration is not None, "compared_faces": self.compared_faces,
                "search_rates": self.calibration.search_rates if self.calibration else False,
                "search_rates_withheld": (self.calibration.why_no_search_rates() or None) if self.calibration else None,
                "likelihood": self.likelihood_context(), "artist": self.artist,
                "embedding_set": self.embedding_set, "profile": self.profile,
                "collection_face": self.collection_face.to_json() if self.collection_face else None,
                "date": self.date.to_json() if self.date else None,
                "query_quality": self.query_quality, "quality_floor": self.quality_floor,
                "low_quality": self.low_quality,
                "candidates": [c.to_json() for c in self.candidates],
                "unidentified": [u.to_json() for u in self.unidentified]}


@dataclass(frozen=True)
class SearchRequest:
    source: object  # bytes of an upload, or a path
    name: str | None = None
    face: int | None = None
    candidates: int = 10
    top_k: int = 200
    threshold: float = 0.3
    min_score: float | None = None
    unidentified: int = 10
    date: str | None = None  # the work's date as catalogued ("c. 1650"); a collection work's own by default
    artist: str | None = None  # the work's artist; a collection work's own by default (for the same-hand caution)
    view: bool = True  # keep a QueryView to show the answer (a batch job that shows none asks for none)

    @property
    def label(self) -> str:
        return self.name or str(self.source if not isinstance(self.source, bytes) else "<upload>")


class SearchService:
    """Models load once; the set's index is reopened when the indexer has saved a new one."""

    def __init__(self, pipeline: FacePipeline, database: Database, index_dir: Path, factory: str = "auto",
                 posthumous_years: int = 50, replica_rule: ReplicaRule | None = None, quality_floor: float = 0.0,
                 index_rule: IndexRule | None = None):
        self.pipeline = pipeline
        self.database = database
        self.index_dir = Path(index_dir)
        self.factory = factory
        self.posthumous_years = posthumous_years
        self.replica_rule = replica_rule or ReplicaRule()
        self.quality_floor = quality_floor
        self.index_rule = index_rule
        self._set = None
        self._index = None
        self._stamp = None
        self._identified = None  # (stamp, count) of identified_faces

    @property
    def embedding_set(self):
        if self._set is None:
            key = self.pipeline.info().key
            with self.database.session() as session:
                self._set = find_embedding_set(session, key)
            if self._set is None:
                raise SearchError(f"nothing is indexed with profile '{self.pipeline.profile.name}' "
                                  f"(embedding set {key}); run `gallery index COLLECTION` with this profile first")
        return self._set

    def index(self):
        manifest = index_folder(self.index_dir, self.embedding_set) / MANIFEST
        stamp = manifest.stat().st_mtime_ns if manifest.exists() else None
        if self._index is None or stamp != self._stamp:
            self._index = open_set_index(self.database, self.embedding_set, self.index_dir, self.factory,
                                         rule=self.index_rule).index
            self._stamp = manifest.stat().st_mtime_ns if manifest.exists() else None
        return self._index

    def search(self, source, name: str | None = None, face: int | None = None, candidates: int = 10,
               top_k: int = 200, threshold: float = 0.3, min_score: float | None = None,
               unidentified: int = 10, date: str | None = None, artist: str | None = None) -> SearchResult:
        [answer] = self.search_many([SearchRequest(source, name, face, candidates, top_k, threshold, min_score,
                                                   unidentified, date, artist)])
        if isinstance(answer, Exception):
            raise answer
        return answer

    def search_many(self, requests: list["SearchRequest"]) -> list["SearchResult | GalleryError"]:
        """Several queries with one model call for all their faces; each answer is its result or
        the GalleryError that query alone met (a bad upload does not fail the others)."""
        return [self.answer(request, processed, request.face) for request, processed in
                zip(requests, self.prepare(requests))]

    def search_each_face(self, requests: list["SearchRequest"]) -> list["list[SearchResult] | GalleryError"]:
        """As search_many, but every face of every query is searched: a list of results per query."""
        out: list = []
        for request, processed in zip(requests, self.prepare(requests)):
            if isinstance(processed, GalleryError) or not processed[1].faces:
                out.append(self.answer(request, processed, None))  # the error, or "no face found"
                continue
            answers = [self.answer(request, processed, face) for face in range(len(processed[1].faces))]
            error = next((a for a in answers if isinstance(a, GalleryError)), None)
            out.append(error if error is not None else answers)
        return out

    def prepare(self, requests: list["SearchRequest"]) -> list:
        """A search's first step, the models': (bytes, ImageResult, QueryView) or the GalleryError
        met, per request. Detection image by image (each full-resolution image released once
        cropped and its view made), then one encoder call for all their faces. `answer` is the
        second step; `search_many` runs both."""
        answers: list = [None] * len(requests)
        loaded = []
        for position, request in enumerate(requests):
            try:
                data = request.source if isinstance(request.source, bytes) else read_image_bytes(request.source)
                loaded.append((position, data, self.pipeline.load(data, request.label)))
            except GalleryError as err:
                answers[position] = err
        cropped = []
        while loaded:
            position, data, image = loaded.pop(0)  # the decoded image is let go once cropped and viewed
            try:
                crop = self.pipeline.crop_image(image)
            except GalleryError as err:
                answers[position] = err
            except Exception as err:  # noqa: BLE001 (a detector failure on one image fails that query only)
                answers[position] = SearchError(f"face detection failed on {image.path}: {err}")
            else:
                view = query_view(image.rgb, crop.faces, image_scale=image.scale) if requests[position].view else None
                cropped.append((position, data, crop, view))
        results = self.pipeline.embed_cropped([c for _, _, c, _ in cropped])
        for (position, data, _crop, view), result in zip(cropped, results):
            answers[position] = (data, result, view)
        return answers

    def answer(self, request: "SearchRequest", processed, face: int | None) -> "SearchResult | GalleryError":
        """A search's second step: one face of a prepared query (`prepare`) searched in the index,
        its matches read from the database, grouped by sitter and ranked; or the error met."""
        if isinstance(processed, GalleryError):
            return processed
        try:
            return self._ranked(replace(request, face=face), *processed)
        except GalleryError as err:
            return err

    def _ranked(self, request: "SearchRequest", data: bytes, result: ImageResult,
                view: QueryView | None) -> SearchResult:
        chosen = pick_face(result, request.face)
        index = self.index()
        scores, ids = index.search(chosen.vector, max(request.top_k, request.candidates))
        keep = ids[0] >= 0
        scores, ids = scores[0][keep], ids[0][keep]
        if request.min_score is not None:
            scores, ids = scores[scores >= request.min_score], ids[scores >= request.min_score]
        query_sha = hashlib.sha256(data).hexdigest()
        matches, vectors = self._matches(ids, scores, chosen.vector, index, query_sha)
        collection_face = self._collection_face(query_sha, chosen.face.box)
        catalogued = self._catalogued(collection_face)
        date = parse_date(request.date) if request.date is not None else catalogued_date(catalogued[0])
        artist = (request.artist if request.artist is not None else catalogued[1]) or None
        ranked, loose = self._group(matches, vectors)
        ranked = _judged(ranked, date, self.posthumous_years)
        calibration = self.calibration()
        compared = None
        if calibration is not None:
            compared = self.identified_faces()
            ranked = [replace(c, **asdict(calibration.rates_at(c.score, compared))) for c in ranked[:request.candidates]]
            if calibration.likelihood is not None:
                ranked = self._weighed(ranked, chosen.vector, index, calibration)
        ranked = [replace(c, same_hand=same_hand(c, artist)) for c in ranked[:request.candidates]]
        return SearchResult(request.label, [f.face for f in result.faces], chosen.index, request.threshold,
                            ranked, loose[:request.unidentified], self.embedding_set.key,
                            self.pipeline.profile.name, result, view, data, calibration, collection_face, date,
                            self.quality_floor, compared, artist)

    def _weighed(self, ranked: list[Candidate], query: np.ndarray, index, calibration: Calibration
                 ) -> list[Candidate]:
        """Each candidate's LR from all its identified likenesses: one score per work (its best
        face), the replicas the search grouped counted once."""
        with self.database.session() as session:
            likenesses = sitter_likenesses(session, [c.sitter_id for c in ranked], self.embedding_set.id)
        out = []
        for candidate in ranked:
            replicas = {r.artwork_id for work in candidate.artworks for r in work.replicas}
            listed = likenesses.get(candidate.sitter_id, [])
            live = index.holds([f for f, _a in listed])
            faces = [(f, a) for (f, a), held in zip(listed, live) if held and a not in replicas]
            if not faces:
                out.append(candidate)
                continue
            scores = index.vectors_for([f for f, _ in faces]) @ np.asarray(query, np.float32).reshape(-1)
            per_work: dict[int, float] = {}
            for (_face, artwork), score in zip(faces, scores):
                per_work[artwork] = max(per_work.get(artwork, -1.0), float(score))
            evidence, weighed = evidence_score(list(per_work.values()))
            out.append(replace(candidate, likelihood=calibration.likelihood_ratio(
                evidence, weighed, candidate.search_false_match_rate)))
        return out

    def _collection_face(self, sha256: str, box) -> CollectionFace | None:
        with self.database.session() as session:
            return face_in_file(session, sha256, box)

    def _catalogued(self, face: CollectionFace | None) -> tuple[str | None, str | None]:
        """(date, artist) of the collection work searched, as catalogued."""
        if face is None:
            return None, None
        with self.database.session() as session:
            row = session.execute(select(Artwork.date, Artwork.artist).where(Artwork.id == face.artwork_id)).first()
        return (row.date, row.artist) if row else (None, None)

    def calibration(self) -> Calibration | None:
        """Read at each search, so `gallery calibrate` applies without a restart."""
        with self.database.session() as session:
            row = session.get(EmbeddingSet, self.embedding_set.id)
            return Calibration.from_json(row.calibration if row else None)

    def identified_faces(self) -> int:
        """The identified faces a search compares with (db.identifications.identified_face_count),
        counted again when an identification is recorded or the index is saved anew."""
        with self.database.session() as session:
            key = (session.scalar(select(func.max(Identification.id))), self._stamp)
            if self._identified is None or self._identified[0] != key:
                self._identified = key, identified_face_count(session, self.embedding_set.id)
        return self._identified[1]

    def _matches(self, ids, scores, query, index, query_sha: str) -> tuple[list[FaceMatch], dict[int, np.ndarray]]:
        """The matched faces still in the database, and the stored vector of each (by face id)."""
        if len(ids) == 0:
            return [], {}
        stored = index.vectors_for(ids)
        per_component = self.pipeline.layout.component_scores(query[None], stored)
        with self.database.session() as session:
            rows = {r.id: r for r in session.execute(
                select(Face.id, Face.quality, Face.box, Artwork.id.label("artwork_id"), Artwork.path, Artwork.title,
                       Artwork.artist, Artwork.date, Artwork.status, Artwork.sha256, Artwork.extras, Artwork.width,
                       Artwork.height)
                .join(Artwork, Artwork.id == Face.artwork_id).where(Face.id.in_([int(i) for i in ids]), serving()))}
        out = []
        for position, (face_id, score) in enumerate(zip(ids, scores)):
            row = rows.get(int(face_id))
            if row is None:  # retired or rejected since the index was saved
                continue
            out.append(FaceMatch(int(face_id), row.artwork_id, row.path, row.title, row.artist, row.date,
                                 float(score), {k: float(v[position]) for k, v in per_component.items()},
                                 missing=row.status == "missing", same_file=row.sha256 == query_sha,
                                 quality=row.quality, iiif_link=viewer_link(
                                     self.pipeline.settings.iiif_viewer,
                                     canvas_region(row.box, row.extras, row.width, row.height))))
        return out, {int(face_id): stored[position] for position, face_id in enumerate(ids)}

    def _group(self, matches: list[FaceMatch], vectors: dict[int, np.ndarray]) -> tuple[list[Candidate], list[FaceMatch]]:
        with self.database.session() as session:
            labels: dict[int, list] = {}
            for current in current_identifications(session, [m.face_id for m in matches]):
                if current.status != "rejected":
                    labels.setdefault(current.face_id, []).append(current)
            sitter_ids = {c.sitter_id for group in labels.values() for c in group}
            sitters = {s.id: s for s in session.execute(
                select(Sitter.id, Sitter.name, Sitter.birth_year, Sitter.death_year, Sitter.external_ids)
                .where(Sitter.id.in_(sitter_ids)))}
            decisions = replica_decisions(session, {m.artwork_id for m in matches})
        by_sitter: dict[int, list[FaceMatch]] = {}
        loose = []
        for match in matches:
            for current in labels.get(match.face_id, ()):
                by_sitter.setdefault(current.sitter_id, []).append(
                    FaceMatch(**{**match.__dict__, "status": current.status}))
            if match.face_id not in labels:
                loose.append(match)
        ranked = []
        for sitter_id, found in by_sitter.items():
            found.sort(key=lambda m: (-m.score, -STATUS_RANK[m.status]))
            works = self._replica_groups(found, vectors, decisions)
            sitter = sitters[sitter_id]
            ranked.append(Candidate(sitter_id, sitter.name, sitter.birth_year, sitter.death_year, works[0].score,
                                    works[0].components, works[0].status, works,
                                    external_ids=dict(sitter.external_ids or {})))
        ranked.sort(key=_evidence)
        return ranked, self._replica_groups(loose, vectors, decisions)

    def _replica_groups(self, found: list[FaceMatch], vectors, decisions) -> list[FaceMatch]:
        """One entry per image: the best match of each replica group, carrying the others."""
        if len(found) < 2:
            return found
        stack = np.stack([vectors[m.face_id] for m in found])

        def signatures(positions: list[int]) -> list:
            with self.database.session() as session:
                thumbs = face_thumbnails(session, [found[p].face_id for p in positions])
            return [thumbnail_signature(thumbs.get(found[p].face_id)) for p in positions]

        groups = group_faces([m.artwork_id for m in found], stack, signatures, decisions, self.replica_rule)
        return [replace(found[g[0]], replicas=tuple(found[p] for p in g[1:])) for g in groups]


SAME_HAND = ("The strongest likenesses of this candidate are by {artist}, who also painted the query work: one "
             "painter's manner can make different sitters look alike. Weigh the likenesses by other hands.")


def same_hand(candidate: Candidate, artist: str | None) -> str | None:
    """The caution when the query's artist painted the candidate's best likeness or most of its
    three best."""
    if not artist:
        return None
    key = " ".join(artist.casefold().split())
    hands = [" ".join((w.artist or "").casefold().split()) for w in candidate.artworks[:3]]
    if hands and (hands[0] == key or sum(h == key for h in hands) * 2 > len(hands)):
        return SAME_HAND.format(artist=artist)
    return None


def _evidence(candidate: Candidate) -> tuple:
    """Best face first; ties broken by the best face of another work, then by the status."""
    second = candidate.artworks[1].score if len(candidate.artworks) > 1 else -1.0
    return -candidate.score, -second, -STATUS_RANK[candidate.status]


EQUAL_EVIDENCE = 0.02  # scores this close are equal evidence: the work's date may then order them


def _judged(ranked: list[Candidate], date: DateRange | None, posthumous_years: int) -> list[Candidate]:
    """Each candidate judged against the work's date; an implausible one goes after the plausible
    (or unknown) ones whose score is within EQUAL_EVIDENCE of its own. None is ever dropped."""
    judged = [replace(c, plausibility=judge(date, c.birth_year, c.death_year, posthumous_years)) for c in ranked]
    moved = True
    while moved:
        moved = False
        for i in range(len(judged) - 1):
            first, second = judged[i], judged[i + 1]
            if (first.plausibility.verdict == "implausible" and second.plausibility.verdict != "implausible"
                    and first.score - second.score <= EQUAL_EVIDENCE + 1e-9):
                judged[i], judged[i + 1] = second, first
                moved = True
    return judged


def search_service(settings) -> SearchService:
    """The service for the settings' profile, database and index folder (nothing loads yet)."""
    from db.collection import calibration_pictures
    from db.engine import open_database

    pipeline = FacePipeline(settings, calibration=calibration_pictures(settings.database_url, settings.int8_pictures))
    return SearchService(pipeline, open_database(settings.database_url), settings.index_dir,
                         settings.index_factory, settings.posthumous_years, ReplicaRule(settings.replica_score),
                         settings.quality_floor, IndexRule.of(settings))
