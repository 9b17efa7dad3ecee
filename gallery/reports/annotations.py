"""Identifications as W3C Web Annotations in IIIF Presentation 3 form, for any IIIF viewer.

- One AnnotationPage per canvas (per artwork), one Annotation per current, not rejected
  identification of an active face of a present artwork.
- The target is the canvas (with its manifest as `partOf`) and an `xywh` FragmentSelector on the
  face box in canvas coordinates: the box found on the fetched image, scaled by the canvas's size
  over the image's. Artworks indexed from a folder are targeted by their file URI.
- The body names the sitter (a TextualBody, purpose `identifying`) and links the sitter's
  Wikidata, ULAN and VIAF entries where known. The motivation is `identifying` for a confirmed
  or probable identification, `tagging` for a disputed one; `creator` and `created` come from
  the identification record (a curator is a Person; the catalogue and the model are Software).
- The file written is an AnnotationCollection holding its pages (`items`); `--manifest` also
  writes a copy of a manifest with each canvas's page embedded in its `annotations`, so a
  viewer loads the identifications with the images.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

from db.identifications import current_identifications
from db.schema import Artwork, Face, Identification, Sitter, serving
from db.sitters import sitter_named

from gallery.core.version import release
from gallery.core.authorities import authority_links
from gallery.core.errors import GalleryError
from gallery.core.files import write_atomically

CONTEXT = "http://iiif.io/api/presentation/3/context.json"
MEDIA_FRAGMENTS = "http://www.w3.org/TR/media-frags/"
class AnnotationError(GalleryError):
    """Annotations that cannot be exported as asked."""


def annotation_pages(database, base: str, sitter: str | None = None) -> list[dict]:
    """The AnnotationPages of the collection's identifications (or of one sitter's)."""
    base = base.rstrip("/")
    with database.session() as session:
        chosen = None
        if sitter is not None:
            chosen = sitter_named(session, sitter)
            if chosen is None:
                raise AnnotationError(f"there is no sitter named {' '.join(sitter.split())!r}")
        current = [c for c in current_identifications(session) if c.status != "rejected"
                   and (chosen is None or c.sitter_id == chosen.id)]
        faces = {r.id: r for r in session.execute(
            select(Face.id, Face.box, Face.artwork_id, Artwork.path, Artwork.width, Artwork.height, Artwork.extras,
                   Artwork.title).join(Artwork, Artwork.id == Face.artwork_id)
            .where(serving(), Artwork.status == "present",
                   Face.id.in_({c.face_id for c in current})))} if current else {}
        sitters = {s.id: s for s in session.scalars(select(Sitter).where(Sitter.id.in_({c.sitter_id for c in current})))}
        record_ids = _record_ids(session, current)
    pages: dict[int, dict] = {}
    for c in current:
        face = faces.get(c.face_id)
        if face is None:
            continue
        target, page_id = _target(face), f"{base}/page/{face.artwork_id}"
        page = pages.setdefault(face.artwork_id, {"@context": CONTEXT, "id": page_id, "type": "AnnotationPage",
                                                  "label": {"none": [face.title or face.path]}, "items": []})
        page["items"].append(_annotation(f"{base}/annotation/{record_ids[(c.face_id, c.sitter_id)]}", c,
                                         sitters[c.sitter_id], target))
    return [pages[k] for k in sorted(pages)]


def _record_ids(session, current) -> dict[tuple[int, int], int]:
    wanted = {(c.face_id, c.sitter_id) for c in current}
    rows = session.execute(select(Identification.face_id, Identification.sitter_id, Identification.id)
                           .where(Identification.face_id.in_({f for f, _ in wanted})))
    latest: dict[tuple[int, int], int] = {}
    for face_id, sitter_id, record in rows:
        if (face_id, sitter_id) in wanted:
            latest[(face_id, sitter_id)] = max(record, latest.get((face_id, sitter_id), 0))
    return latest


def _target(face) -> dict:
    iiif = (face.extras or {}).get("iiif")
    x1, y1, x2, y2 = face.box
    if iiif:
        sx = (iiif.get("canvas_width") or face.width) / (face.width or 1)
        sy = (iiif.get("canvas_height") or face.height) / (face.height or 1)
        source = {"id": iiif["canvas"], "type": "Canvas", "partOf": [{"id": iiif["manifest"], "type": "Manifest"}]}
    else:
        sx = sy = 1.0
        source = {"id": Path(face.path).as_uri(), "type": "Image"}
    x, y = max(0, round(x1 * sx)), max(0, round(y1 * sy))
    w, h = round((x2 - x1) * sx), round((y2 - y1) * sy)
    return {"type": "SpecificResource", "source": source,
            "selector": {"type": "FragmentSelector", "conformsTo": MEDIA_FRAGMENTS, "value": f"xywh={x},{y},{w},{h}"}}


def _annotation(annotation_id: str, current, sitter: Sitter, target: dict) -> dict:
    body = [{"type": "TextualBody", "value": sitter.name, "format": "text/plain", "language": "none",
             "purpose": "identifying"}]
    body += [{"id": uri, "type": "Text", "format": "text/html", "label": {"none": [f"{sitter.name} ({key})"]}}
             for key, uri in sorted(authority_links(sitter.external_ids).items())]
    creator = {"type": "Person", "name": current.who or "curator"} if current.source == "curator" else \
        {"type": "Software", "name": f"Portrait Gallery ({current.source})"}
    return {"id": annotation_id, "type": "Annotation",
            "motivation": "tagging" if current.status == "disputed" else "identifying",
            "created": current.at.astimezone(timezone.utc).isoformat(timespec="seconds")
            if current.at.tzinfo else current.at.isoformat(timespec="seconds") + "Z",
            "creator": creator, "body": body, "target": target,
            "label": {"none": [f"{sitter.name}: {current.status}"]}}


def write_annotations(database, out: Path, base: str, sitter: str | None = None, manifest: dict | None = None,
                      manifest_out: Path | None = None) -> tuple[int, int]:
    """Write the AnnotationCollection (and, with `manifest`, the annotated manifest copy);
    returns (pages, annotations)."""
    pages = annotation_pages(database, base, sitter)
    count = sum(len(p["items"]) for p in pages)
    collection = {"@context": CONTEXT, "id": f"{base.rstrip('/')}/collection", "type": "AnnotationCollection",
                  "label": {"en": ["Portrait Gallery identifications" + (f": {sitter}" if sitter else "")]},
                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "generator": {"type": "Software", "name": release()}, "total": count, "items": pages}
    write_atomically(Path(out), json.dumps(collection, indent=2, ensure_ascii=False).encode("utf-8"))
    if manifest is not None and manifest_out is not None:
        write_atomically(Path(manifest_out), json.dumps(annotated_manifest(manifest, pages), indent=2,
                                                        ensure_ascii=False).encode("utf-8"))
    return len(pages), count


def annotated_manifest(manifest: dict, pages: list[dict]) -> dict:
    """A copy of a Presentation 3 manifest (2.1 is refused) with each canvas's page in `annotations`."""
    if "sequences" in manifest or manifest.get("type") != "Manifest":
        raise AnnotationError("an annotated copy is made of a IIIF Presentation 3 manifest; this one is not")
    by_canvas: dict[str, list[dict]] = {}
    for page in pages:
        for item in page["items"]:
            by_canvas.setdefault(item["target"]["source"]["id"], []).append(item)
    copy = json.loads(json.dumps(manifest))
    for canvas in copy.get("items") or []:
        items = by_canvas.get(canvas.get("id"))
        if items:
            canvas.setdefault("annotations", []).append(
                {"id": f"{canvas['id'].rstrip('/')}/portrait-gallery-identifications", "type": "AnnotationPage",
                 "items": items})
    return copy
