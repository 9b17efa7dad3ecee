"""Artworks, faces, embedding sets, vectors and ingest errors: the queries the indexer,
the status command and search share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from db.schema import Artwork, EmbeddingSet, Face, FaceVector, IndexRun, IngestError, Sitter, serving, utcnow
from db.sitters import count_identified_faces

VECTOR_DTYPE = np.float16


@dataclass(frozen=True)
class KnownArtwork:
    id: int
    path: str
    sha256: str
    status: str
    faces: int  # active faces
    embedded: int  # active faces with a vector in the set asked about


def embedding_set(session: Session, key: str, profile: str, dim: int, components: dict) -> EmbeddingSet:
    found = session.scalar(select(EmbeddingSet).where(EmbeddingSet.key == key))
    if found is None:
        found = EmbeddingSet(key=key, profile=profile, dim=dim, components=components)
        session.add(found)
        session.flush()
    return found


def find_embedding_set(session: Session, key: str) -> EmbeddingSet | None:
    return session.scalar(select(EmbeddingSet).where(EmbeddingSet.key == key))


def known_artworks(session: Session, set_id: int, paths: list[str] | None = None) -> dict[str, KnownArtwork]:
    """Every artwork (or those at `paths`) by path, with its active face count and how many have a
    vector in the set."""
    faces = (select(Face.artwork_id, func.count(Face.id).label("n"), func.count(FaceVector.face_id).label("e"))
             .outerjoin(FaceVector, (FaceVector.face_id == Face.id) & (FaceVector.set_id == set_id))
             .where(Face.active.is_(True)).group_by(Face.artwork_id).subquery())
    statement = (select(Artwork.id, Artwork.path, Artwork.sha256, Artwork.status, faces.c.n, faces.c.e)
                 .outerjoin(faces, faces.c.artwork_id == Artwork.id))
    if paths is not None:
        statement = statement.where(Artwork.path.in_(list(paths)))
    rows = session.execute(statement)
    return {r.path: KnownArtwork(r.id, r.path, r.sha256, r.status, r.n or 0, r.e or 0) for r in rows}


def encode_vector(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=VECTOR_DTYPE).tobytes()


def active_faces(session: Session, artwork_id: int) -> list[Face]:
    """The artwork's active faces, in face_index order."""
    return list(session.scalars(select(Face).where(Face.artwork_id == artwork_id, Face.active.is_(True))
                                .order_by(Face.face_index)))


def faces_without_vector(session: Session, artwork_id: int, set_id: int) -> list[Face]:
    """The artwork's active faces (rejected ones too, so a restored face is searchable at once)
    that have no vector in the set, in face_index order."""
    has = select(FaceVector.face_id).where(FaceVector.set_id == set_id)
    return list(session.scalars(select(Face).where(Face.artwork_id == artwork_id, Face.active.is_(True),
                                                   Face.id.not_in(has)).order_by(Face.face_index)))


def drawn_faces(session: Session, artwork_id: int) -> tuple[list[Face], tuple[int, int] | None]:
    """The artwork's hand-drawn faces in service, and the picture size (width, height) they were drawn on."""
    artwork = session.get(Artwork, artwork_id)
    faces = list(session.scalars(select(Face).where(Face.artwork_id == artwork_id, serving(), Face.origin == "drawn")
                                 .order_by(Face.face_index)))
    return faces, (artwork.width or 1, artwork.height or 1)


def artworks_with_drawn_faces(session: Session) -> set[int]:
    return set(session.scalars(select(Face.artwork_id).where(serving(), Face.origin == "drawn").distinct()))


def set_face_ids(session: Session, set_id: int) -> np.ndarray:
    """Ids of the serving faces (active, not rejected) that have a vector in the set, sorted: what
    its index must hold."""
    ids = session.scalars(select(FaceVector.face_id).join(Face, Face.id == FaceVector.face_id)
                          .where(FaceVector.set_id == set_id, serving()).order_by(FaceVector.face_id))
    return np.fromiter(ids, dtype=np.int64)


def set_vectors(session: Session, set_id: int, dim: int, chunk: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """(ids, float16 vectors) of the serving faces of the set, read in chunks."""
    ids: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    for face_ids, vectors in _vector_chunks(session, set_id, dim, chunk):
        ids.append(face_ids)
        blocks.append(vectors)
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, dim), VECTOR_DTYPE)
    return np.concatenate(ids), np.concatenate(blocks)


def vectors_of(session: Session, set_id: int, dim: int, face_ids: np.ndarray, chunk: int = 10_000
               ) -> tuple[np.ndarray, np.ndarray]:
    """(ids, float16 vectors) of those of these faces that have a vector in the set, by face id."""
    rows = []
    for start in range(0, len(face_ids), chunk):
        wanted = [int(i) for i in face_ids[start:start + chunk]]
        rows += session.execute(select(FaceVector.face_id, FaceVector.vector).where(
            FaceVector.set_id == set_id, FaceVector.face_id.in_(wanted)).order_by(FaceVector.face_id)).all()
    return _decoded(rows, dim)


