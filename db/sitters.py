"""Sitters: lookup, import (upsert by name or external id) and the list with face counts."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.identifications import CurrentIdentification, current_identifications
from db.schema import Face, Identification, Sitter, serving


@dataclass(frozen=True)
class SitterRecord:
    """One sitter as a catalogue or a CSV file describes it."""

    name: str
    alternative_names: tuple[str, ...] = ()
    birth_year: int | None = None
    death_year: int | None = None
    notes: str | None = None
    external_ids: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SitterSummary:
    id: int
    name: str
    alternative_names: list
    birth_year: int | None
    death_year: int | None
    external_ids: dict
    faces: int  # active faces currently identified with this sitter (not rejected)
    artworks: int
    portrait_face_id: int | None = None  # the likeness shown for the sitter (portraits)
    portrait_chosen: bool = False  # a curator chose it (else the best confirmed likeness)
    hidden: bool = False

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @property
    def dates(self) -> str:
        return life_dates(self.birth_year, self.death_year)


def life_dates(birth_year: int | None, death_year: int | None, dash: str = "–") -> str:
    """"1606–1669", "?–1669", or "" when neither year is known."""
    if birth_year is None and death_year is None:
        return ""
    return f"{birth_year or '?'}{dash}{death_year or '?'}"


def clean_name(name: str) -> str:
    """A sitter's name as stored (gallery.core.names.written: NFC, white space collapsed)."""
    from gallery.core.names import written

    return written(name)


def _spellings(name: str) -> set[str]:
    """A clean name and its NFD form: a name an earlier release stored decomposed is still the same
    sitter (found, never created twice)."""
    return {name, unicodedata.normalize("NFD", name)}


def _new_sitter(session: Session, name: str) -> Sitter:
    """A sitter of that (clean) name, added to the session, not yet flushed."""
    sitter = Sitter(name=name, alternative_names=[], external_ids={})
    session.add(sitter)
    return sitter


def sitter_named(session: Session, name: str, create: bool = False) -> Sitter | None:
    """The sitter of that name; a merged sitter's name finds the one it was merged into."""
    name = clean_name(name)
    sitter = session.scalars(select(Sitter).where(Sitter.name.in_(_spellings(name))).order_by(Sitter.id)).first()
    for _ in range(100):  # follow merges (bounded: a chain, never a cycle)
        if sitter is None or sitter.merged_into_id is None:
            break
        sitter = session.get(Sitter, sitter.merged_into_id)
    if sitter is None and create:
        sitter = _new_sitter(session, name)
        session.flush()
    return sitter


def sitters_named(session: Session, names, create: bool = False) -> dict[str, Sitter | None]:
    """`sitter_named` for many names at once (name as given -> sitter): one query for those that
    exist, and one flush for those created; merges are followed as there."""
    wanted = {name: clean_name(name) for name in names}
    if not wanted:
        return {}
    spelt = set().union(*(_spellings(name) for name in wanted.values()))
    newest_first = select(Sitter).where(Sitter.name.in_(spelt)).order_by(Sitter.id.desc())
    found = {clean_name(s.name): s for s in session.scalars(newest_first)}  # the oldest spelling wins, as in sitter_named
    sitters: dict[str, Sitter | None] = {}
    created = False
    for given, name in wanted.items():
        sitter = found.get(name)
        if sitter is not None and sitter.merged_into_id is not None:
            sitter = sitter_named(session, name)
        if sitter is None and create:
            sitter = found[name] = _new_sitter(session, name)
            created = True
        sitters[given] = sitter
    if created:
        session.flush()
    return sitters


def _standing_sitters(session: Session) -> list[Sitter]:
    """Every sitter not merged into another, by name."""
    return list(session.scalars(select(Sitter).where(Sitter.merged_into_id.is_(None)).order_by(Sitter.name)))


def _found(sitters: list[Sitter], query: str) -> list[Sitter]:
    """The sitters `query` finds, best match first, then by name."""
    from gallery.core.names import match_rank

    ranked = [(match_rank(query, s.name, s.alternative_names or ()), s.name, s) for s in sitters]
    return [s for rank, _name, s in sorted((r for r in ranked if r[0] is not None), key=lambda r: r[:2])]


