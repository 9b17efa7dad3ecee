"""A curator's decisions on faces: the functions through which the page, the CLI and bulk actions
record every identification a person makes (each appends to the identification history through
`db.identifications.identify`). They sit above both the records of identifications and of sitters,
since a decision may create the sitter it names."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.identifications import IdentificationError, current_identifications, identify
from db.schema import Face, Identification
from db.sitters import chosen_sitter, sitter_named


def confirm_faces(session: Session, face_ids: list[int], sitter_id: int, who: str | None, note: str | None,
                  status: str = "confirmed") -> list[Identification]:
    """One curator's decision on several faces (a cluster named, suggestions accepted): every face
    must be active and not already carry this decision, or nothing is recorded (the caller's
    transaction rolls back on the error)."""
    if not face_ids:
        raise IdentificationError("no face to record the decision on")
    if len(set(face_ids)) != len(face_ids):
        raise IdentificationError("a face is named twice")
    active = set(session.scalars(select(Face.id).where(Face.id.in_(face_ids), Face.active.is_(True))))
    unknown = [f for f in face_ids if f not in active]
    if unknown:
        raise IdentificationError(f"there is no active face {unknown[0]}" + (f" (nor {len(unknown) - 1} more)"
                                                                             if len(unknown) > 1 else ""))
    for current in current_identifications(session, face_ids):
        if current.sitter_id == sitter_id and current.status == status and current.source == "curator":
            raise IdentificationError(f"face {current.face_id} is already {status} as {current.sitter} "
                                      f"(by {current.who or 'anonymous'}, {current.at:%Y-%m-%d %H:%M}); "
                                      "nothing was recorded")
    return [identify(session, face_id, sitter_id, status, "curator", who, note) for face_id in face_ids]


def name_faces(session: Session, face_ids: list[int], sitter_name: str, new_sitter: bool, who: str | None,
               note: str | None = None) -> list[Identification]:
    """Confirm these faces as one sitter, an existing one or (`new_sitter`) a new one: all or none."""
    sitter = chosen_sitter(session, sitter_name, new_sitter)
    return confirm_faces(session, face_ids, sitter.id, who, note)


ACTIONS = ("confirmed", "probable", "disputed", "rejected", "reassign")


def curate(session: Session, face_id: int, action: str, sitter_name: str, who: str | None,
           note: str | None = None, from_sitter_id: int | None = None) -> list[Identification]:
    """A curator's decision on a face. `reassign` rejects `from_sitter_id` and confirms `sitter_name`
    (created when new); the other actions record that status for `sitter_name`."""
    if action not in ACTIONS:
        raise IdentificationError(f"action must be one of {ACTIONS}, got {action!r}")
    if not sitter_name or not sitter_name.strip():
        raise IdentificationError("name the sitter")
    sitter = sitter_named(session, sitter_name, create=action in ("confirmed", "probable", "reassign"))
    if sitter is None:
        raise IdentificationError(f"there is no sitter named {sitter_name!r}")
    records = []
    if action == "reassign":
        if from_sitter_id is None:
            raise IdentificationError("reassign needs the sitter the face is taken from")
        if from_sitter_id == sitter.id:
            raise IdentificationError("the face already belongs to that sitter")
        records.append(identify(session, face_id, from_sitter_id, "rejected", "curator", who,
                                note or f"reassigned to {sitter.name}"))
        action = "confirmed"
    records.append(identify(session, face_id, sitter.id, action, "curator", who, note))
    return records


def name_cluster(session: Session, face_ids: list[int], sitter_name: str, new_sitter: bool, who: str | None,
                 note: str | None = None) -> list[Identification]:
    """A cluster of unidentified faces confirmed as one sitter (`gallery clusters --name` and the
    page's Clusters tab), with the same note by default."""
    return name_faces(session, face_ids, sitter_name, new_sitter, who,
                      note or f"named as a cluster of {len(face_ids)} faces")


def cluster_words(records: list[Identification], cluster_id: int, who: str | None) -> str:
    """A named cluster, in the words the CLI and the page both use."""
    return (f"{len(records)} face(s) of cluster {cluster_id} confirmed as {records[0].sitter.name} "
            f"(by {who or 'anonymous'}).")


def decision_words(records: list[Identification], face_id: int, who: str | None) -> str:
    """A decision on one face (`curate`), in the words the CLI and the page both use."""
    done = ", ".join(f"{r.status} for {r.sitter.name}" for r in records)
    return f"Recorded on face {face_id}: {done} (by {who or 'anonymous'})."

