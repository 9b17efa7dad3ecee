"""The curated truth, out of the system: every current identification with its face, artwork and
sitter (with the sitter's external ids), as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy import select

from db.engine import Database
from db.identifications import current_identifications
from db.schema import Artwork, Face, Sitter

from gallery.core.version import release
from gallery.reports.formats import file_format
from gallery.core.errors import GalleryError
from gallery.core.files import write_atomically

COLUMNS = ("face_id", "face_index", "box", "active", "origin", "rejected", "artwork_id", "path", "sha256", "title",
           "artist", "date", "accession_number", "institution", "artwork_status", "sitter_id", "sitter", "alternative_names",
           "birth_year", "death_year", "external_ids", "status", "source", "who", "at", "note")


class ExportError(GalleryError):
    """An export that cannot be written."""


def identification_rows(database: Database) -> list[dict]:
    with database.session() as session:
        current = current_identifications(session)
        faces = {f.id: f for f in session.scalars(select(Face).where(Face.id.in_({c.face_id for c in current})))}
        artworks = {a.id: a for a in session.scalars(
            select(Artwork).where(Artwork.id.in_({f.artwork_id for f in faces.values()})))}
        sitters = {s.id: s for s in session.scalars(select(Sitter).where(Sitter.id.in_({c.sitter_id for c in current})))}
    rows = []
    for c in current:
        face, sitter = faces[c.face_id], sitters[c.sitter_id]
        art = artworks[face.artwork_id]
        rows.append({"face_id": face.id, "face_index": face.face_index, "box": [round(v, 1) for v in face.box],
                     "active": face.active, "origin": face.origin,
                     "rejected": face.rejected_at is not None, "artwork_id": art.id, "path": art.path, "sha256": art.sha256,
                     "title": art.title, "artist": art.artist, "date": art.date,
                     "accession_number": art.accession_number, "institution": art.institution,
                     "artwork_status": art.status, "sitter_id": sitter.id, "sitter": sitter.name,
                     "alternative_names": list(sitter.alternative_names or []), "birth_year": sitter.birth_year,
                     "death_year": sitter.death_year, "external_ids": dict(sitter.external_ids or {}),
                     "status": c.status, "source": c.source, "who": c.who, "at": c.at.isoformat(), "note": c.note})
    return rows


def write_identifications(database: Database, path: Path) -> tuple[Path, int]:
    path = Path(path)
    kind = file_format(path, ("csv", "json"), "the export file", ExportError)
    rows = identification_rows(database)
    if kind == "json":
        data = json.dumps({"release": release(), "identifications": rows}, indent=2, ensure_ascii=False) + "\n"
    else:
        out = io.StringIO()
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v
                             for k, v in row.items()})
        data = out.getvalue()
    return write_atomically(path, data.encode("utf-8")), len(rows)
