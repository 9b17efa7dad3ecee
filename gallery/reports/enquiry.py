"""Enquiries in batches: a folder or a zip of images (a dealer's catalogue, a family album) searched
as one job, with one summary that can be written as CSV, JSON or PDF.

- Images are searched `batch` at a time with one model call for all their faces (as the indexer
  does); the largest face of each image, or every face with `all_faces`.
- An unreadable file, a zip member that is no image, or an image without a face is a row that says
  so; the job never stops for one file.
- A zip is read member by member into a private folder: names that would leave it (absolute, `..`)
  are refused, and the total uncompressed size and member count are capped against zip bombs.
"""

from __future__ import annotations

import shutil
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Callable

from gallery.faces.batch import collect_images
from gallery.core.version import release
from gallery.reports.formats import file_format
from gallery.core.errors import GalleryError, NoFaceError
from gallery.core.files import write_atomically
from gallery.faces.formats import SUPPORTED_LIST, is_image_path
from gallery.search.service import SearchRequest, SearchResult, SearchService

ZIP_MAX_MEMBERS = 20_000
ZIP_MAX_BYTES = 4_000_000_000  # uncompressed, all members together
FORMATS = ("csv", "json", "pdf")
NO_FACE = "no face found"  # the problem of a query image without a face
CSV_COLUMNS = ("query", "face", "faces_in_image", "rank", "sitter", "score", "false_match", "search_false_match",
               "likelihood_ratio", "verbal", "likenesses", "status", "works", "best_work", "note")


class EnquiryError(GalleryError):
    """An enquiry that cannot run as given; nothing was searched."""


@dataclass(frozen=True)
class QueryOutcome:
    query: str  # the file's name inside the folder or zip
    results: list[SearchResult] = field(default_factory=list)  # one per face searched
    problem: str | None = None  # why nothing was searched (unreadable, not an image, no face)


@dataclass(frozen=True)
class Enquiry:
    source: str
    outcomes: list[QueryOutcome]
    top_k: int
    all_faces: bool
    seconds: float
    profile: str
    embedding_set: str

    @property
    def images_per_s(self) -> float:
        return len(self.outcomes) / self.seconds if self.seconds else 0.0

    def counts(self) -> dict:
        return {"queries": len(self.outcomes), "faces_searched": sum(len(o.results) for o in self.outcomes),
                "no_face": sum(o.problem == NO_FACE for o in self.outcomes),
                "failed": sum(o.problem not in (None, NO_FACE) for o in self.outcomes),
                "confident": sum(any(not r.no_confident_match for r in o.results) for o in self.outcomes)}

    def rows(self) -> list[dict]:
        """One row per query face and candidate rank; a query with no face or no candidate gets one
        row saying so."""
        rows = []
        for outcome in self.outcomes:
            if outcome.problem is not None:
                rows.append(_row(outcome.query, note=outcome.problem))
                continue
            for result in outcome.results:
                base = {"query": outcome.query, "face": result.face, "faces_in_image": len(result.faces)}
                if not result.candidates:
                    rows.append(_row(**base, note="no candidate sitter"))
                    continue
                for rank, cand in enumerate(result.candidates, start=1):
                    below = cand.score < result.threshold
                    rows.append(_row(**base, rank=rank, sitter=cand.sitter, score=round(cand.score, 4),
                                     false_match=cand.false_match or "",
                                     search_false_match=cand.search_false_match or "",
                                     likelihood_ratio=round(cand.likelihood.likelihood_ratio, 4) if cand.likelihood
                                     else None, verbal=cand.likelihood.verbal if cand.likelihood else "",
                                     likenesses=cand.likelihood.likenesses if cand.likelihood else None,
                                     status=cand.status,
                                     works=len(cand.artworks), best_work=cand.artworks[0].path,
                                     note="below the match threshold" if below else ""))
        return rows

    def to_json(self) -> dict:
        return {"enquiry": self.source, "release": release(), "top_k": self.top_k, "all_faces": self.all_faces,
                "profile": self.profile,
                "embedding_set": self.embedding_set, **self.counts(), "seconds": round(self.seconds, 2),
                "images_per_s": round(self.images_per_s, 2),
                "queries": [{"query": o.query, "problem": o.problem, "results": [r.to_json() for r in o.results]}
                            for o in self.outcomes]}


def _row(query: str, face=None, faces_in_image=None, rank=None, sitter="", score=None, false_match="",
         search_false_match="", likelihood_ratio=None, verbal="", likenesses=None, status="", works=None,
         best_work="", note="") -> dict:
    return {"query": query, "face": face, "faces_in_image": faces_in_image, "rank": rank, "sitter": sitter,
            "score": score, "false_match": false_match, "search_false_match": search_false_match,
            "likelihood_ratio": likelihood_ratio, "verbal": verbal, "likenesses": likenesses, "status": status, "works": works, "best_work": best_work,
            "note": note}


