"""What the exchange exports (XMP regions, Linked Art, Wikidata) state: the current
identifications of the serving faces of present artworks, each with its face, artwork and sitter,
in artwork then face order. Rejected identifications only where asked for (Linked Art keeps them
as assignments)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from db.engine import Database
from db.identifications import current_identifications
from db.schema import Artwork, Face, Sitter, serving


@dataclass(frozen=True)
class Stated:
    current: object  # db.identifications.CurrentIdentification
    face: Face
    artwork: Artwork
    sitter: Sitter


def stated_identifications(database: Database, include_rejected: bool = False) -> list[Stated]:
    with database.session() as session:
        current = [c for c in current_identifications(session) if include_rejected or c.status != "rejected"]
        faces = {f.id: f for f in session.scalars(select(Face).where(Face.id.in_({c.face_id for c in current}),
                                                                      serving()))}
        artworks = {a.id: a for a in session.scalars(select(Artwork).where(
            Artwork.id.in_({f.artwork_id for f in faces.values()}), Artwork.status == "present"))}
        sitters = {s.id: s for s in session.scalars(
            select(Sitter).where(Sitter.id.in_({c.sitter_id for c in current})))}
        session.expunge_all()
    stated = [Stated(c, faces[c.face_id], artworks[faces[c.face_id].artwork_id], sitters[c.sitter_id])
              for c in current if c.face_id in faces and faces[c.face_id].artwork_id in artworks]
    return sorted(stated, key=lambda s: (s.artwork.id, s.face.face_index, s.face.id, s.sitter.id))
