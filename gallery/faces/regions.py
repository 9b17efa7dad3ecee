"""Face regions in image metadata (XMP), read and written with exiv2 (pyexiv2), in the two
conventions digital asset managers read:

- Metadata Working Group regions (`mwg-rs:Regions`): `AppliedToDimensions` is the picture's stored
  size in pixels; each region is a `Face` with a normalised `Area` (centre x, y and size w, h).
- IPTC Extension image regions (`Iptc4xmpExt:ImageRegion`): a relative rectangle
  (`RegionBoundary`, top-left x, y and size w, h), content type "human", and the person as
  `PersonInImageWDetails` (name, and identifiers: the sitter's Wikidata, ULAN, VIAF URIs).

Both are written relative to the picture **as stored**, before its EXIF orientation is applied (the
Metadata Working Group's rule, which ExifTool and the asset managers follow); the product's boxes
are on the picture as displayed, so boxes are turned through the orientation on the way out and
back on the way in.

Sidecars: regions are read from `NAME.EXT.xmp` or `NAME.xmp` beside the picture (the first found)
when it holds any, else from the picture itself. Files without the region namespaces are not
parsed at all. MWG regions win where a file has both conventions (they are
read as the same faces); IPTC regions are read where there are no MWG ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gallery.core.errors import GalleryError

MWG_NS = "http://www.metadataworkinggroup.com/schemas/regions/"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
HUMAN = "http://cv.iptc.org/newscodes/imageregiontype/human"
EMPTY_PACKET = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
                '<x:xmpmeta xmlns:x="adobe:ns:meta/"/>\n<?xpacket end="w"?>\n')
MWG = "Xmp.mwg-rs.Regions"
IPTC = "Xmp.iptcExt.ImageRegion"
_INDEXED = re.compile(r"^(?P<head>[^\[]+)\[(?P<n>\d+)\]/(?P<rest>.+)$")
_MARKERS = (MWG_NS.encode(), IPTC_EXT_NS.encode())


class RegionError(GalleryError):
    """Face regions that cannot be read or written as asked."""


@dataclass(frozen=True)
class Region:
    name: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 as fractions of the picture as displayed
    ids: tuple[str, ...] = ()  # identifier URIs (IPTC PersonId)
    convention: str = "mwg"  # mwg | iptc


def box_fractions(box, size) -> tuple[float, float, float, float]:
    """A box (x1, y1, x2, y2, pixels) as fractions of its picture's (width, height), so boxes on
    pictures of different resolution compare; an unknown side counts as 1."""
    width, height = (side or 1 for side in size)
    x1, y1, x2, y2 = box
    return x1 / width, y1 / height, x2 / width, y2 / height


# -- orientation ----------------------------------------------------------------------------------
def _to_display(u: float, v: float, orientation: int) -> tuple[float, float]:
    """A point (fractions of the stored picture) on the picture as displayed (EXIF orientation 1-8)."""
    return {1: (u, v), 2: (1 - u, v), 3: (1 - u, 1 - v), 4: (u, 1 - v), 5: (v, u), 6: (1 - v, u),
            7: (1 - v, 1 - u), 8: (v, 1 - u)}.get(orientation, (u, v))


_INVERSE = {6: 8, 8: 6}  # the other orientations undo themselves


def turn_box(box, orientation: int, to_display: bool) -> tuple[float, float, float, float]:
    """A box of fractions turned from the stored picture to the displayed one, or back."""
    turn = orientation if to_display else _INVERSE.get(orientation, orientation)
    x1, y1, x2, y2 = box
    (a, b), (c, d) = _to_display(x1, y1, turn), _to_display(x2, y2, turn)
    return min(a, c), min(b, d), max(a, c), max(b, d)


def stored_geometry(path: Path | str) -> tuple[tuple[int, int], int]:
    """The picture's stored size (width, height) and EXIF orientation, read from its header."""
    from PIL import Image

    from gallery.faces.formats import register_plugins

    register_plugins()
    try:
        with Image.open(path) as image:
            orientation = image.getexif().get(0x0112) or 1
            return image.size, int(orientation) if 1 <= int(orientation) <= 8 else 1
    except (OSError, ValueError, SyntaxError) as err:
        raise RegionError(f"cannot read the picture {path}: {err}") from None


# -- reading --------------------------------------------------------------------------------------
def sidecars_of(path: Path | str) -> list[Path]:
    path = Path(path)
    return [path.with_name(path.name + ".xmp"), path.with_suffix(".xmp")]


def _exiv2():
    import pyexiv2

    pyexiv2.set_log_level(4)  # exiv2's own warnings stay off the terminal; failures still raise
    try:
        pyexiv2.registerNs(IPTC_EXT_NS, "Iptc4xmpExt")
    except Exception:  # registered already in this process
        pass
    return pyexiv2


