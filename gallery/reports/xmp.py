"""The identifications as face regions in image metadata (`gallery export xmp`), for digital asset
managers: per artwork, its identified faces as MWG and IPTC Extension regions
(gallery.faces.regions), each named with the sitter and, in IPTC, the sitter's authority URIs.

- Sidecars by default: `OUT/<path in the collection, extension replaced>.xmp`, the Adobe naming
  that asset managers look for, or `NAME.EXT.xmp` where two pictures of a folder share a name.
- `embed=True`: copies of the pictures, at the same paths under OUT, with the regions written into
  their metadata (exiv2 rewrites the metadata segments only; pixel data is not touched). The
  originals are never written; OUT may not hold them.
- Confirmed identifications are stated; probable ones too with `include_probable`. Disputed ones,
  hidden sitters, artworks indexed from IIIF (no local file: use `gallery export annotations`) and
  pictures no longer on disk are listed, not written.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from db.engine import Database
from gallery.core.authorities import authority_links
from gallery.core.errors import GalleryError
from gallery.core.files import relative_to_collection
from gallery.core.version import release
from gallery.faces.formats import is_image_path
from gallery.faces.regions import Region, RegionError, box_fractions, stored_geometry, write_regions

from gallery.reports.stated import Stated, stated_identifications


class XmpExportError(GalleryError):
    """Face regions that cannot be exported as asked; nothing was written."""


@dataclass
class XmpExport:
    written: list[Path] = field(default_factory=list)
    regions: int = 0
    iiif: set[str] = field(default_factory=set)  # artworks without a local file
    missing: set[str] = field(default_factory=set)  # pictures not on disk (or unreadable)
    hidden: set[str] = field(default_factory=set)
    not_stated: int = 0  # disputed (and, without include_probable, probable) identifications

    def describe(self) -> list[str]:
        out = []
        if self.iiif:
            out.append(f"{len(self.iiif)} artwork(s) from IIIF have no local picture to describe; their "
                       "identifications travel as annotations (gallery export annotations)")
        if self.missing:
            out.append(f"{len(self.missing)} picture(s) could not be read, left out: "
                       + "; ".join(sorted(self.missing)))
        if self.hidden:
            out.append(f"{len(self.hidden)} hidden sitter(s) left out: " + "; ".join(sorted(self.hidden)))
        if self.not_stated:
            out.append(f"{self.not_stated} identification(s) short of the statuses written, left out")
        return out


def sidecar_name(picture: Path) -> str:
    """NAME.xmp, or NAME.EXT.xmp when another picture in the folder has the same NAME."""
    twins = [p for p in picture.parent.glob(picture.stem + ".*") if p != picture and is_image_path(p)]
    return picture.name + ".xmp" if twins else picture.stem + ".xmp"


def regions_by_artwork(database: Database, include_probable: bool = False) -> tuple[dict[int, list[Stated]], XmpExport]:
    statuses = ("confirmed", "probable") if include_probable else ("confirmed",)
    report, chosen = XmpExport(), {}
    for item in stated_identifications(database):
        if item.current.status not in statuses:
            report.not_stated += 1
        elif item.sitter.hidden:
            report.hidden.add(item.sitter.name)
        elif (item.artwork.extras or {}).get("iiif"):
            report.iiif.add(item.artwork.path)
        else:
            chosen.setdefault(item.artwork.id, []).append(item)
    return chosen, report


def write_xmp(database: Database, out: Path, embed: bool = False, include_probable: bool = False) -> XmpExport:
    """Write each identified artwork's face regions under `out`; see the module's doc."""
    out = Path(out)
    chosen, report = regions_by_artwork(database, include_probable)
    if not chosen:
        reasons = report.describe() or ["the collection has no confirmed identification"]
        raise XmpExportError("no face region to write; nothing was written:\n" + "\n".join(reasons))
    if embed:
        for items in chosen.values():
            original = Path(items[0].artwork.path).resolve()
            if (out / relative_to_collection(items[0].artwork.path, items[0].artwork.collection)).resolve() == original:
                raise XmpExportError(f"{out} would put the copies over the originals (such as {original}); regions "
                                     "are written into copies only: choose another folder")
    for items in chosen.values():
        artwork = items[0].artwork
        picture = Path(artwork.path)
        try:
            stored, orientation = stored_geometry(picture)
        except RegionError as err:
            report.missing.add(f"{artwork.path} ({err})")
            continue
        regions = [Region(i.sitter.name, box_fractions(i.face.box, (artwork.width, artwork.height)),
                          tuple(authority_links(i.sitter.external_ids).values())) for i in items]
        relative = relative_to_collection(artwork.path, artwork.collection)
        if embed:
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(picture, target)
        else:
            target = (out / relative).with_name(sidecar_name(picture))  # its regions replaced, other XMP kept
            target.parent.mkdir(parents=True, exist_ok=True)
        report.written.append(write_regions(target, regions, stored, orientation, release()))
        report.regions += len(regions)
    return report

