"""A curator's decisions on faces: the functions through which the page, the CLI and bulk actions
record every identification a person makes (each appends to the identification history through
`db.identifications.identify`). They sit above both the records of identifications and of sitters,
since a decision may create the sitter it names."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.identifications import IdentificationError, current_identifications, identify
from db.schema import WITHDRAWN, Face, Identification, serving
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
    active = set(session.scalars(select(Face.id).where(Face.id.in_(face_ids), serving())))
    unknown = [f for f in face_ids if f not in active]
    _refuse_rejected(session, unknown)
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


def _refuse_rejected(session: Session, face_ids: list[int]) -> None:
    """A decision on a face a curator rejected as not a face is refused, saying how to take that back."""
    rejected = session.scalar(select(Face).where(Face.id.in_(face_ids), Face.rejected_at.is_not(None)).limit(1)) \
        if face_ids else None
    if rejected is not None:
        raise IdentificationError(f"face {rejected.id} was rejected as not a face (by "
                                  f"{rejected.rejected_by or 'anonymous'}); restore it first with `gallery faces "
                                  f"restore {rejected.id}`; nothing was recorded")


ACTIONS = ("confirmed", "probable", "disputed", "rejected", "reassign")


def curate(session: Session, face_id: int, action: str, sitter_name: str, who: str | None,
           note: str | None = None, from_sitter_id: int | None = None) -> list[Identification]:
    """A curator's decision on a face. `reassign` rejects `from_sitter_id` and confirms `sitter_name`
    (created when new); the other actions record that status for `sitter_name`."""
    if action not in ACTIONS:
        raise IdentificationError(f"action must be one of {ACTIONS}, got {action!r}")
    if not sitter_name or not sitter_name.strip():
        raise IdentificationError("name the sitter")
    _refuse_rejected(session, [face_id])
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



def take_back(session: Session, face_id: int, sitter_id: int, who: str | None, note: str | None = None
              ) -> Identification:
    """Take back the latest curator's decision on a (face, sitter) pair ("undo" in review): a new
    record puts the pair back as it was before (the previous record's status and source), or
    withdraws it when it had none (WITHDRAWN), so a rejected suggestion is suggested again. The
    history keeps the decision and its taking back."""
    last, previous = (list(session.scalars(select(Identification).where(
        Identification.face_id == face_id, Identification.sitter_id == sitter_id)
        .order_by(Identification.id.desc()).limit(2))) + [None, None])[:2]
    if last is None or last.status == WITHDRAWN:
        raise IdentificationError(f"face {face_id} has no decision on this sitter to take back")
    if last.source != "curator":
        raise IdentificationError(f"the latest record of face {face_id} for this sitter came from the {last.source}, "
                                  "not from a curator's decision; nothing was taken back")
    status, source = (previous.status, previous.source) if previous is not None else (WITHDRAWN, "curator")
    return identify(session, face_id, sitter_id, status, source, who,
                    note or f"takes back record {last.id} ({last.status}, by {last.who or 'anonymous'})")
