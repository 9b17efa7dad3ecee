"""The identifications as a Wikidata QuickStatements batch (`gallery export wikidata`): for each
artwork with a Wikidata item, "depicts" (P180) the sitter's item, qualified with the face's
relative position within the image (P2677, `pct:x,y,w,h` of the stored picture) and, for an
identification short of confirmed (probable), "sourcing circumstances: presumably" (P1480 Q18122778).
Disputed identifications are not stated. Artworks and sitters without a Wikidata id, and hidden
sitters, are listed apart, never guessed.

An artwork's item is the `wikidata` column of the artworks CSV (kept in the artwork's extras) or
an `https://www.wikidata.org/wiki/Q…` / `http://www.wikidata.org/entity/Q…` URI there; a
sitter's is its `wikidata` external id (sitters CSV).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from db.engine import Database
from gallery.core.errors import GalleryError
from gallery.core.files import write_atomically
from gallery.faces.regions import box_fractions

from gallery.reports.stated import stated_identifications

DEPICTS, POSITION, SOURCING, PRESUMABLY = "P180", "P2677", "P1480", "Q18122778"
STATED = {"confirmed": (), "probable": ((SOURCING, PRESUMABLY),)}  # status -> extra qualifiers
QID = re.compile(r"^(?:https?://(?:www\.)?wikidata\.org/(?:wiki|entity)/)?(Q[1-9][0-9]*)$")


class WikidataExportError(GalleryError):
    """Nothing to state, or a batch that cannot be written."""


@dataclass
class WikidataBatch:
    lines: list[str] = field(default_factory=list)
    without_item: dict[int, str] = field(default_factory=dict)  # artwork id -> path: identified, no Wikidata id
    sitters_without_item: set[str] = field(default_factory=set)
    hidden: set[str] = field(default_factory=set)
    disputed: int = 0

    def describe(self) -> list[str]:
        out = []
        if self.without_item:
            out.append(f"{len(self.without_item)} identified artwork(s) without a Wikidata id (give one in the "
                       "artworks CSV's wikidata column):")
            out += [f"  artwork {i}: {p}" for i, p in sorted(self.without_item.items())]
        if self.sitters_without_item:
            out.append(f"{len(self.sitters_without_item)} sitter(s) without a Wikidata id (sitters CSV): "
                       + "; ".join(sorted(self.sitters_without_item)))
        if self.hidden:
            out.append(f"{len(self.hidden)} hidden sitter(s) left out: " + "; ".join(sorted(self.hidden)))
        if self.disputed:
            out.append(f"{self.disputed} disputed identification(s) not stated")
        return out


def qid(value) -> str | None:
    match = QID.match(str(value or "").strip())
    return match.group(1) if match else None


def position(box, width: int | None, height: int | None) -> str:
    """A face box as P2677's `pct:x,y,w,h` of the picture."""
    x1, y1, x2, y2 = box_fractions(box, (width, height))
    parts = (100 * x1, 100 * y1, 100 * (x2 - x1), 100 * (y2 - y1))
    return "pct:" + ",".join(f"{max(0.0, min(100.0, v)):.2f}".rstrip("0").rstrip(".") for v in parts)


def wikidata_batch(database: Database) -> WikidataBatch:
    batch = WikidataBatch()
    for item in stated_identifications(database):
        c, face, artwork, sitter = item.current, item.face, item.artwork, item.sitter
        if c.status == "disputed":
            batch.disputed += 1
            continue
        if sitter.hidden:
            batch.hidden.add(sitter.name)
            continue
        work, person = qid((artwork.extras or {}).get("wikidata")), qid((sitter.external_ids or {}).get("wikidata"))
        if work is None:
            batch.without_item[artwork.id] = artwork.path
        if person is None:
            batch.sitters_without_item.add(sitter.name)
        if work is None or person is None:
            continue
        qualifiers = [(POSITION, f'"{position(face.box, artwork.width, artwork.height)}"'), *STATED[c.status]]
        batch.lines.append("\t".join([work, DEPICTS, person, *(v for pair in qualifiers for v in pair)]))
    return batch


def write_wikidata(database: Database, path: Path) -> tuple[Path, WikidataBatch]:
    batch = wikidata_batch(database)
    if not batch.lines:
        reasons = batch.describe() or ["the collection has no identification to state"]
        raise WikidataExportError("nothing to state for Wikidata; nothing was written:\n" + "\n".join(reasons))
    return write_atomically(Path(path), ("\n".join(batch.lines) + "\n").encode()), batch
