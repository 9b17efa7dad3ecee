"""Catalogue metadata: sitters from folder names, artwork and sitter CSV files.

- Folder per sitter: `COLLECTION/<Sitter Name>/<image>`; the image's own folder names the
  sitter (underscores read as spaces). Images directly in COLLECTION have no sitter.
- Artwork CSV: a `file` column (relative to the collection) and any of `sitter`, `face`,
  `title`, `artist`, `date`, `year`, `accession_number`, `institution`, `medium`; other
  columns are kept as JSON extras. A CSV sitter wins over the folder name. A bad row is a
  problem to report, never a reason to stop.
- Sitter CSV: `name` and any of `alternative_names` (separated by `;` or `|`), `birth_year`,
  `death_year`, `notes`; every other column is an external id (`wikidata`, `ulan`, `viaf`…).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from gallery.core.errors import GalleryError

if TYPE_CHECKING:  # the database layer is imported where a sitter file is read, not with the walk
    from db.sitters import SitterRecord

ARTWORK_FIELDS = ("title", "artist", "date", "year", "accession_number", "institution", "medium")
ALIASES = {"filename": "file", "path": "file", "accession": "accession_number", "accession_no": "accession_number",
           "inventory_number": "accession_number", "name": "sitter", "born": "birth_year", "died": "death_year",
           "aliases": "alternative_names", "alternative_name": "alternative_names"}
SITTER_FIELDS = ("name", "alternative_names", "birth_year", "death_year", "notes")
WIKIDATA_QID = re.compile(r"^Q[1-9]\d*$")


class MetadataError(GalleryError):
    """A metadata file that cannot be used at all (missing, unreadable, no required column)."""


@dataclass(frozen=True)
class ArtworkMeta:
    sitter: str | None = None
    face: int | None = None  # which face (0 = largest) the sitter is; None = the largest
    fields: dict = field(default_factory=dict)  # title, artist, date, year, ...
    extras: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MetadataProblem:
    where: str  # "FILE.csv line N" or a path
    message: str


def sitter_from_folder(relative: PurePosixPath) -> str | None:
    if len(relative.parts) < 2:
        return None
    name = " ".join(relative.parts[-2].replace("_", " ").split())
    return name or None


def _column(name: str) -> str:
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return ALIASES.get(key, key)


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise MetadataError(f"metadata file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise MetadataError(f"metadata file {path} cannot be read as UTF-8 text: {err}") from None
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text.splitlines(), dialect)
    header = next(reader, None)
    if not header:
        raise MetadataError(f"metadata file {path} is empty")
    columns = [_column(c) for c in header]
    rows = []
    for line, values in enumerate(reader, start=2):
        if any(v.strip() for v in values):
            rows.append((line, {c: v.strip() for c, v in zip(columns, values) if c and v.strip()}))
    return columns, rows


def _int(value: str | None, what: str, problems: list, where: str) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        problems.append(MetadataProblem(where, f"{what} {value!r} is not a number; ignored"))
        return None


def read_artwork_csv(path: Path, collection: Path) -> tuple[dict[str, ArtworkMeta], list[MetadataProblem]]:
    """Metadata by path relative to the collection (POSIX form), and the problems found."""
    columns, rows = _read_rows(path)
    if "file" not in columns:
        raise MetadataError(f"metadata file {path} has no 'file' column (columns: {', '.join(columns)})")
    root = Path(collection).resolve()
    found: dict[str, ArtworkMeta] = {}
    problems: list[MetadataProblem] = []
    for line, row in rows:
        where = f"{Path(path).name} line {line}"
        relative = row.pop("file", "")
        target = (root / relative).resolve()
        if not relative:
            problems.append(MetadataProblem(where, "no file named; row ignored"))
            continue
        if not target.is_relative_to(root):
            problems.append(MetadataProblem(where, f"{relative} is outside the collection; row ignored"))
            continue
        if not target.is_file():
            problems.append(MetadataProblem(where, f"{relative} does not exist in the collection; row ignored"))
            continue
        key = target.relative_to(root).as_posix()
        if key in found:
            problems.append(MetadataProblem(where, f"{relative} is listed twice; the later row wins"))
        face = _int(row.pop("face", None), "face", problems, where)
        fields = {k: row.pop(k) for k in ARTWORK_FIELDS if k in row}
        if "year" in fields:
            fields["year"] = _int(fields["year"], "year", problems, where)
        if fields.get("date"):
            _check_date(fields["date"], problems, where)
        found[key] = ArtworkMeta(row.pop("sitter", None), face if face is None or face >= 0 else None, fields, row)
    return found, problems


def _check_date(text: str, problems: list[MetadataProblem], where: str) -> None:
    """An unreadable date is kept as written (shown, never used to judge plausibility) and reported."""
    from gallery.core.dates import DateError, parse_date

    try:
        parse_date(text)
    except DateError as err:
        problems.append(MetadataProblem(where, f"{err}; kept as text, the work's date counts as unknown"))


def read_sitters_csv(path: Path) -> tuple[list[SitterRecord], list[MetadataProblem]]:
    from db.sitters import SitterRecord

    columns, rows = _read_rows(path)
    if "name" not in columns and "sitter" not in columns:
        raise MetadataError(f"sitters file {path} has no 'name' column (columns: {', '.join(columns)})")
    records, problems = [], []
    for line, row in rows:
        where = f"{Path(path).name} line {line}"
        name = row.pop("name", None) or row.pop("sitter", None)
        if not name:
            problems.append(MetadataProblem(where, "no name; row ignored"))
            continue
        aliases = tuple(a.strip() for a in re.split(r"[;|]", row.pop("alternative_names", "")) if a.strip())
        birth = _int(row.pop("birth_year", None), "birth_year", problems, where)
        death = _int(row.pop("death_year", None), "death_year", problems, where)
        notes = row.pop("notes", None)
        qid = row.get("wikidata")
        if qid is not None and not WIKIDATA_QID.match(qid):
            problems.append(MetadataProblem(where, f"wikidata {qid!r} is not a QID like Q5598; ignored"))
            row.pop("wikidata")
        records.append(SitterRecord(name, aliases, birth, death, notes, dict(row)))
    return records, problems