def read_regions(path: Path | str, data: bytes | None = None) -> tuple[list[Region], str | None]:
    """The named face regions of a picture (its sidecar's, else its own) on the picture as
    displayed, and what was wrong with them (None when nothing was)."""
    sidecar = next((s for s in sidecars_of(path) if s.is_file()), None)
    if sidecar is not None:
        try:
            if not _marked(sidecar.read_bytes()):
                sidecar = None  # a sidecar without regions (develop settings, keywords): the picture's own XMP
        except OSError as err:
            return [], f"the sidecar {sidecar.name} cannot be read: {err}"
    if sidecar is None and data is not None and not _marked(data):
        return [], None  # no region namespace in the file: nothing for exiv2 to read
    try:
        xmp = _read_xmp(sidecar or Path(path))
        if not any(key.startswith((MWG, IPTC)) for key in xmp):
            return [], None
        (width, height), orientation = stored_geometry(path)
        regions, problems = parse_regions(xmp, (width, height))
    except RegionError as err:
        return [], str(err)
    turned = [Region(r.name, turn_box(r.box, orientation, True), r.ids, r.convention) for r in regions]
    where = f" ({sidecar.name})" if sidecar else ""
    return turned, ("; ".join(problems) + where) if problems else None


def _marked(data: bytes) -> bool:
    return any(marker in data for marker in _MARKERS)


def _read_xmp(path: Path) -> dict:
    pyexiv2 = _exiv2()
    try:
        with pyexiv2.Image(str(path)) as image:
            xmp = image.read_xmp()
    except Exception as err:  # exiv2 raises RuntimeError for anything it cannot parse
        raise RegionError(f"the XMP of {path.name} cannot be read: {err}") from None
    # exiv2 names the IPTC Extension namespace iptcExt, or by the prefix registered for it
    return {("Xmp.iptcExt." + k[len("Xmp.Iptc4xmpExt."):] if k.startswith("Xmp.Iptc4xmpExt.") else k): v
            for k, v in xmp.items()}


def _structs(xmp: dict, array: str) -> dict[int, dict[str, object]]:
    """Items of an XMP array of structures: position -> {field path: value}."""
    items: dict[int, dict[str, object]] = {}
    for key, value in xmp.items():
        match = _INDEXED.match(key)
        if match and match["head"] == array:
            items.setdefault(int(match["n"]), {})[match["rest"]] = value
    return items


def _text(value) -> str:
    if isinstance(value, dict):  # a language alternative: x-default, else the first
        return str(value.get('lang="x-default"') or next(iter(value.values()), ""))
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None or str(value).startswith("type=") else str(value)


def _number(value) -> float:
    try:
        return float(_text(value))
    except ValueError:
        raise RegionError(f"{_text(value)!r} is not a number") from None


def parse_regions(xmp: dict, stored: tuple[int, int]) -> tuple[list[Region], list[str]]:
    """Named face regions (on the stored picture) from exiv2's XMP keys, and the problems met."""
    problems: list[str] = []
    regions = _mwg(xmp, problems)
    if not regions:
        regions = _iptc(xmp, stored, problems)
    return regions, problems


def _mwg(xmp: dict, problems: list[str]) -> list[Region]:
    regions = []
    for number, item in sorted(_structs(xmp, f"{MWG}/mwg-rs:RegionList").items()):
        name = " ".join(_text(item.get("mwg-rs:Name")).split())
        kind = _text(item.get("mwg-rs:Type")) or "Face"
        if not name or kind != "Face":
            continue  # unnamed regions and pets, barcodes, focus areas: not a sitter
        unit = _text(item.get("mwg-rs:Area/stArea:unit")) or "normalized"
        try:
            if unit != "normalized":
                raise RegionError(f"area unit {unit!r} (only 'normalized' is defined)")
            x, y, w, h = (_number(item.get(f"mwg-rs:Area/stArea:{k}")) for k in "xywh")
        except RegionError as err:
            problems.append(f"MWG region {number} ({name}): {err}; skipped")
            continue
        regions.append(_checked(Region(name, (x - w / 2, y - h / 2, x + w / 2, y + h / 2)), problems))
    return [r for r in regions if r is not None]


def _iptc(xmp: dict, stored: tuple[int, int], problems: list[str]) -> list[Region]:
    regions = []
    for number, item in sorted(_structs(xmp, IPTC).items()):
        persons = {k: v for k, v in item.items() if k.startswith("Iptc4xmpExt:PersonInImageWDetails[")}
        name = " ".join(_text(next((v for k, v in sorted(persons.items()) if k.endswith("/Iptc4xmpExt:PersonName")),
                                   "")).split())
        if not name:
            continue
        ids = tuple(str(v) for k, value in sorted(persons.items()) if k.endswith("/Iptc4xmpExt:PersonId")
                    for v in (value if isinstance(value, list) else [value]))
        shape = (_text(item.get("Iptc4xmpExt:RegionBoundary/Iptc4xmpExt:rbShape")) or "rectangle").lower()
        unit = (_text(item.get("Iptc4xmpExt:RegionBoundary/Iptc4xmpExt:rbUnit")) or "relative").lower()
        try:
            if shape != "rectangle":
                raise RegionError(f"a {shape} boundary (only rectangles are read)")
            x, y, w, h = (_number(item.get(f"Iptc4xmpExt:RegionBoundary/Iptc4xmpExt:rb{k}")) for k in "XYWH")
            if unit == "pixel":
                x, w, y, h = x / stored[0], w / stored[0], y / stored[1], h / stored[1]
            elif unit != "relative":
                raise RegionError(f"boundary unit {unit!r}")
        except RegionError as err:
            problems.append(f"IPTC region {number} ({name}): {err}; skipped")
            continue
        regions.append(_checked(Region(name, (x, y, x + w, y + h), ids, "iptc"), problems))
    return [r for r in regions if r is not None]


