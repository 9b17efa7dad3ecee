"""A sitter's dossier: every identified likeness as a timeline (work date, age, artist, the
identification's status, face thumbnail), so a curator sees how the face ages and which works
carry the identification. Also: the collection's identifications whose work's date is
implausible for the sitter (likely cataloguing errors).

Likenesses are the sitter's current, not rejected identifications of active faces; they are
ordered by the work's earliest year (undated works last, then by title).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select

from db.identifications import current_identifications
from db.schema import Artwork, Face, Sitter, serving
from db.sitters import life_dates, portraits, sitter_typed

from gallery.core.dates import catalogued_date, judge
from gallery.core.version import release
from gallery.core.errors import GalleryError


class DossierError(GalleryError):
    """A dossier that cannot be made."""


@dataclass(frozen=True)
class Likeness:
    face_id: int
    artwork_id: int
    path: str
    title: str | None
    artist: str | None
    date: str | None  # as catalogued
    years: str | None  # the parsed range, "1650" or "1645–1655"
    age: str | None
    plausibility: str
    status: str
    source: str
    who: str | None
    at: str
    thumbnail: bytes | None = field(default=None, repr=False)

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "thumbnail"}


@dataclass(frozen=True)
class Dossier:
    sitter: str
    sitter_id: int
    birth_year: int | None
    death_year: int | None
    alternative_names: list
    external_ids: dict
    notes: str | None
    likenesses: list[Likeness]
    created_at: str
    portrait_face_id: int | None = None  # the likeness shown for the sitter (db.sitters.portraits)

    @property
    def portrait(self) -> Likeness | None:
        return next((x for x in self.likenesses if x.face_id == self.portrait_face_id), None)

    @property
    def dates(self) -> str:
        return life_dates(self.birth_year, self.death_year)

    def to_json(self) -> dict:
        return {"dossier": "portrait-gallery sitter dossier", "release": release(), "created_at": self.created_at,
                "sitter": self.sitter, "sitter_id": self.sitter_id, "birth_year": self.birth_year, "death_year": self.death_year,
                "alternative_names": self.alternative_names, "external_ids": self.external_ids, "notes": self.notes,
                "portrait_face_id": self.portrait_face_id, "likenesses": [x.to_json() for x in self.likenesses]}


def build_dossier(database, name: str, posthumous_years: int) -> Dossier:
    with database.session() as session:
        sitter = sitter_typed(session, name)
        if sitter is None:
            raise DossierError(f"there is no sitter named {' '.join(name.split())!r}")
        likenesses = _likenesses(session, sitter, posthumous_years)
        return Dossier(sitter.name, sitter.id, sitter.birth_year, sitter.death_year,
                       list(sitter.alternative_names or []), dict(sitter.external_ids or {}), sitter.notes,
                       likenesses, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       portraits(session, sitter_ids=[sitter.id],
                                 face_ids=[x.face_id for x in likenesses]).get(sitter.id))


def _likenesses(session, sitter: Sitter, posthumous_years: int) -> list[Likeness]:
    current = {c.face_id: c for c in current_identifications(session)
               if c.sitter_id == sitter.id and c.status != "rejected"}
    if not current:
        return []
    rows = session.execute(select(Face.id, Face.artwork_id, Face.thumbnail, Artwork.path, Artwork.title,
                                  Artwork.artist, Artwork.date)
                           .join(Artwork, Artwork.id == Face.artwork_id)
                           .where(Face.id.in_(list(current)), serving())).all()
    out = []
    for row in rows:
        record = current[row.id]
        years = catalogued_date(row.date)
        verdict = judge(years, sitter.birth_year, sitter.death_year, posthumous_years)
        out.append(Likeness(row.id, row.artwork_id, row.path, row.title, row.artist, row.date,
                            str(years) if years else None, verdict.age_at_date, verdict.verdict, record.status,
                            record.source, record.who, record.at.isoformat(timespec="seconds"), row.thumbnail))
    return sorted(out, key=lambda x: (_start(x.date) is None, _start(x.date) or 0, x.title or "", x.face_id))


def _start(text: str | None) -> int | None:
    years = catalogued_date(text)
    return None if years is None else (years.start if years.start is not None else years.end)


def implausible_identifications(database, posthumous_years: int, limit: int | None = None) -> list[dict]:
    """Current, not rejected identifications whose work's date is implausible for the sitter."""
    with database.session() as session:
        current = [c for c in current_identifications(session) if c.status != "rejected"]
        faces = {c.face_id for c in current}
        works = {r.id: r for r in session.execute(
            select(Face.id, Artwork.id.label("artwork_id"), Artwork.path, Artwork.title, Artwork.date)
            .join(Artwork, Artwork.id == Face.artwork_id)
            .where(serving(), Artwork.date.is_not(None), Face.id.in_(faces)))} if faces else {}
        sitters = {s.id: s for s in session.scalars(select(Sitter).where(Sitter.id.in_({c.sitter_id for c in current})))}
    found = []
    for c in current:
        work = works.get(c.face_id)
        if work is None:
            continue
        sitter = sitters[c.sitter_id]
        verdict = judge(catalogued_date(work.date), sitter.birth_year, sitter.death_year, posthumous_years)
        if verdict.verdict == "implausible":
            found.append({"face_id": c.face_id, "artwork_id": work.artwork_id, "path": work.path, "title": work.title,
                          "date": work.date, "sitter": c.sitter, "life": life_dates(sitter.birth_year,
                                                                                      sitter.death_year),
                          "status": c.status, "source": c.source, "reason": verdict.reason})
    return found[:limit] if limit else found
