"""Walking a collection and deciding, file by file, what a run must do.

- new: a path and content the database does not know -> detect, embed, insert.
- changed: a known path with new content -> detect again; the old faces are retired (kept for
  their history) and their identifications carried to the matching new faces.
- moved: known content at a new path whose old path is gone -> the artwork row follows the
  file, keeping its faces and identifications.
- embed: known and unchanged, but without vectors in this run's embedding set (a new model)
  -> the stored faces are aligned again from their landmarks and embedded; no new detection.
- unchanged: nothing to do unless metadata for it was given or it had been marked missing.
- failed: unreadable or undecodable -> an ingest error, the rest of the batch goes on.
Files the walk does not read are counted by kind (hidden, sidecar, other); pictures in a format
the product does not read (camera raw, GIF, PSD, ...) are each recorded as an error that names the
readable formats, so a folder of them never indexes as "nothing" in silence.
Known artworks under the collection that were not seen are marked missing, never erased.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from gallery.core.errors import GalleryError
from gallery.faces.formats import SUPPORTED_LIST, is_image_path, kind_of_other_file
from gallery.faces.pipeline import ImageResult

from indexer.metadata import ArtworkMeta, MetadataProblem, read_artwork_csv, sitter_from_folder
from indexer.reader import ReadResult

if TYPE_CHECKING:  # the run's stages import the database layer once the reader processes are booting
    from db.collection import KnownArtwork


CARRY_IOU = 0.5  # a changed file's new face is an old face's (identifications, rejection) above this overlap


class CollectionError(GalleryError):
    """A collection folder that cannot be indexed as given."""


@dataclass(frozen=True)
class CollectionFile:
    path: str  # absolute: the resolved collection folder + the path inside it
    relative: PurePosixPath
    meta: ArtworkMeta
    from_csv: bool = False
    known_sha256: str | None = None  # the hash to skip decoding for (unchanged and fully embedded)
    source: str | None = None  # where the bytes are read, when not at `path` (a IIIF canvas's cached image)

    @property
    def read_path(self) -> str:
        return self.source or self.path


@dataclass(frozen=True)
class Collection:
    root: Path | str  # a folder, or the URI of a IIIF manifest or collection
    files: list[CollectionFile]
    problems: list[MetadataProblem]
    skipped: dict[str, int] = field(default_factory=dict)  # files not read, by kind (formats.kind_of_other_file)
    unsupported: list[PurePosixPath] = field(default_factory=list)  # pictures in a format not read: errors


@dataclass
class Task:
    file: CollectionFile
    kind: str  # new | changed | moved | embed | unchanged | failed
    read: ReadResult
    known: KnownArtwork | None = None  # the artwork row this task updates
    faces: list | None = None  # embed: the stored faces (db.schema.Face) to align again
    # changed: the artwork's hand-drawn faces (db.schema.Face) and the picture size they were drawn on,
    # carried to the new picture where the detector finds no face (indexer.mapper)
    drawn: list | None = None
    drawn_size: tuple[int, int] | None = None
    drawn_kept: int = 0  # how many of the result's faces, at its end, are hand-drawn (carried over, or regions')
    # named face regions of the file's XMP, each with the position of its face in `result` (indexer.mapper)
    regions: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the file's metadata problems, recorded as its errors
    result: ImageResult | None = None  # filled by the mapper
    notes: list[str] = field(default_factory=list)

    @property
    def needs_models(self) -> bool:
        return self.kind in ("new", "changed", "embed")


def walk_collection(root: Path, metadata_csv: Path | None = None) -> Collection:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise CollectionError(f"collection folder {root} does not exist or is not a folder")
    root = root.resolve()
    csv_meta, problems = read_artwork_csv(metadata_csv, root) if metadata_csv else ({}, [])
    files, skipped, unsupported = [], Counter(), []
    for path in sorted(root.rglob("*")):
        relative = PurePosixPath(path.relative_to(root).as_posix())
        if not path.is_file():
            continue
        hidden = any(part.startswith(".") for part in relative.parts)
        if hidden or not is_image_path(path):
            kind = "hidden" if hidden else kind_of_other_file(path)
            skipped[kind] += 1
            if kind == "unsupported image":
                unsupported.append(relative)
            continue
        meta = csv_meta.get(str(relative))
        folder_sitter = sitter_from_folder(relative)
        if meta is None:
            meta = ArtworkMeta(sitter=folder_sitter)
        elif meta.sitter is None and folder_sitter:
            meta = ArtworkMeta(folder_sitter, meta.face, meta.fields, meta.extras)
        files.append(CollectionFile(str(root / relative), relative, meta, str(relative) in csv_meta))
    return Collection(root, files, problems, dict(skipped), unsupported)


def unsupported_message(relative: PurePosixPath) -> str:
    return f"{relative.suffix or 'this'} files are not read; readable formats: {SUPPORTED_LIST}"


class Planner:
    """Classifies each read file against what the database knew when the run started."""

    def __init__(self, known: dict[str, KnownArtwork], root: Path):
        self.known = known
        self.root = str(root)
        self.by_sha: dict[str, list[KnownArtwork]] = {}
        for artwork in known.values():
            self.by_sha.setdefault(artwork.sha256, []).append(artwork)
        self.seen: set[str] = set()  # artwork paths accounted for (present, or moved away)

    def prepare(self, files: list[CollectionFile]) -> list[CollectionFile]:
        """Give each file the hash under which the reader may skip decoding it."""
        out = []
        for item in files:
            known = self.known.get(item.path)
            skip = known.sha256 if known and known.embedded == known.faces else None
            out.append(replace(item, known_sha256=skip))
        return out

    def classify(self, item: CollectionFile, read: ReadResult) -> Task:
        known = self.known.get(item.path)
        if known is not None:
            self.seen.add(item.path)
        if read.error is not None:
            return Task(item, "failed", read, known)
        if known is not None and read.sha256 == known.sha256:
            return Task(item, "unchanged" if read.unchanged else "embed", read, known)
        if known is not None:
            return Task(item, "changed", read, known)
        moved = self._moved_from(read.sha256)
        if moved is not None:
            self.seen.add(moved.path)
            return Task(item, "moved" if moved.embedded == moved.faces else "embed", read, moved,
                        notes=[f"moved from {moved.path}"])
        return Task(item, "new", read)

    def _moved_from(self, sha: str) -> KnownArtwork | None:
        for candidate in self.by_sha.get(sha, ()):
            if candidate.path not in self.seen and not Path(candidate.path).exists():
                return candidate
        return None

    def vanished(self) -> list[KnownArtwork]:
        """Known artworks of this collection not seen in this run, not already marked missing."""
        prefix = self.root.rstrip("/") + "/"
        return [a for p, a in self.known.items()
                if p.startswith(prefix) and p not in self.seen and a.status != "missing"]
