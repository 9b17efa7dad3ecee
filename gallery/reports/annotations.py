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
- The file written is an AnnotationCollection (`total`, `first`, `last`); its pages, one per
  canvas, each `partOf` the collection and linked by `next`, are written in order to the folder
  beside it (`OUT-pages/`). `--manifest` also writes a copy of a manifest with each canvas's page
  embedded in its `annotations`, so a viewer loads the identifications with the images.
- Ids are HTTP(S) URIs, as IIIF Presentation 3 requires: under `base` when one is given (where
  the annotations will be published), else derived from each canvas's own id
  (`CANVAS/portrait-gallery/...`). Artworks indexed from a folder have no web address, so they
  need a base; their pictures are then addressed as `BASE/images/<path in the collection>`.
- Every document is checked before anything is written: built with iiif-prezi3's Presentation 3
  models, and every id an HTTP(S) URI; an annotated copy is made only of a valid Presentation 3
  manifest.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import select

from db.identifications import current_identifications
from db.schema import Artwork, Face, Identification, Sitter, serving
from db.sitters import sitter_named

from gallery.core.version import release
from gallery.core.authorities import authority_links
from gallery.core.errors import GalleryError
from gallery.core.files import relative_to_collection, write_atomically, write_files_atomically
from gallery.core.iiif import CONTEXT, canvas_region

MEDIA_FRAGMENTS = "http://www.w3.org/TR/media-frags/"
SUFFIX = "portrait-gallery"  # the path segment ids derived from a canvas's id are made under


class AnnotationError(GalleryError):
    """Annotations that cannot be exported as asked; nothing was written."""


def checked_base(base: str | None) -> str | None:
    if base is None or not base.strip():
        return None
    base = base.strip().rstrip("/")
    if not base.lower().startswith(("http://", "https://")) or len(base.split("/")) < 3 or not base.split("/")[2]:
        raise AnnotationError(f"--base must be an http(s) address (where the annotations will be published), such as "
                              f"https://museum.example/annotations; IIIF Presentation 3 ids are web addresses, got "
                              f"{base!r}")
    return base


def annotation_pages(database, base: str | None = None, sitter: str | None = None) -> list[dict]:
    """The AnnotationPages of the collection's identifications (or of one sitter's), each checked;
    ids under `base`, or derived from the canvases' ids when there is none."""
    return [validated(page, "AnnotationPage") for page in _pages(database, checked_base(base), sitter)]