@dataclass(frozen=True)
class SitterChoice:
    """A sitter offered by a picker as the curator types: the name to choose and how it reads."""

    name: str
    label: str


def find_sitters(session: Session, query: str | None, limit: int = 8) -> list[SitterChoice]:
    """The sitters a picker offers for what has been typed so far (however typed: case, accents,
    aliases; exact matches first), at most `limit`; none for an empty query. The label adds the
    life dates and the alias that matched, so two namesakes can be told apart. A hidden sitter is
    offered only when its whole name (or an alias) is typed."""
    from gallery.core.names import fold

    wanted = fold(query or "")
    if not wanted:
        return []
    choices = []
    named = [s for s in _standing_sitters(session)  # a hidden sitter only when its whole name is typed
             if not s.hidden or wanted in {fold(n) for n in (s.name, *(s.alternative_names or ()))}]
    for sitter in _found(named, query)[:limit]:
        alias = next((a for a in sitter.alternative_names or () if wanted in fold(a)), None)
        extra = [d for d in (life_dates(sitter.birth_year, sitter.death_year),
                             f"also {alias}" if alias and wanted not in fold(sitter.name) else "") if d]
        choices.append(SitterChoice(sitter.name, f"{sitter.name} ({'; '.join(extra)})" if extra else sitter.name))
    return choices


def sitter_typed(session: Session, name: str) -> Sitter | None:
    """The sitter a curator means by `name`: the one of that name; else the one whose name or alias
    it is however typed (case, accents), when exactly one is; an error naming them when several
    are; None when none is."""
    from db.identifications import IdentificationError
    from gallery.core.names import match_rank

    found = sitter_named(session, name)
    if found is not None or not name or not name.strip():
        return found
    typed = [s for s in _standing_sitters(session) if match_rank(name, s.name, s.alternative_names or ()) in (0, 1, 2)]
    if len(typed) > 1:
        raise IdentificationError(f"{clean_name(name)!r} could be any of {', '.join(sorted(s.name for s in typed))}; "
                                  "write the name as stored")
    return typed[0] if typed else None


def chosen_sitter(session: Session, name: str | None, new: bool = False, create: bool = True) -> Sitter | None:
    """The sitter a curator names for a decision: an existing one, or a new one when `new` is said
    explicitly (a typo must not create a sitter; a new sitter must not silently join an old one).
    With `create` False a valid new name is only checked (None is returned)."""
    from db.identifications import IdentificationError

    if not name or not name.strip():
        raise IdentificationError("name the sitter")
    found = sitter_named(session, name) if new else sitter_typed(session, name)
    if new and found is not None:
        raise IdentificationError(f"a sitter named {found.name!r} exists already; choose it instead of a new one")
    if not new and found is None:
        raise IdentificationError(f"there is no sitter named {clean_name(name)!r}; check the spelling, "
                                  "or create it as a new sitter")
    return found or (sitter_named(session, name, create=True) if create else None)


def _find(session: Session, record: SitterRecord) -> Sitter | None:
    sitter = sitter_named(session, record.name)
    if sitter is None and record.external_ids:
        for candidate in session.scalars(select(Sitter).where(Sitter.external_ids.is_not(None))):
            shared = set(record.external_ids.items()) & set((candidate.external_ids or {}).items())
            if shared:
                return candidate
    return sitter


def import_sitters(session: Session, records: list[SitterRecord]) -> dict[str, int]:
    """Create or update each sitter; fields a record leaves empty are kept as they are."""
    counts = {"created": 0, "updated": 0}
    for record in records:
        sitter = _find(session, record)
        if sitter is None:
            sitter = sitter_named(session, record.name, create=True)
            counts["created"] += 1
        else:
            counts["updated"] += 1
        if record.alternative_names:
            aliases = {clean_name(a) for a in record.alternative_names if a.strip()} - {sitter.name}
            sitter.alternative_names = sorted(set(sitter.alternative_names or []) | aliases)
        for key in ("birth_year", "death_year", "notes"):
            if getattr(record, key) is not None:
                setattr(sitter, key, getattr(record, key))
        if record.external_ids:
            sitter.external_ids = {**(sitter.external_ids or {}), **record.external_ids}
    session.flush()
    return counts


