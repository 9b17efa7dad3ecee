"""Who a face is: append-only identification records.

A face may carry several sitters (a disputed portrait); for each (face, sitter) pair the latest
record is the current one, and earlier ones stay as history. Metadata never overrides a curator:
an import adds a `metadata` record only for a pair that has no record at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gallery.core.errors import GalleryError

from db.schema import SOURCES, STATUSES, WITHDRAWN, Face, FaceVector, Identification, Sitter, serving


class IdentificationError(GalleryError):
    """An identification that cannot be recorded."""


@dataclass(frozen=True)
class CurrentIdentification:
    face_id: int
    sitter_id: int
    sitter: str
    status: str
    source: str
    who: str | None
    at: datetime
    note: str | None


def identify(session: Session, face_id: int, sitter_id: int, status: str, source: str,
             who: str | None = None, note: str | None = None, flush: bool = True) -> Identification:
    """Append a record. With `flush` False it is written at the session's next flush (the
    indexer's writer: once for a whole batch) and has no id until then."""
    if status not in STATUSES and status != WITHDRAWN:
        raise IdentificationError(f"status must be one of {STATUSES}, got {status!r}")
    if source not in SOURCES:
        raise IdentificationError(f"source must be one of {SOURCES}, got {source!r}")
    if session.get(Face, face_id) is None:
        raise IdentificationError(f"there is no face {face_id}")
    if session.get(Sitter, sitter_id) is None:
        raise IdentificationError(f"there is no sitter {sitter_id}")
    record = Identification(face_id=face_id, sitter_id=sitter_id, status=status, source=source, who=who, note=note)
    session.add(record)
    if flush:
        session.flush()
    return record


def add_metadata_identification(session: Session, face_id: int, sitter_id: int, note: str | None = None,
                                status: str = "confirmed") -> bool:
    """Record a catalogue label unless the pair already has any record (a curator's included)."""
    exists = session.scalar(select(Identification.id).where(Identification.face_id == face_id,
                                                            Identification.sitter_id == sitter_id).limit(1))
    if exists is not None:
        return False
    identify(session, face_id, sitter_id, status, "metadata", note=note)
    return True


def _latest():
    """The id of the latest record of every (face, sitter) pair: the current ones."""
    return select(func.max(Identification.id)).group_by(Identification.face_id, Identification.sitter_id)


def current_identifications(session: Session, face_ids=None) -> list[CurrentIdentification]:
    """The latest record of every (face, sitter) pair, optionally for some faces only. Sitters
    merged into another are left out: their current records were carried to the survivor; so are
    pairs whose latest record withdrew a decision (WITHDRAWN: as if the pair had no record)."""
    latest = _latest()
    if face_ids is not None:
        latest = latest.where(Identification.face_id.in_(list(face_ids)))
    rows = session.execute(  # columns, not entities: a search reads a few hundred of these per query
        select(Identification.face_id, Identification.sitter_id, Sitter.name, Identification.status,
               Identification.source, Identification.who, Identification.at, Identification.note)
        .join(Sitter, Sitter.id == Identification.sitter_id)
        .where(Identification.id.in_(latest), Sitter.merged_into_id.is_(None), Identification.status != WITHDRAWN)
        .order_by(Identification.face_id, Identification.id)
    )
    return [CurrentIdentification(*row) for row in rows]


def identified_face_count(session: Session, set_id: int) -> int:
    """How many active faces with a vector in the embedding set carry a current, not rejected
    identification: the faces a search compares a query with when it names candidates."""
    latest = _latest()
    return int(session.scalar(
        select(func.count(func.distinct(Identification.face_id)))
        .join(Sitter, Sitter.id == Identification.sitter_id)
        .join(Face, Face.id == Identification.face_id)
        .join(FaceVector, (FaceVector.face_id == Face.id) & (FaceVector.set_id == set_id))
        .where(Identification.id.in_(latest), Identification.status.not_in(("rejected", WITHDRAWN)),
               Sitter.merged_into_id.is_(None),
               serving())) or 0)


def sitter_likenesses(session: Session, sitter_ids, set_id: int) -> dict[int, list[tuple[int, int]]]:
    """Every identified likeness of these sitters: sitter -> [(face id, artwork id)] of the
    active faces with a vector in the set whose current record for that sitter is not rejected."""
    latest = _latest().where(Identification.sitter_id.in_(list(sitter_ids)))
    rows = session.execute(
        select(Identification.sitter_id, Face.id, Face.artwork_id)
        .join(Face, Face.id == Identification.face_id)
        .join(FaceVector, (FaceVector.face_id == Face.id) & (FaceVector.set_id == set_id))
        .where(Identification.id.in_(latest), Identification.status.not_in(("rejected", WITHDRAWN)), serving()))
    out: dict[int, list[tuple[int, int]]] = {}
    for sitter_id, face_id, artwork_id in rows:
        out.setdefault(sitter_id, []).append((face_id, artwork_id))
    return out


def confirmed_sitters(session: Session) -> dict[int, str]:
    """Face id -> sitter name, for faces whose current identifications confirm exactly one sitter
    (the labelled faces that evaluation, calibration and training use)."""
    confirmed: dict[int, set[str]] = {}
    for current in current_identifications(session):
        if current.status == "confirmed":
            confirmed.setdefault(current.face_id, set()).add(current.sitter)
    return {face: names.pop() for face, names in confirmed.items() if len(names) == 1}


def history(session: Session, face_id: int) -> list[Identification]:
    return list(session.scalars(select(Identification).where(Identification.face_id == face_id)
                                .order_by(Identification.id)))


def carry_over(session: Session, old_face_id: int, new_face_id: int, note: str) -> int:
    """Copy the current identifications of a replaced face onto its successor."""
    copied = 0
    for current in current_identifications(session, [old_face_id]):
        session.add(Identification(face_id=new_face_id, sitter_id=current.sitter_id, status=current.status,
                                   source=current.source, who=current.who,
                                   note=f"{note}; was: {current.note}" if current.note else note))
        copied += 1
    return copied