def _pages(database, base: str | None, sitter: str | None) -> list[dict]:
    """The pages, not yet checked, with ids under `base` (already checked) or the canvases'."""
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
                   Artwork.title, Artwork.collection).join(Artwork, Artwork.id == Face.artwork_id)
            .where(serving(), Artwork.status == "present",
                   Face.id.in_({c.face_id for c in current})))} if current else {}
        sitters = {s.id: s for s in session.scalars(select(Sitter).where(Sitter.id.in_({c.sitter_id for c in current})))}
        record_ids = _record_ids(session, current)
    pages: dict[int, dict] = {}
    regions = {i: canvas_region(f.box, f.extras, f.width, f.height) for i, f in faces.items()}
    unaddressed = sorted({faces[i].path for i, region in regions.items() if region is None})
    if unaddressed and base is None:
        raise AnnotationError(f"{len(unaddressed)} identified artwork(s) were indexed from a folder (such as "
                              f"{unaddressed[0]}) and have no web address to annotate; give --base https://… (where "
                              "the annotations will be published; their pictures are then addressed as "
                              "BASE/images/<path in the collection>). Nothing was written.")
    for c in current:
        face = faces.get(c.face_id)
        if face is None:
            continue
        target = _target(face, regions[c.face_id], base)
        under = base or f"{target['source']['id'].rstrip('/')}/{SUFFIX}"
        page_id = f"{under}/page/{face.artwork_id}" if base else f"{under}/page"
        page = pages.setdefault(face.artwork_id, {"@context": CONTEXT, "id": page_id, "type": "AnnotationPage",
                                                  "label": {"none": [face.title or face.path]}, "items": []})
        page["items"].append(_annotation(f"{under}/annotation/{record_ids[(c.face_id, c.sitter_id)]}", c,
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


def _target(face, region, base: str | None) -> dict:
    """Where an annotation points: the face's region of its canvas (`region`), or, for a work from
    a folder, of its picture published under `base`."""
    if region is not None:
        source = {"id": region.canvas, "type": "Canvas"}
        if region.manifest:
            source["partOf"] = [{"id": region.manifest, "type": "Manifest"}]
        fragment = region.fragment
    else:
        x1, y1, x2, y2 = face.box
        source = {"id": f"{base}/images/{quote(str(relative_to_collection(face.path, face.collection)))}",
                  "type": "Image"}
        fragment = f"xywh={max(0, round(x1))},{max(0, round(y1))},{round(x2 - x1)},{round(y2 - y1)}"
    return {"type": "SpecificResource", "source": source,
            "selector": {"type": "FragmentSelector", "conformsTo": MEDIA_FRAGMENTS, "value": fragment}}


def validated(document: dict, model: str) -> dict:
    """`document` checked as a IIIF Presentation 3 `model` (iiif-prezi3) whose ids are all web
    addresses; an AnnotationError says what is wrong."""
    import iiif_prezi3
    from pydantic import ValidationError

    try:
        getattr(iiif_prezi3, model)(**document)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise AnnotationError(f"not a valid IIIF Presentation 3 {model} ({err.error_count()} problem(s); the first, "
                              f"at {where or 'the top'}: {first.get('msg')}); nothing was written") from None
    bad = next((i for i in _ids(document) if not str(i).lower().startswith(("http://", "https://"))), None)
    if bad is not None:
        raise AnnotationError(f"not a valid IIIF Presentation 3 {model}: the id {bad!r} is not an http(s) address; "
                              "nothing was written")
    return document


def _ids(node):
    if isinstance(node, dict):
        if isinstance(node.get("id"), str):
            yield node["id"]
        for value in node.values():
            yield from _ids(value)
    elif isinstance(node, list):
        for item in node:
            yield from _ids(item)


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


def write_annotations(database, out: Path, base: str | None = None, sitter: str | None = None,
                      manifest: dict | None = None, manifest_out: Path | None = None) -> tuple[int, int]:
    """Write the AnnotationCollection (`out`), its pages (one file per canvas in the folder
    `pages_folder(out)`, linked first to last) and, with `manifest`, the annotated manifest copy;
    returns (pages, annotations). Everything is checked before anything is written."""
    base = checked_base(base)
    pages = _pages(database, base, sitter)  # each checked below, once linked to the collection
    if not pages:
        raise AnnotationError("no identification to annotate" + (f" for {sitter}" if sitter else "")
                              + "; nothing was written")
    count = sum(len(p["items"]) for p in pages)
    given = str((manifest or {}).get("id", ""))
    under = base or (f"{given.rstrip('/')}/{SUFFIX}" if given.lower().startswith(("http://", "https://"))
                     else pages[0]["id"].rsplit("/page", 1)[0])
    collection_id = f"{under}/collection"
    for number, page in enumerate(pages):
        page["partOf"] = [{"id": collection_id, "type": "AnnotationCollection"}]
        if number + 1 < len(pages):
            page["next"] = {"id": pages[number + 1]["id"], "type": "AnnotationPage"}
        validated(page, "AnnotationPage")
    collection = validated({"@context": CONTEXT, "id": collection_id, "type": "AnnotationCollection",
                            "label": {"en": ["Portrait Gallery identifications" + (f": {sitter}" if sitter else "")]},
                            "total": count, "first": {"id": pages[0]["id"], "type": "AnnotationPage"},
                            "last": {"id": pages[-1]["id"], "type": "AnnotationPage"}}, "AnnotationCollection")
    collection |= {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "generator": {"type": "Software", "name": release()}}
    copy = annotated_manifest(manifest, pages) if manifest is not None and manifest_out is not None else None
    folder = pages_folder(Path(out))
    folder.mkdir(parents=True, exist_ok=True)
    names = {f"{number:05d}.json": _writer(page) for number, page in enumerate(pages, start=1)}
    write_files_atomically(folder, names)
    for stale in folder.glob("[0-9][0-9][0-9][0-9][0-9].json"):  # pages of an earlier, longer export
        if stale.name not in names:
            stale.unlink()
    write_atomically(Path(out), _json(collection))
    if copy is not None:
        write_atomically(Path(manifest_out), _json(copy))
    return len(pages), count


def pages_folder(out: Path) -> Path:
    """Where the AnnotationCollection written to `out` keeps its pages: OUT-pages/, in order."""
    return Path(out).with_name(Path(out).stem + "-pages")


def _json(document: dict) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


def _writer(document: dict):
    return lambda handle: handle.write(_json(document))


def annotated_manifest(manifest: dict, pages: list[dict]) -> dict:
    """A copy of a Presentation 3 manifest (2.1 is refused) with each canvas's page in `annotations`."""
    if not isinstance(manifest, dict) or "sequences" in manifest or manifest.get("type") != "Manifest":
        version = "2.x (it has sequences)" if isinstance(manifest, dict) and "sequences" in manifest \
            else "not a manifest"
        raise AnnotationError(f"an annotated copy is made of a IIIF Presentation 3 manifest; this one is {version}. "
                              "Nothing was written")
    validated(manifest, "Manifest")
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
    return validated(copy, "Manifest")