def _checked(region: Region, problems: list[str]) -> Region | None:
    x1, y1, x2, y2 = region.box
    if not (x2 > x1 and y2 > y1) or x2 <= 0 or y2 <= 0 or x1 >= 1 or y1 >= 1:
        problems.append(f"region of {region.name} lies outside the picture or is empty; skipped")
        return None
    return Region(region.name, (max(0.0, x1), max(0.0, y1), min(1.0, x2), min(1.0, y2)), region.ids,
                  region.convention)


# -- writing --------------------------------------------------------------------------------------
def region_keys(regions: list[Region], stored: tuple[int, int], orientation: int) -> dict:
    """exiv2 XMP keys for `regions` (boxes on the picture as displayed) in both conventions."""
    keys: dict[str, object] = {MWG: 'type="Struct"', f"{MWG}/mwg-rs:AppliedToDimensions": 'type="Struct"',
                               f"{MWG}/mwg-rs:AppliedToDimensions/stDim:w": str(stored[0]),
                               f"{MWG}/mwg-rs:AppliedToDimensions/stDim:h": str(stored[1]),
                               f"{MWG}/mwg-rs:AppliedToDimensions/stDim:unit": "pixel",
                               f"{MWG}/mwg-rs:RegionList": 'type="Bag"', IPTC: 'type="Bag"',
                               "Xmp.iptcExt.PersonInImage": list(dict.fromkeys(r.name for r in regions))}
    for number, region in enumerate(regions, start=1):
        x1, y1, x2, y2 = turn_box(region.box, orientation, False)
        mwg, iptc = f"{MWG}/mwg-rs:RegionList[{number}]", f"{IPTC}[{number}]"
        keys.update({f"{mwg}/mwg-rs:Name": region.name, f"{mwg}/mwg-rs:Type": "Face",
                     f"{mwg}/mwg-rs:Area": 'type="Struct"',
                     **{f"{mwg}/mwg-rs:Area/stArea:{k}": _fraction(v) for k, v in
                        (("x", (x1 + x2) / 2), ("y", (y1 + y2) / 2), ("w", x2 - x1), ("h", y2 - y1))},
                     f"{mwg}/mwg-rs:Area/stArea:unit": "normalized"})
        boundary = f"{iptc}/Iptc4xmpExt:RegionBoundary"
        person = f"{iptc}/Iptc4xmpExt:PersonInImageWDetails"
        keys.update({boundary: 'type="Struct"', f"{boundary}/Iptc4xmpExt:rbShape": "rectangle",
                     f"{boundary}/Iptc4xmpExt:rbUnit": "relative",
                     **{f"{boundary}/Iptc4xmpExt:rb{k}": _fraction(v) for k, v in
                        (("X", x1), ("Y", y1), ("W", x2 - x1), ("H", y2 - y1))},
                     f"{iptc}/Iptc4xmpExt:rId": f"face-{number}",
                     f"{iptc}/Iptc4xmpExt:rCtype": 'type="Bag"',
                     f"{iptc}/Iptc4xmpExt:rCtype[1]/Iptc4xmpExt:Identifier": [HUMAN],
                     person: 'type="Bag"', f"{person}[1]/Iptc4xmpExt:PersonName": {'lang="x-default"': region.name}})
        if region.ids:
            keys[f"{person}[1]/Iptc4xmpExt:PersonId"] = list(region.ids)  # exiv2 writes lists as rdf:Seq
    return keys


def _fraction(value: float) -> str:
    return f"{min(1.0, max(0.0, value)):.6f}"


def write_regions(target: Path, regions: list[Region], stored: tuple[int, int], orientation: int,
                  creator_tool: str | None = None) -> Path:
    """Write `regions` into `target`: an XMP sidecar (`.xmp`, made when missing) or a picture (a
    copy: only its metadata is rewritten). Regions already there are replaced; other XMP stays."""
    pyexiv2 = _exiv2()
    target = Path(target)
    if target.suffix.lower() == ".xmp" and not target.exists():
        target.write_text(EMPTY_PACKET, encoding="utf-8")
    try:
        with pyexiv2.Image(str(target)) as image:
            old = image.read_xmp()
            stale = {k: None for k in old if k.startswith((MWG, IPTC, "Xmp.iptcExt.PersonInImage"))}
            if stale:
                image.modify_xmp(stale)
            keys = region_keys(regions, stored, orientation)
            if creator_tool:
                keys["Xmp.xmp.CreatorTool"] = creator_tool
            image.modify_xmp(keys)
    except Exception as err:
        raise RegionError(f"cannot write face regions into {target}: {err}") from None
    return target