def _vector_chunks(session: Session, set_id: int, dim: int, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    last = 0
    while True:
        rows = session.execute(
            select(FaceVector.face_id, FaceVector.vector).join(Face, Face.id == FaceVector.face_id)
            .where(FaceVector.set_id == set_id, serving(), FaceVector.face_id > last)
            .order_by(FaceVector.face_id).limit(chunk)
        ).all()
        if not rows:
            return
        face_ids, vectors = _decoded(rows, dim)
        yield face_ids, vectors
        last = int(face_ids[-1])


def _decoded(rows, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(face ids, float16 vectors) of (face_id, vector bytes) rows."""
    return (np.array([r[0] for r in rows], np.int64),
            np.frombuffer(b"".join(r[1] for r in rows), dtype=VECTOR_DTYPE).reshape(len(rows), dim))


def record_error(session: Session, path: str, stage: str, message: str, run_id: int | None = None) -> None:
    """Keep one outstanding error per file and stage (the latest)."""
    session.execute(delete(IngestError).where(IngestError.path == path, IngestError.stage == stage))
    session.add(IngestError(path=path, stage=stage, message=message, run_id=run_id))


WALK_STAGES = ("metadata", "unsupported")  # errors found by walking the folder, not by reading a file
DECODE_STAGES = ("regions",)  # errors found only when a file is decoded (its XMP face regions)


def clear_errors(session: Session, paths: list[str], decoded: list[str] = ()) -> None:
    """Forget the read errors of files read well, and the decoding ones of files decoded again."""
    if paths:
        session.execute(delete(IngestError).where(IngestError.path.in_(paths),
                                                  IngestError.stage.notin_(WALK_STAGES + DECODE_STAGES)))
    if decoded:
        session.execute(delete(IngestError).where(IngestError.path.in_(list(decoded)),
                                                  IngestError.stage.in_(DECODE_STAGES)))


def clear_metadata_errors(session: Session, collection: str) -> None:
    """Forget the errors a whole-folder run finds again from scratch: metadata and unsupported files."""
    session.execute(delete(IngestError).where(IngestError.stage.in_(WALK_STAGES),
                                              IngestError.path.startswith(collection)))


def ingest_errors(session: Session, limit: int | None = None) -> list[IngestError]:
    statement = select(IngestError).order_by(IngestError.at.desc(), IngestError.id.desc())
    return list(session.scalars(statement.limit(limit) if limit else statement))


def start_run(session: Session, collection: str, set_id: int) -> IndexRun:
    run = IndexRun(collection=collection, set_id=set_id, counts={})
    session.add(run)
    session.flush()
    return run


def finish_run(session: Session, run_id: int, counts: dict) -> None:
    run = session.get(IndexRun, run_id)
    run.counts, run.finished_at = counts, utcnow()


@dataclass(frozen=True)
class SetSummary:
    id: int
    key: str
    profile: str
    dim: int
    faces: int
    created_at: datetime


def collection_counts(session: Session) -> dict:
    active_faces = select(func.count(Face.id)).where(serving())
    last_run = session.scalar(select(IndexRun).order_by(IndexRun.id.desc()).limit(1))
    return {
        "artworks": session.scalar(select(func.count(Artwork.id)).where(Artwork.status == "present")),
        "artworks_missing": session.scalar(select(func.count(Artwork.id)).where(Artwork.status == "missing")),
        "faces": session.scalar(active_faces),
        "faces_drawn": session.scalar(select(func.count(Face.id)).where(serving(), Face.origin == "drawn")),
        "faces_rejected": session.scalar(select(func.count(Face.id)).where(Face.active.is_(True),
                                                                          Face.rejected_at.is_not(None))),
        "sitters": session.scalar(select(func.count(Sitter.id)).where(Sitter.merged_into_id.is_(None))),
        "identified_faces": count_identified_faces(session),
        "errors": session.scalar(select(func.count(IngestError.id))),
        "last_run": None if last_run is None else {
            "collection": last_run.collection, "started_at": last_run.started_at.isoformat(),
            "finished_at": last_run.finished_at.isoformat() if last_run.finished_at else None,
            "counts": last_run.counts},
    }


def embedding_sets(session: Session) -> list[SetSummary]:
    counts = dict(session.execute(select(FaceVector.set_id, func.count(FaceVector.face_id))
                                  .join(Face, Face.id == FaceVector.face_id).where(serving())
                                  .group_by(FaceVector.set_id)).all())
    return [SetSummary(s.id, s.key, s.profile, s.dim, counts.get(s.id, 0), s.created_at)
            for s in session.scalars(select(EmbeddingSet).order_by(EmbeddingSet.id))]


def face_thumbnails(session: Session, face_ids) -> dict[int, bytes]:
    """JPEG thumbnails of these faces (those that have one)."""
    ids = [int(i) for i in face_ids]
    if not ids:
        return {}
    rows = session.execute(select(Face.id, Face.thumbnail).where(Face.id.in_(ids))).all()
    return {face_id: data for face_id, data in rows if data}


@dataclass(frozen=True)
class FaceEntry:
    face_id: int
    artwork_id: int
    path: str
    title: str | None
    status: str  # the identification's current status for the sitter asked about
    source: str
    who: str | None
    thumbnail: bytes | None


def sitter_faces(session: Session, sitter_id: int) -> list[FaceEntry]:
    """Active faces whose current identification with this sitter exists (any status)."""
    from db.identifications import current_identifications

    current = {c.face_id: c for c in current_identifications(session) if c.sitter_id == sitter_id}
    if not current:
        return []
    rows = session.execute(select(Face.id, Face.artwork_id, Artwork.path, Artwork.title, Face.thumbnail)
                           .join(Artwork, Artwork.id == Face.artwork_id)
                           .where(Face.id.in_(list(current)), serving()).order_by(Artwork.path))
    return [FaceEntry(r.id, r.artwork_id, r.path, r.title, current[r.id].status, current[r.id].source,
                      current[r.id].who, r.thumbnail) for r in rows]


@dataclass(frozen=True)
class CollectionFace:
    """A face of the collection found again in an uploaded copy of its file."""

    face_id: int
    artwork_id: int
    path: str
    face_index: int

    def to_json(self) -> dict:
        return dict(self.__dict__)


def face_in_file(session: Session, sha256: str, box, min_iou: float = 0.5) -> CollectionFace | None:
    """The active face of a present artwork with this content whose box overlaps `box` most."""
    from gallery.faces.detection import box_iou

    rows = session.execute(select(Face.id, Face.artwork_id, Face.face_index, Face.box, Artwork.path)
                           .join(Artwork, Artwork.id == Face.artwork_id)
                           .where(Artwork.sha256 == sha256, Artwork.status == "present", serving())
                           .order_by(Artwork.id, Face.face_index)).all()
    scored = [(box_iou(row.box, box), row) for row in rows]
    best, row = max(scored, key=lambda pair: pair[0], default=(0.0, None))
    return None if row is None or best < min_iou else CollectionFace(row.id, row.artwork_id, row.path, row.face_index)


def find_artworks(session: Session, text: str, limit: int = 200) -> list[dict]:
    """Artworks whose title, artist, accession number or path contains `text`."""
    pattern = f"%{text.strip()}%"
    faces = select(func.count(Face.id)).where(Face.artwork_id == Artwork.id, serving()).scalar_subquery()
    rows = session.execute(
        select(Artwork.id, Artwork.title, Artwork.artist, Artwork.date, Artwork.accession_number, Artwork.path,
               Artwork.status, faces.label("faces"))
        .where(Artwork.title.ilike(pattern) | Artwork.artist.ilike(pattern) | Artwork.path.ilike(pattern)
               | Artwork.accession_number.ilike(pattern)).order_by(Artwork.path).limit(limit))
    return [dict(r._mapping) for r in rows]


def save_calibration(session: Session, set_key: str, calibration: dict) -> None:
    eset = find_embedding_set(session, set_key)
    if eset is None:
        from gallery.core.errors import GalleryError

        raise GalleryError(f"there is no embedding set {set_key}")
    eset.calibration = calibration


def sample_pictures(session: Session, count: int) -> list[str]:
    """Up to `count` local files of present artworks with faces, spread over the collection by id
    (the pictures int8 models are calibrated on); works from IIIF are left out (no local file)."""
    with_faces = select(Face.artwork_id).where(Face.active.is_(True)).distinct()
    local = (Artwork.status == "present", Artwork.id.in_(with_faces), ~Artwork.path.like("http%"))
    total = session.scalar(select(func.count()).select_from(Artwork).where(*local)) or 0
    step = max(1, total // max(count, 1))
    return list(session.scalars(select(Artwork.path).where(*local, Artwork.id % step == 0)
                                .order_by(Artwork.id).limit(count)))


def calibration_pictures(url: str, count: int, first: Iterable = ()) -> Callable[[], Iterator]:
    """The pictures int8 models are calibrated on (gallery.faces.int8): `first` (the files being
    indexed or embedded), then up to `count` of the collection's at `url`; a SQLite collection
    not made yet gives none and is not created."""

    def pictures() -> Iterator:
        yield from first
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
            return
        from db.engine import open_database

        with open_database(url).session() as session:
            found = sample_pictures(session, count)
        yield from found

    return pictures
