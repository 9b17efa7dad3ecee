"""Where a face lies on its IIIF canvas, and the IIIF Content State that opens it in a viewer.

A face box is found on the image fetched from the IIIF server; the canvas may be larger or smaller
(`canvas_width` / `canvas_height` of the artwork's `iiif` extras), so the box is scaled by the
canvas's size over the image's. A Content State (IIIF Content State API 1.0) is the canvas region
with its manifest as `partOf`, encoded as the API says (URI-encoded, then base64url without
padding), given to a viewer as `?iiif-content=`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import quote

CONTEXT = "http://iiif.io/api/presentation/3/context.json"


@dataclass(frozen=True)
class CanvasRegion:
    canvas: str
    manifest: str
    xywh: tuple[int, int, int, int]

    @property
    def fragment(self) -> str:
        return "xywh=" + ",".join(str(v) for v in self.xywh)


def canvas_region(box, extras: dict | None, width: int | None, height: int | None) -> CanvasRegion | None:
    """The face box on its IIIF canvas, or None for an artwork that did not come from IIIF."""
    iiif = (extras or {}).get("iiif")
    if not iiif or not iiif.get("canvas"):
        return None
    x1, y1, x2, y2 = box
    sx = (iiif.get("canvas_width") or width or 1) / (width or 1)
    sy = (iiif.get("canvas_height") or height or 1) / (height or 1)
    x, y = max(0, round(x1 * sx)), max(0, round(y1 * sy))
    return CanvasRegion(iiif["canvas"], iiif.get("manifest") or "",
                        (x, y, round((x2 - x1) * sx), round((y2 - y1) * sy)))


def content_state(region: CanvasRegion) -> dict:
    """The Content State of a canvas region: the region's canvas, part of its manifest."""
    target = {"id": f"{region.canvas}#{region.fragment}", "type": "Canvas"}
    if region.manifest:
        target["partOf"] = [{"id": region.manifest, "type": "Manifest"}]
    return {"@context": CONTEXT, "type": "Annotation", "motivation": ["contentState"], "target": target}


def encode_content_state(state: dict) -> str:
    """Content State API 1.0 section 6: URI-encode the JSON, base64url it, drop the padding."""
    text = quote(json.dumps(state, separators=(",", ":"), ensure_ascii=False), safe="")
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_content_state(encoded: str) -> dict:
    from urllib.parse import unquote

    padded = encoded + "=" * (-len(encoded) % 4)
    return json.loads(unquote(base64.urlsafe_b64decode(padded).decode("utf-8")))


def viewer_link(viewer: str, region: CanvasRegion | None) -> str | None:
    """The link that opens the region in `viewer` (a URL ending where the encoded state goes, such
    as `https://viewer.example/?iiif-content=`; `{}` marks the place when it is elsewhere)."""
    if region is None or not viewer:
        return None
    encoded = encode_content_state(content_state(region))
    return viewer.replace("{}", encoded) if "{}" in viewer else viewer + encoded
