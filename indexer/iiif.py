"""IIIF Presentation 2.1 and 3.0: manifests and collections into the canvases to index.

- A collection (`sc:Collection` / `Collection`) lists manifests and nested collections
  (2.1: `manifests`, `collections`, `members`; 3.0: `items`); they are followed, each URI once.
- A manifest's canvases (2.1: `sequences[0].canvases`; 3.0: `items`) each carry one painted image:
  an Image API service (2.1 `@id` + `profile`, 3.0 `id` + `type` ImageService2/3) or a static
  image resource. The image is asked for at a bounded size (`!N,N`, `max_size`); a level-0
  service is asked for the largest of its `sizes` within the bound, or its full size.
- Metadata: the label is the title; `metadata` pairs (any language map; English first, then no
  language, then the first given) fill the artwork's fields through `DEFAULT_FIELDS` plus the
  caller's mapping, the rest go to extras; `navDate`, `requiredStatement` / `attribution`,
  `rights` / `license` and `homepage` / `related` are kept in extras. A sitter named in the
  metadata is handled like a CSV sitter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gallery.core.errors import GalleryError

# metadata labels (lower case) -> artwork field; "sitter" is the sitter, like a CSV column
DEFAULT_FIELDS = {
    "artist": "artist", "creator": "artist", "painter": "artist", "maker": "artist", "author": "artist",
    "attributed to": "artist", "date": "date", "created": "date", "date created": "date", "dated": "date",
    "date of creation": "date", "sitter": "sitter", "subject": "sitter", "depicted": "sitter",
    "depicts": "sitter", "portrait of": "sitter", "identifier": "accession_number",
    "accession number": "accession_number", "object number": "accession_number",
    "inventory number": "accession_number", "inv. no.": "accession_number", "medium": "medium",
    "technique": "medium", "materials": "medium", "material": "medium", "institution": "institution",
    "repository": "institution", "holding institution": "institution", "title": "title",
}


MAPPABLE = ("title", "artist", "date", "accession_number", "institution", "medium", "sitter")


class IiifError(GalleryError):
    """A IIIF document that cannot be read as a manifest or a collection."""


@dataclass(frozen=True)
class Canvas:
    id: str
    manifest: str
    title: str
    image_url: str  # what to fetch, at the bounded size
    width: int | None  # the canvas's own coordinate space (annotations are in it)
    height: int | None
    fields: dict = field(default_factory=dict)  # title, artist, date, accession_number, ...
    sitter: str | None = None
    extras: dict = field(default_factory=dict)


@dataclass
class Documents:
    """What a traversal found: canvases, and problems (a document that could not be used)."""

    canvases: list[Canvas] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (uri, message)
    manifests: list[str] = field(default_factory=list)


def traverse(start: str, fetch_json, max_size: int, mapping: dict | None = None) -> Documents:
    """Every canvas reachable from `start` (a manifest or a collection); `fetch_json(uri)` returns
    the parsed document or raises GalleryError, which becomes a problem of that document."""
    found = Documents()
    wrong = sorted(set((mapping or {}).values()) - set(MAPPABLE))
    if wrong:
        raise IiifError(f"a metadata label can be read as one of {', '.join(MAPPABLE)}, not {', '.join(wrong)}")
    labels = {**DEFAULT_FIELDS, **{k.lower(): v for k, v in (mapping or {}).items()}}
    pending, seen = [start], set()
    while pending:
        uri = pending.pop(0)
        if uri in seen:
            continue
        seen.add(uri)
        try:
            document = fetch_json(uri)
            kind = _type(document)
            if kind == "collection":
                pending += _members(document)
            elif kind == "manifest":
                found.manifests.append(_id(document) or uri)
                found.canvases += manifest_canvases(document, uri, max_size, labels)
            else:
                raise IiifError(f"not a IIIF manifest or collection (type {document.get('@type') or document.get('type')!r})")
        except GalleryError as err:
            found.problems.append((uri, str(err)))
    return found


def _id(node) -> str | None:
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        return node.get("id") or node.get("@id")
    return None


def _type(document) -> str:
    if not isinstance(document, dict):
        raise IiifError("the document is not a JSON object")
    kind = str(document.get("type") or document.get("@type") or "").lower()
    return kind.split(":")[-1]


def _members(collection: dict) -> list[str]:
    nodes = []
    for key in ("manifests", "collections", "members", "items"):
        nodes += collection.get(key) or []
    return [uri for uri in (_id(n) for n in nodes) if uri]


def text(value) -> str | None:
    """A IIIF label or value (a string, a 2.1 list of @value objects, or a 3.0 language map) as one
    string: English first, then no language ("none"), then the first language given."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):
        parts = [text(v) for v in value]
        english = [text(v) for v in value if isinstance(v, dict) and str(v.get("@language", "")).startswith("en")]
        chosen = [p for p in (english or parts) if p]
        return "; ".join(dict.fromkeys(chosen)) or None
    if isinstance(value, dict):
        if "@value" in value:
            return text(value["@value"])
        for language in ("en", "none", *value.keys()):
            if language in value:
                return text(value[language])
    return str(value)