def list_sitters(session: Session, query: str | None = None, include_hidden: bool = False) -> list[SitterSummary]:
    """Every sitter, or those `query` finds however it is typed (gallery.core.names: case, accents,
    aliases; exact matches first), with counts of identified faces and the likeness shown for each.
    Hidden sitters only with `include_hidden`."""
    sitters = [s for s in _standing_sitters(session) if include_hidden or not s.hidden]
    if query:
        sitters = _found(sitters, query)
    faces: dict[int, set[int]] = {}
    artworks: dict[int, set[int]] = {}
    standing = _standing(session)
    for current, artwork_id in standing:
        faces.setdefault(current.sitter_id, set()).add(current.face_id)
        artworks.setdefault(current.sitter_id, set()).add(artwork_id)
    shown = portraits(session, standing)
    return [SitterSummary(s.id, s.name, list(s.alternative_names or []), s.birth_year, s.death_year,
                          dict(s.external_ids or {}), len(faces.get(s.id, ())), len(artworks.get(s.id, ())),
                          shown.get(s.id), shown.get(s.id) is not None and shown.get(s.id) == s.portrait_face_id,
                          bool(s.hidden))
            for s in sitters]


def portraits(session: Session, standing: list | None = None, sitter_ids=None, face_ids=None) -> dict[int, int]:
    """Sitter id -> the face shown for the sitter: the likeness a curator chose, while it is still a
    current identification of the sitter; otherwise the best of its likenesses (confirmed before
    probable or disputed, then the highest face quality, then the earliest face). `standing` is
    db.sitters' reading of the current identifications when the caller has it; otherwise that of
    `face_ids` (the sitters' likenesses, when known) or of the whole collection is read."""
    standing = _standing(session, face_ids) if standing is None else standing
    wanted = None if sitter_ids is None else set(sitter_ids)
    likenesses: dict[int, dict[int, str]] = {}
    for current, _artwork in standing:
        if wanted is None or current.sitter_id in wanted:
            likenesses.setdefault(current.sitter_id, {})[current.face_id] = current.status
    if not likenesses:
        return {}
    chosen = dict(session.execute(select(Sitter.id, Sitter.portrait_face_id)
                                  .where(Sitter.id.in_(list(likenesses)), Sitter.portrait_face_id.is_not(None))).all())
    face_ids = {f for faces in likenesses.values() for f in faces}
    quality = dict(session.execute(select(Face.id, Face.quality).where(Face.id.in_(face_ids))).all())
    out = {}
    for sitter_id, faces in likenesses.items():
        if chosen.get(sitter_id) in faces:
            out[sitter_id] = chosen[sitter_id]
        else:
            out[sitter_id] = min(faces, key=lambda f: (faces[f] != "confirmed", -(quality.get(f) or 0.0), f))
    return out


def portraits_of(session: Session, sitter_ids) -> dict[int, int]:
    """Sitter id -> the face shown for the sitter (`portraits`), reading only these sitters' faces."""
    sitter_ids = [int(s) for s in sitter_ids]
    if not sitter_ids:
        return {}
    faces = session.scalars(select(Identification.face_id).where(Identification.sitter_id.in_(sitter_ids))).all()
    return portraits(session, sitter_ids=sitter_ids, face_ids=set(faces))


def likeness_of(session: Session, sitter: Sitter, face_id: int) -> bool:
    """Whether the face is one of the sitter's current likenesses (serving, identified, not rejected)."""
    return any(c.face_id == face_id and c.sitter_id == sitter.id for c, _a in _standing(session, [face_id]))


def _standing(session: Session, face_ids=None) -> list[tuple[CurrentIdentification, int]]:
    """The current, not rejected identifications of serving faces (or of these faces), each with
    its face's artwork."""
    faces = select(Face.id, Face.artwork_id).where(serving())
    faces = faces.where(Face.id.in_(select(Identification.face_id))) if face_ids is None else \
        faces.where(Face.id.in_([int(f) for f in face_ids]))
    active = dict(session.execute(faces).all())
    return [(c, active[c.face_id]) for c in current_identifications(session, face_ids)
            if c.status != "rejected" and c.face_id in active]


def count_identified_faces(session: Session) -> int:
    return len({current.face_id for current, _artwork in _standing(session)})
