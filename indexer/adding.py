"""Adding one image to the collection (the page's "Add to the collection", `gallery add`).

The file is kept in a managed folder, `<data_dir>/added/<sha256[:2]>/<sha256>.<ext>`, and indexed
by the indexer's own stages and writer (indexer.runner.index_files), so an added image is an
artwork like any other: incremental, recorded in an index run, searchable as soon as the call
returns. Everything that can be refused is checked before anything is written: an image the
loader refuses, a face number the image does not have, a sitter that does not exist (unless a new
one is asked for) or a new sitter whose name is taken. An image already in the collection (same
sha256, anywhere) is not added twice: its artwork is returned and the decision, if any, applies
to its face.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy import select

from db.decisions import name_faces
from db.schema import Artwork, Face, serving
from db.sitters import chosen_sitter

from gallery.core.errors import GalleryError
from gallery.core.files import write_atomically
from gallery.faces.formats import suffix_for

DETAILS = ("title", "artist", "date", "accession_number")


class AddError(GalleryError):
    """An image that cannot be added as asked; nothing was written."""


@dataclass(frozen=True)
class Added:
    artwork_id: int
    path: str
    face_ids: list[int]  # the artwork's active faces, largest first
    already_there: bool  # the same file was in the collection before
    identified_face: int | None = None
    sitter: str | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)

    def describe(self) -> str:
        where = "was already in the collection" if self.already_there else "was added to the collection"
        text = f"The image {where} as artwork {self.artwork_id} with {len(self.face_ids)} face(s)"
        if self.sitter:
            text += f"; face {self.identified_face} is confirmed as {self.sitter}"
        return text + "."


def added_folder(settings) -> Path:
    return Path(settings.data_dir).expanduser().resolve() / "added"


def add_image(settings, pipeline, database, data: bytes, name: str, details: dict | None = None,
              sitter: str | None = None, new_sitter: bool = False, face: int | None = None,
              who: str | None = None, note: str | None = None) -> Added:
    """Add the image `data` (uploaded as `name`) with catalogue `details` (title, artist, date,
    accession_number), optionally confirming face `face` (0 = the largest) as `sitter`."""
    from indexer.metadata import ArtworkMeta
    from indexer.plan import CollectionFile
    from indexer.runner import index_files

    fields = _fields(details or {}, name)
    image = pipeline.load(data, name)
    sha = hashlib.sha256(data).hexdigest()
    if face is not None and sitter is None:
        raise AddError("a face number was given without a sitter to confirm it as")
    with database.session() as session:
        if sitter is not None:
            chosen_sitter(session, sitter, new_sitter, create=False)
        existing = session.scalar(select(Artwork).where(Artwork.sha256 == sha, Artwork.status == "present")
                                  .order_by(Artwork.id).limit(1))
        known = None if existing is None else (existing.id, existing.path, _faces(session, existing.id))
    if known is not None:
        return _identify(database, Added(known[0], known[1], known[2], True), sitter, new_sitter, face, who, note)
    if sitter is not None:
        found = len(pipeline.detect(image))
        if (face or 0) >= found:
            raise AddError(f"{name}: {found} face(s) were found, so there is no face {face or 0} to confirm as "
                           f"{sitter}; nothing was added")
    folder = added_folder(settings)
    relative = PurePosixPath(sha[:2]) / f"{sha}{suffix_for(image.format)}"
    target = folder / relative
    if not target.exists():
        write_atomically(target, data)
    meta = ArtworkMeta(fields=fields, extras={"original_name": name, **({"added_by": who} if who else {})})
    summary = index_files(settings, folder, [CollectionFile(str(target), relative, meta, from_csv=True)],
                          database, pipeline)
    if summary.errors:
        raise AddError(f"{name} could not be indexed: {summary.errors[0][1]}")
    with database.session() as session:
        artwork = session.scalar(select(Artwork).where(Artwork.path == str(target)))
        added = Added(artwork.id, artwork.path, _faces(session, artwork.id), False)
    return _identify(database, added, sitter, new_sitter, face, who, note)


def _fields(details: dict, name: str) -> dict:
    unknown = set(details) - set(DETAILS)
    if unknown:
        raise AddError(f"unknown artwork detail(s) {sorted(unknown)}; give {', '.join(DETAILS)}")
    fields = {k: " ".join(str(v).split()) for k, v in details.items() if v is not None and str(v).strip()}
    fields.setdefault("title", Path(name).stem.replace("_", " ") or "untitled")
    return fields


def _faces(session, artwork_id: int) -> list[int]:
    return list(session.scalars(select(Face.id).where(Face.artwork_id == artwork_id, serving())
                                .order_by(Face.face_index)))


def _identify(database, added: Added, sitter, new_sitter, face, who, note) -> Added:
    if sitter is None:
        return added
    number = face or 0
    if number >= len(added.face_ids):
        raise AddError(f"artwork {added.artwork_id} has {len(added.face_ids)} face(s); there is no face {number} "
                       f"to confirm as {sitter}" + ("" if added.already_there else
                                                   " (the image itself was added)"))
    with database.session() as session:
        [record] = name_faces(session, [added.face_ids[number]], sitter, new_sitter, who,
                              note or "confirmed when the image was added")
        name = record.sitter.name
    return Added(added.artwork_id, added.path, added.face_ids, added.already_there, number, name)
