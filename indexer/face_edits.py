"""A curator's edits to an artwork's faces: a face drawn where the detector found none, a detected
"face" rejected as not one, a rejection taken back (`gallery faces add | reject | restore` and the
page's Faces panel call these).

A drawn face is embedded at once with the profile in use and put into its index, so it is searchable
when the call returns; under another profile it is embedded by that profile's next `gallery index`
(aligned again from its stored landmarks, like every face after a model upgrade). It keeps its
origin ("drawn") for good: an unchanged file is never detected again, and when the file changes its
box is carried to the new picture unless the detector now finds a face there (indexer.mapper).

A rejected face stays in the database with who rejected it and when, and its vectors; it leaves
search, suggestions, clusters, evaluation and training (db.schema.serving). When the file changes,
a face detected again where a rejected one was is rejected again (indexer.writer).

Every check is made before anything is written; the indexes of the embedding sets on disk are then
caught up with the database (their next open would do it anyway: the database is the truth).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from db.collection import active_faces, embedding_set, encode_vector
from db.decisions import name_faces
from db.engine import Database
from db.identifications import current_identifications
from db.schema import Artwork, EmbeddingSet, Face, FaceVector, utcnow
from db.vectors import index_folder, open_set_index
from gallery.core.errors import GalleryError
from gallery.core.files import read_image_bytes
from gallery.faces.detection import box_iou
from gallery.faces.drawn import DrawnFace, face_in_box
from gallery.index.choice import IndexRule

SAME_PLACE_IOU = 0.5  # a drawn box overlapping a face this much is that face


class FaceEditError(GalleryError):
    """A face edit that cannot be made as asked; nothing was written."""


@dataclass(frozen=True)
class DrawnResult:
    face_id: int
    artwork_id: int
    path: str
    face_index: int
    box: list[float]
    landmarks_from: str  # "detector" or "box"
    quality: float | None
    sitter: str | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)

    def describe(self) -> str:
        how = ("landmarks from the detector run on the box" if self.landmarks_from == "detector"
               else "landmarks placed from the box")
        text = (f"Face {self.face_id} drawn on artwork {self.artwork_id} as its face {self.face_index} "
                f"({how}); it is searchable now")
        return text + (f", and confirmed as {self.sitter}." if self.sitter else ".")


@dataclass(frozen=True)
class FaceState:
    face_id: int
    artwork_id: int
    path: str
    rejected: bool
    who: str | None
    identifications: list[str]  # "<status> as <sitter>" that no longer count (rejected) or count again

    def to_json(self) -> dict:
        return dict(self.__dict__)

    def describe(self) -> str:
        if self.rejected:
            text = (f"Face {self.face_id} of artwork {self.artwork_id} is rejected as not a face "
                    f"(by {self.who or 'anonymous'}); it is out of search, suggestions and clusters")
            named = f"; its identification(s) no longer count: {', '.join(self.identifications)}"
        else:
            text = f"Face {self.face_id} of artwork {self.artwork_id} is a face again and searchable"
            named = f"; its identification(s) count again: {', '.join(self.identifications)}"
        return text + (named if self.identifications else "") + "."


def artwork_for(session, reference) -> Artwork:
    """The present artwork at a path (as indexed, or resolved) or with an id."""
    text = str(reference).strip()
    artwork = session.get(Artwork, int(text)) if text.isdigit() else None
    if artwork is None:
        resolved = str(Path(text).expanduser().resolve())
        artwork = session.scalar(select(Artwork).where(Artwork.path.in_([text, resolved]))
                                 .order_by(Artwork.id).limit(1))
    if artwork is None:
        raise FaceEditError(f"{text} is not in the collection; index it (`gallery index`) or add it "
                            "(`gallery add`) first")
    if artwork.status != "present":
        raise FaceEditError(f"artwork {artwork.id} ({artwork.path}) is marked missing; its file was not found by the "
                            "last index run")
    return artwork


def draw_face(settings, pipeline, database: Database, artwork_ref, box, sitter: str | None = None,
              new_sitter: bool = False, who: str | None = None, note: str | None = None) -> DrawnResult:
    """A face at `box` (x1, y1, x2, y2, full-resolution pixels) of an artwork, optionally confirmed
    as `sitter`: checked, landmarks estimated, embedded, stored and indexed."""
    with database.session() as session:
        artwork = artwork_for(session, artwork_ref)
        artwork_id, path, sha = artwork.id, artwork.path, artwork.sha256
        faces = active_faces(session, artwork_id)
        if sitter is not None:
            from db.sitters import chosen_sitter

            chosen_sitter(session, sitter, new_sitter, create=False)
    data = read_image_bytes(path)
    if hashlib.sha256(data).hexdigest() != sha:
        raise FaceEditError(f"{path} changed since it was indexed; run `gallery index` on its folder first")
    image = pipeline.load(data, path)
    drawn = face_in_box(pipeline.detector, pipeline.profile.detector, image, box, settings.detect_max_side)
    _refuse_same_place(drawn, faces)
    crop = pipeline.crop_image(image, [drawn.face], settings.thumbnail_size)
    [result] = list(pipeline.embed_cropped([crop]))
    [embedded] = result.faces
    info = pipeline.info()
    with database.session() as session:
        eset = embedding_set(session, info.key, info.profile, info.fusion.dim, info.to_json())
        last = session.scalar(select(func.max(Face.face_index)).where(Face.artwork_id == artwork_id,
                                                                      Face.active.is_(True)))
        row = Face(artwork_id=artwork_id, face_index=(-1 if last is None else last) + 1, origin="drawn",
                   box=[round(float(v), 2) for v in drawn.face.box],
                   landmarks=[[round(float(x), 2), round(float(y), 2)] for x, y in drawn.face.landmarks],
                   score=float(drawn.face.score), quality=embedded.quality, thumbnail=embedded.thumbnail,
                   active=True)
        session.add(row)
        session.flush()
        session.add(FaceVector(face_id=row.id, set_id=eset.id, vector=encode_vector(embedded.vector)))
        named = None
        if sitter is not None:
            [record] = name_faces(session, [row.id], sitter, new_sitter, who, note or "drawn by hand")
            named = record.sitter.name
        out = DrawnResult(row.id, artwork_id, path, row.face_index, row.box, drawn.landmarks_from,
                          embedded.quality, named)
    catch_up_indexes(settings, database)
    return out


def _refuse_same_place(drawn: DrawnFace, faces: list[Face]) -> None:
    for face in faces:
        if box_iou(drawn.face.box, face.box) < SAME_PLACE_IOU:
            continue
        if face.rejected_at is not None:
            raise FaceEditError(f"face {face.id} at that place was rejected as not a face (by "
                                f"{face.rejected_by or 'anonymous'}); restore it with `gallery faces restore "
                                f"{face.id}` instead of drawing it again; nothing was written")
        raise FaceEditError(f"face {face.id} is already there (box {', '.join(f'{v:.0f}' for v in face.box)}); "
                            "nothing was written")


def reject_face(settings, database: Database, face_id: int, who: str | None = None) -> FaceState:
    """Mark a face as not a face."""
    with database.session() as session:
        face = _face(session, face_id)
        if face.rejected_at is not None:
            raise FaceEditError(f"face {face_id} was already rejected (by {face.rejected_by or 'anonymous'}, "
                                f"{face.rejected_at:%Y-%m-%d %H:%M}); nothing was changed")
        face.rejected_at, face.rejected_by = utcnow(), who
        state = _state(session, face, True, who)
    catch_up_indexes(settings, database)
    return state


def restore_face(settings, database: Database, face_id: int, who: str | None = None) -> FaceState:
    """Take a rejection back: the face is searchable again, with its identifications."""
    with database.session() as session:
        face = _face(session, face_id)
        if face.rejected_at is None:
            raise FaceEditError(f"face {face_id} is not rejected; nothing was changed")
        face.rejected_at, face.rejected_by = None, None
        state = _state(session, face, False, who)
    catch_up_indexes(settings, database)
    return state


def _face(session, face_id: int) -> Face:
    face = session.get(Face, int(face_id))
    if face is None:
        raise FaceEditError(f"there is no face {face_id}")
    if not face.active:
        raise FaceEditError(f"face {face_id} belongs to an earlier version of its artwork's file (the file changed "
                            "and its faces were detected again); nothing was changed")
    return face


def _state(session, face: Face, rejected: bool, who: str | None) -> FaceState:
    artwork = session.get(Artwork, face.artwork_id)
    named = [f"{c.status} as {c.sitter}" for c in current_identifications(session, [face.id])
             if c.status != "rejected"]
    return FaceState(face.id, face.artwork_id, artwork.path, rejected, who, named)


def catch_up_indexes(settings, database: Database) -> list[str]:
    """Open (and so catch up with the database, and save) the index of every embedding set that has
    one on disk; the keys of those opened."""
    with database.session() as session:
        sets = list(session.scalars(select(EmbeddingSet)))
        session.expunge_all()
    opened = []
    for eset in sets:
        if index_folder(settings.index_dir, eset).exists():
            open_set_index(database, eset, settings.index_dir, settings.index_factory, rule=IndexRule.of(settings))
            opened.append(eset.key)
    return opened



