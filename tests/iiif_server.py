"""A small IIIF server on 127.0.0.1 for the tests: Presentation 2.1 and 3.0 manifests and
collections, a minimal Image API (size parameter honoured, ETag validators), and the faults a
real museum server has: a 404 image, an image that never answers, an HTML page where an image
should be, malformed JSON. It counts the image bodies it sends."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image

SCALE = 2  # the served "master" is the lfw-mini photograph at twice its size (500 x 500)


class IiifServer:
    def __init__(self, people: dict[str, list[Path]]):
        """people: sitter name -> photographs; each photograph becomes one object (a manifest
        with one canvas). The first person's objects are 3.0, the others 2.1."""
        self.people = people
        self.images = {f"img{n}": path for n, path in enumerate(p for paths in people.values() for p in paths)}
        self.image_bodies = 0  # 200 answers with an image body
        self.removed: set[str] = set()  # canvases taken out of their manifests (by image name)
        self.release = threading.Event()  # lets the handler that never answers go at the end
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "IiifServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    # -- documents ----------------------------------------------------------------
    def _objects(self) -> list[tuple[str, str, Path]]:
        """(image name, sitter, photograph) in order."""
        out, n = [], 0
        for sitter, paths in self.people.items():
            for path in paths:
                out.append((f"img{n}", sitter, path))
                n += 1
        return out

    def _version3(self, name: str) -> bool:
        first = next(iter(self.people))
        return any(n == name for n, s, _ in self._objects() if s == first)

    def manifest(self, name: str) -> dict:
        sitter = next(s for n, s, _ in self._objects() if n == name)
        size = self._size(name)
        canvas_id = f"{self.url}/canvas/{name}"
        if self._version3(name):
            items = [] if name in self.removed else [{
                "id": canvas_id, "type": "Canvas", "width": size[0], "height": size[1], "label": {"en": ["recto"]},
                "items": [{"id": f"{canvas_id}/page", "type": "AnnotationPage", "items": [{
                    "id": f"{canvas_id}/painting", "type": "Annotation", "motivation": "painting", "target": canvas_id,
                    "body": {"id": f"{self.url}/iiif/{name}/full/max/0/default.jpg", "type": "Image",
                             "format": "image/jpeg", "width": size[0], "height": size[1],
                             "service": [{"id": f"{self.url}/iiif/{name}", "type": "ImageService3",
                                          "profile": "level1"}]}}]}]}]
            return {"@context": "http://iiif.io/api/presentation/3/context.json",
                    "id": f"{self.url}/manifest/{name}.json", "type": "Manifest",
                    "label": {"en": [f"Portrait of {sitter}"]},
                    "metadata": [{"label": {"en": ["Sitter"]}, "value": {"none": [sitter]}},
                                 {"label": {"en": ["Date"]}, "value": {"none": ["c. 2002"]}},
                                 {"label": {"en": ["Object number"]}, "value": {"none": [f"PG-{name}"]}},
                                 {"label": {"nl": ["Vervaardiger"]}, "value": {"nl": ["onbekend"]}}],
                    "navDate": "2002-01-01T00:00:00Z", "rights": "http://creativecommons.org/licenses/by/4.0/",
                    "requiredStatement": {"label": {"en": ["Attribution"]}, "value": {"en": ["Test Museum"]}},
                    "homepage": [{"id": f"{self.url}/objects/{name}", "type": "Text", "label": {"en": ["page"]}}],
                    "items": items}
        canvases = [] if name in self.removed else [{
            "@id": canvas_id, "@type": "sc:Canvas", "label": "recto", "width": size[0], "height": size[1],
            "images": [{"@type": "oa:Annotation", "motivation": "sc:painting", "on": canvas_id,
                        "resource": {"@id": f"{self.url}/iiif/{name}/full/full/0/default.jpg", "@type": "dctypes:Image",
                                     "width": size[0], "height": size[1],
                                     "service": {"@context": "http://iiif.io/api/image/2/context.json",
                                                 "@id": f"{self.url}/iiif/{name}",
                                                 "profile": "http://iiif.io/api/image/2/level1.json"}}}]}]
        return {"@context": "http://iiif.io/api/presentation/2/context.json", "@id": f"{self.url}/manifest/{name}.json",
                "@type": "sc:Manifest", "label": f"Portrait of {sitter}",
                "metadata": [{"label": "Subject", "value": [{"@value": sitter, "@language": "en"}]},
                             {"label": "Creator", "value": "Studio of the test"}],
                "attribution": "Test Museum", "license": "http://rightsstatements.org/vocab/InC/1.0/",
                "sequences": [{"@type": "sc:Sequence", "canvases": canvases}]}

    def broken_manifest(self, kind: str) -> dict:
        """A 3.0 manifest whose image is missing (404), never answers, or is an HTML page."""
        canvas_id = f"{self.url}/canvas/{kind}"
        return {"@context": "http://iiif.io/api/presentation/3/context.json", "id": f"{self.url}/manifest/{kind}.json",
                "type": "Manifest", "label": {"en": [kind]},
                "items": [{"id": canvas_id, "type": "Canvas", "width": 100, "height": 100, "items": [{
                    "id": f"{canvas_id}/page", "type": "AnnotationPage", "items": [{
                        "id": f"{canvas_id}/painting", "type": "Annotation", "motivation": "painting",
                        "target": canvas_id, "body": {"id": f"{self.url}/static/{kind}.jpg", "type": "Image"}}]}]}]}

    def collection(self) -> dict:
        """3.0 collection: the 3.0 manifests, the broken ones, and a nested 2.1 collection."""
        first = next(iter(self.people))
        mine = [n for n, s, _ in self._objects() if s == first]
        return {"@context": "http://iiif.io/api/presentation/3/context.json", "id": f"{self.url}/collection.json",
                "type": "Collection", "label": {"en": ["Portraits"]},
                "items": [{"id": f"{self.url}/manifest/{n}.json", "type": "Manifest"} for n in mine]
                + [{"id": f"{self.url}/manifest/{k}.json", "type": "Manifest"} for k in ("gone", "slow", "html")]
                + [{"id": f"{self.url}/collection-v2.json", "type": "Collection"}]}

    def collection_v2(self) -> dict:
        first = next(iter(self.people))
        others = [n for n, s, _ in self._objects() if s != first]
        return {"@context": "http://iiif.io/api/presentation/2/context.json", "@id": f"{self.url}/collection-v2.json",
                "@type": "sc:Collection", "label": "More portraits",
                "manifests": [{"@id": f"{self.url}/manifest/{n}.json", "@type": "sc:Manifest"} for n in others]
                + [{"@id": f"{self.url}/manifest/malformed.json", "@type": "sc:Manifest"}]}

    # -- images -------------------------------------------------------------------
    def _size(self, name: str) -> tuple[int, int]:
        with Image.open(self.images[name]) as image:
            return image.width * SCALE, image.height * SCALE

    def render(self, name: str, size: str) -> bytes:
        with Image.open(self.images[name]) as original:
            master = original.convert("RGB").resize((original.width * SCALE, original.height * SCALE))
        if size not in ("full", "max"):
            match = re.fullmatch(r"(!)?(\d*),(\d*)", size)
            if not match:
                raise ValueError(size)
            fit, w, h = match.group(1), int(match.group(2) or 0), int(match.group(3) or 0)
            if fit:
                ratio = min(w / master.width, h / master.height)
                w, h = round(master.width * ratio), round(master.height * ratio)
            elif not h:
                h = round(master.height * w / master.width)
            master = master.resize((w, h))
        out = io.BytesIO()
        master.save(out, "JPEG", quality=90)
        return out.getvalue()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: bytes, kind: str, etag: str | None = None):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802 (the http.server interface)
                path = self.path.split("?")[0]
                if path == "/collection.json":
                    return self._json(server.collection())
                if path == "/collection-v2.json":
                    return self._json(server.collection_v2())
                if path == "/manifest/malformed.json":
                    return self._send(200, b'{"@type": "sc:Manifest", "sequences": [', "application/json")
                match = re.fullmatch(r"/manifest/(\w+)\.json", path)
                if match and match.group(1) in ("gone", "slow", "html"):
                    return self._json(server.broken_manifest(match.group(1)))
                if match and match.group(1) in server.images:
                    return self._json(server.manifest(match.group(1)))
                if path == "/static/gone.jpg":
                    return self._send(404, b"not found", "text/plain")
                if path == "/static/slow.jpg":
                    server.release.wait()  # never answers while the test runs: the client's timeout ends it
                    return None
                if path == "/static/html.jpg":
                    return self._send(200, b"<html><body>Sign in to see this image</body></html>", "text/html")
                match = re.fullmatch(r"/iiif/(\w+)/full/([^/]+)/0/default\.jpg", path)
                if match and match.group(1) in server.images:
                    body = server.render(match.group(1), match.group(2))
                    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                    if self.headers.get("If-None-Match") == etag:
                        return self._send(304, b"", "image/jpeg", etag)
                    with server._lock:
                        server.image_bodies += 1
                    return self._send(200, body, "image/jpeg", etag)
                return self._send(404, b"not found", "text/plain")

            def _json(self, document: dict):
                self._send(200, json.dumps(document).encode(), "application/ld+json")

        return Handler
