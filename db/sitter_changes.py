"""A curator's changes to sitters: rename, edit aliases and dates, merge two, delete an unused one.

Each is one transaction and writes a SitterEvent (what, who, when, and what it touched), so the
record of the record is kept. Identifications stay append-only: a merge never rewrites a record;
it appends, for the surviving sitter, a copy of each current identification of the merged one
(unless the survivor already has its own current record for that face, which a curator made and
which wins), then marks the merged sitter `merged_into` the survivor. A merged sitter is hidden
from lists and search, its old records stay in each face's history, and its name becomes one of
the survivor's alternative names (and still finds it).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gallery.core.errors import GalleryError

from db.identifications import current_identifications
from db.schema import Identification, Sitter, SitterEvent
from db.sitters import clean_name, likeness_of, sitter_named, sitter_typed


class SitterError(GalleryError):
    """A change to a sitter that cannot be made; nothing was changed."""


def existing_sitter(session: Session, name: str) -> Sitter:
    """The sitter of that name (or the one it was merged into); a SitterError that says how to find
    names when there is none."""
    sitter = sitter_typed(session, name or "")
    if sitter is None:
        raise SitterError(f"there is no sitter named {name!r} (`gallery sitters list --search …` finds names)")
    return sitter


def _event(session: Session, kind: str, sitter: Sitter, who: str | None, **detail) -> SitterEvent:
    event = SitterEvent(kind=kind, sitter_id=sitter.id, sitter_name=sitter.name, detail=detail, who=who)
    session.add(event)
    session.flush()
    return event


def rename_sitter(session: Session, name: str, new_name: str, who: str | None = None) -> Sitter:
    sitter = existing_sitter(session, name)
    new_name = clean_name(new_name or "")
    if not new_name:
        raise SitterError("give the new name")
    if new_name == sitter.name:
        raise SitterError(f"{sitter.name!r} already has that name")
    taken = session.scalar(select(Sitter).where(Sitter.name == new_name))  # merged ones too: names are unique
    if taken is not None:
        raise SitterError(f"a sitter named {new_name!r} exists already; merge the two instead "
                          f"(`gallery sitters merge {sitter.name!r} {new_name!r}`)")
    old = sitter.name
    sitter.name = new_name
    kept = {old} if clean_name(old) != new_name else set()  # an old decomposed spelling is no alias
    sitter.alternative_names = sorted(set(sitter.alternative_names or []) | kept)
    _event(session, "rename", sitter, who, old_name=old, new_name=new_name)
    return sitter


AUTO = "auto"  # portrait: let the collection choose (the best confirmed likeness)


def edit_sitter(session: Session, name: str, who: str | None = None, aliases: list[str] | None = None,
                birth_year: int | None = None, death_year: int | None = None, notes: str | None = None,
                clear_dates: bool = False, portrait: int | str | None = None, hidden: bool | None = None) -> Sitter:
    """Set the alternative names (replacing them), dates, notes, the likeness shown for the sitter
    (`portrait`: a face id that is one of its current likenesses, or AUTO) and whether it is hidden
    from lists; None leaves a field as it is."""
    sitter = existing_sitter(session, name)
    before = {"alternative_names": list(sitter.alternative_names or []), "birth_year": sitter.birth_year,
              "death_year": sitter.death_year, "notes": sitter.notes, "portrait_face_id": sitter.portrait_face_id,
              "hidden": bool(sitter.hidden)}
    if portrait == AUTO:
        sitter.portrait_face_id = None
    elif portrait is not None:
        if not likeness_of(session, sitter, int(portrait)):
            raise SitterError(f"face {portrait} is not one of {sitter.name}'s likenesses (a face in service whose "
                              "current identification is this sitter); nothing was changed")
        sitter.portrait_face_id = int(portrait)
    if hidden is not None:
        sitter.hidden = hidden
    if aliases is not None:
        sitter.alternative_names = sorted({clean_name(a) for a in aliases if a.strip()} - {sitter.name})
    if clear_dates:
        sitter.birth_year = sitter.death_year = None
    if birth_year is not None:
        sitter.birth_year = birth_year
    if death_year is not None:
        sitter.death_year = death_year
    if sitter.birth_year is not None and sitter.death_year is not None and sitter.death_year < sitter.birth_year:
        raise SitterError(f"death year {sitter.death_year} is before birth year {sitter.birth_year}")
    if notes is not None:
        sitter.notes = notes or None
    after = {"alternative_names": list(sitter.alternative_names or []), "birth_year": sitter.birth_year,
             "death_year": sitter.death_year, "notes": sitter.notes, "portrait_face_id": sitter.portrait_face_id,
             "hidden": bool(sitter.hidden)}
    _event(session, "edit", sitter, who, before=before, after=after)
    return sitter


def merge_sitters(session: Session, source_name: str, target_name: str, who: str | None = None,
                  note: str | None = None) -> dict:
    """Merge `source_name` into `target_name`; returns what moved."""
    source, target = existing_sitter(session, source_name), existing_sitter(session, target_name)
    if source.id == target.id:
        raise SitterError(f"{source.name!r} and {target_name!r} are the same sitter; nothing to merge")
    own = {c.face_id for c in current_identifications(session) if c.sitter_id == target.id}
    moved, kept = [], []
    for current in current_identifications(session):
        if current.sitter_id != source.id:
            continue
        if current.face_id in own:
            kept.append(current.face_id)
            continue
        was = f"{current.status} for {source.name} by {current.who or current.source}, {current.at:%Y-%m-%d}"
        session.add(Identification(face_id=current.face_id, sitter_id=target.id, status=current.status,
                                   source=current.source, who=who or current.who,
                                   note=f"merged from {source.name} (was {was})"
                                        + (f": {current.note}" if current.note else "") + (f"; {note}" if note else "")))
        moved.append(current.face_id)
    target.alternative_names = sorted(set(target.alternative_names or []) | set(source.alternative_names or [])
                                      | {source.name})
    target.external_ids = {**(source.external_ids or {}), **(target.external_ids or {})}
    target.birth_year = target.birth_year if target.birth_year is not None else source.birth_year
    target.death_year = target.death_year if target.death_year is not None else source.death_year
    source.merged_into_id = target.id
    summary = {"from": source.name, "from_id": source.id, "into": target.name, "into_id": target.id,
               "faces_moved": moved, "faces_already_with_target": kept, "note": note}
    _event(session, "merge", target, who, **summary)
    return summary


def delete_sitter(session: Session, name: str, who: str | None = None) -> None:
    """Delete a sitter that no identification record names (history included)."""
    sitter = existing_sitter(session, name)
    records = session.scalar(select(func.count(Identification.id)).where(Identification.sitter_id == sitter.id))
    if records:
        raise SitterError(f"{sitter.name!r} is named in {records} identification record(s); a sitter with a "
                          "history is never deleted. Merge it into the right sitter instead.")
    if session.scalar(select(func.count(Sitter.id)).where(Sitter.merged_into_id == sitter.id)):
        raise SitterError(f"other sitters were merged into {sitter.name!r}; it keeps their history")
    _event(session, "delete", sitter, who, alternative_names=list(sitter.alternative_names or []),
           birth_year=sitter.birth_year, death_year=sitter.death_year, external_ids=dict(sitter.external_ids or {}))
    session.delete(sitter)
    session.flush()


def sitter_events(session: Session, name: str | None = None, limit: int = 200) -> list[SitterEvent]:
    statement = select(SitterEvent).order_by(SitterEvent.id.desc()).limit(limit)
    if name:
        sitter = sitter_named(session, name)
        ids = {sitter.id} if sitter else set()
        statement = statement.where((SitterEvent.sitter_id.in_(ids)) | (SitterEvent.sitter_name == name))
    return list(session.scalars(statement))


def merge_words(moved: dict) -> str:
    """A merge, in the words the CLI and the page both use."""
    return (f"Merged {moved['from']} into {moved['into']}: {len(moved['faces_moved'])} face(s) moved, "
            f"{len(moved['faces_already_with_target'])} already identified with {moved['into']}.")