# -- inputs -------------------------------------------------------------------------------------
def enquiry_inputs(sources: list[Path], workdir: Path) -> tuple[list[tuple[str, Path]], list[QueryOutcome]]:
    """(name, file) of every image in the folders, zips and files given, and the members refused."""
    files, refused = [], []
    for number, source in enumerate(map(Path, sources)):
        if not source.exists():
            raise EnquiryError(f"{source} does not exist")
        if source.is_dir():
            found = collect_images([source])
            if not found and len(sources) == 1:
                raise EnquiryError(f"{source} holds no image files ({SUPPORTED_LIST}); nothing was searched")
            files += [(str(f.relative_to(source)), f) for f in found]
        elif zipfile.is_zipfile(source):
            unpacked = workdir / f"zip{number}"
            unpacked.mkdir(parents=True)
            more, bad = _unzip(source, unpacked)
            files, refused = files + more, refused + bad
        else:
            files.append((source.name, source))
    if not files and not refused:
        raise EnquiryError("no image files were given; nothing was searched")
    return files, refused


def _unzip(source: Path, workdir: Path) -> tuple[list[tuple[str, Path]], list[QueryOutcome]]:
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as err:
        raise EnquiryError(f"{source} is not a readable zip file ({err})") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not _hidden(m.filename)]
        if len(members) > ZIP_MAX_MEMBERS:
            raise EnquiryError(f"{source} holds {len(members):,} files; the limit is {ZIP_MAX_MEMBERS:,}")
        if sum(m.file_size for m in members) > ZIP_MAX_BYTES:
            raise EnquiryError(f"{source} unpacks to more than {ZIP_MAX_BYTES / 1e9:.0f} GB; split it")
        files, refused = [], []
        for number, member in enumerate(members):
            name = member_name(member)
            parts = PurePosixPath(name.replace("\\", "/")).parts
            if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                refused.append(QueryOutcome(name, problem="refused: a path that leaves the archive"))
            elif not is_image_path(Path(name)):
                refused.append(QueryOutcome(name, problem=f"not an image file ({SUPPORTED_LIST})"))
            else:
                target = workdir / f"{number:06d}{Path(name).suffix.lower()}"
                try:
                    with archive.open(member) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
                except (zipfile.BadZipFile, OSError, EOFError) as err:  # a damaged member
                    refused.append(QueryOutcome(name, problem=f"unreadable in the archive ({err})"))
                    continue
                files.append((name, target))
    if not files and not refused:
        raise EnquiryError(f"{source} holds no files; nothing was searched")
    return files, refused


def member_name(member: zipfile.ZipInfo) -> str:
    """A zip member's name as its maker wrote it, in NFC. Zips from macOS's Archive Utility and many
    other tools hold UTF-8 names without the flag that says so, which Python reads as code page 437
    ("ZoÃ«"): such a name is read again as UTF-8 when it is valid UTF-8."""
    name = member.filename
    if not member.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return unicodedata.normalize("NFC", name)


def _hidden(name: str) -> bool:
    """Resource forks and dot files that archivers add (not `..`, which is refused, never hidden)."""
    return any((part.startswith(".") and part not in (".", "..")) or part == "__MACOSX"
               for part in PurePosixPath(name).parts)


# -- the job --------------------------------------------------------------------------------------
def run_enquiry(service: SearchService, sources: list[Path], workdir: Path, all_faces: bool = False,
                top_k: int = 10, threshold: float = 0.3, batch: int = 16,
                on_progress: Callable[[int, int], None] | None = None, label: str | None = None) -> Enquiry:
    """Search every image of `sources` (folders, zips, image files); `workdir` (empty, the caller's)
    receives unpacked zip members."""
    started = time.monotonic()
    files, outcomes = enquiry_inputs(list(sources), Path(workdir))
    set_key = service.embedding_set.key  # fails at once when nothing is indexed with this profile
    ask = service.search_each_face if all_faces else service.search_many
    for start in range(0, len(files), batch):
        chunk = files[start:start + batch]
        answers = ask([SearchRequest(path, name, None, top_k, threshold=threshold, view=False) for name, path in chunk])
        for (name, _path), answer in zip(chunk, answers):
            if isinstance(answer, GalleryError):
                outcomes.append(QueryOutcome(name, problem=_plain(answer)))
            else:  # kept for the summary only: without the file's bytes, which a large enquiry would hold all of
                outcomes.append(QueryOutcome(name, [replace(r, query_bytes=b"")
                                                    for r in (answer if isinstance(answer, list) else [answer])]))
        if on_progress:
            on_progress(min(start + batch, len(files)), len(files))
    outcomes.sort(key=lambda o: o.query)
    return Enquiry(label or ", ".join(map(str, sources)), outcomes, top_k, all_faces, time.monotonic() - started,
                   service.pipeline.profile.name, set_key)


def _plain(err: GalleryError) -> str:
    return NO_FACE if isinstance(err, NoFaceError) else f"unreadable: {getattr(err, 'reason', None) or err}"


def write_enquiry(enquiry: Enquiry, path: Path, service: SearchService | None = None) -> Path:
    """CSV, JSON or PDF by the file's suffix (the PDF's thumbnails come from the service's database)."""
    import csv
    import io
    import json

    kind = results_kind(path)
    if kind == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(enquiry.rows())
        data = out.getvalue().encode()
    elif kind == "json":
        data = (json.dumps(enquiry.to_json(), indent=2, ensure_ascii=False) + "\n").encode()
    else:
        from gallery.reports.enquiry_pdf import render_enquiry_pdf

        data = render_enquiry_pdf(enquiry, service)
    return write_atomically(Path(path), data)


def results_kind(path) -> str:
    """csv, json or pdf, from the results file's name (checked before an enquiry runs, too)."""
    return file_format(path, FORMATS, "the results file", EnquiryError)