def manifest_canvases(manifest: dict, uri: str, max_size: int, labels: dict) -> list[Canvas]:
    manifest_id = _id(manifest) or uri
    if "sequences" in manifest:
        canvases = (manifest.get("sequences") or [{}])[0].get("canvases") or []
    else:
        canvases = manifest.get("items") or []
    if not canvases:
        raise IiifError("the manifest has no canvases")
    base_fields, sitter, extras = _metadata(manifest, labels)
    title = text(manifest.get("label")) or manifest_id
    out = []
    for number, canvas in enumerate(canvases):
        canvas_id = _id(canvas)
        if not canvas_id:
            raise IiifError(f"canvas {number} has no id")
        image = _image(canvas, max_size)
        fields, canvas_sitter, canvas_extras = _metadata(canvas, labels)
        label = text(canvas.get("label"))
        merged = {**base_fields, **fields}
        merged.setdefault("title", title if len(canvases) == 1 or not label else f"{title}: {label}")
        out.append(Canvas(canvas_id, manifest_id, merged["title"], image, _int(canvas.get("width")),
                          _int(canvas.get("height")), merged, canvas_sitter or sitter,
                          {**extras, **canvas_extras}))
    return out


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _metadata(node: dict, labels: dict) -> tuple[dict, str | None, dict]:
    fields, extras, sitter = {}, {}, None
    for pair in node.get("metadata") or []:
        if not isinstance(pair, dict):
            continue
        label, value = text(pair.get("label")), text(pair.get("value"))
        if not label or not value:
            continue
        target = labels.get(label.lower().rstrip(":"))
        if target == "sitter":
            sitter = sitter or value
        elif target and target not in fields:
            fields[target] = value
        else:
            extras[label] = value
    for key in ("navDate", "rights", "license"):
        if node.get(key):
            extras[key] = text(node[key]) if not isinstance(node[key], list) else "; ".join(map(str, node[key]))
    statement = node.get("requiredStatement")
    if isinstance(statement, dict):
        extras["requiredStatement"] = f"{text(statement.get('label')) or ''}: {text(statement.get('value')) or ''}"
    elif node.get("attribution"):
        extras["attribution"] = text(node["attribution"])
    homepage = node.get("homepage") or node.get("related")
    if homepage:
        pages = homepage if isinstance(homepage, list) else [homepage]
        extras["homepage"] = "; ".join(filter(None, (_id(p) for p in pages)))
    return fields, sitter, extras


def _image(canvas: dict, max_size: int) -> str:
    """The URL to fetch for the canvas's painted image, at most `max_size` pixels a side."""
    if "images" in canvas:  # 2.1
        annotations = canvas.get("images") or []
        resource = (annotations[0] or {}).get("resource") if annotations else None
    else:  # 3.0: items -> AnnotationPage -> items -> Annotation (painting) -> body
        pages = canvas.get("items") or []
        annotations = (pages[0] or {}).get("items") if pages else None
        resource = (annotations[0] or {}).get("body") if annotations else None
    if isinstance(resource, list):
        resource = resource[0] if resource else None
    if not isinstance(resource, dict):
        raise IiifError(f"canvas {_id(canvas)} paints no image")
    services = resource.get("service") or []
    services = services if isinstance(services, list) else [services]
    for service in services:
        service_id = _id(service)
        if service_id:
            return _service_url(service_id.rstrip("/").removesuffix("/info.json"), service, resource, max_size)
    if not _id(resource):
        raise IiifError(f"canvas {_id(canvas)}: its image has neither a service nor an id")
    return _id(resource)


def _service_url(base: str, service: dict, resource: dict, max_size: int) -> str:
    profile = service.get("profile")
    profile = " ".join(p for p in (profile if isinstance(profile, list) else [profile]) if isinstance(p, str))
    version3 = "ImageService3" in str(service.get("type")) or "/image/3" in profile or "/image/3" in str(
        service.get("@context"))
    full = "max" if version3 else "full"
    if "level0" in profile:  # no arbitrary sizes: the largest listed size within the bound, else the full image
        sizes = [s for s in service.get("sizes") or [] if max(_int(s.get("width")) or 0, _int(s.get("height")) or 0)
                 <= max_size]
        if sizes:
            best = max(sizes, key=lambda s: _int(s.get("width")) or 0)
            return f"{base}/full/{best['width']},{best['height'] if version3 else ''}/0/default.jpg"
        return f"{base}/full/{full}/0/default.jpg"
    width, height = _int(resource.get("width")), _int(resource.get("height"))
    if width and height and max(width, height) <= max_size:
        return f"{base}/full/{full}/0/default.jpg"
    return f"{base}/full/!{max_size},{max_size}/0/default.jpg"
