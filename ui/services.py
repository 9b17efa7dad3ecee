"""What the panels are given: the search service, the database and the settings, built once per
process (the models load once, on the first request), plus helpers shared by the panels."""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from db.engine import Database
from gallery.core.errors import GalleryError
from gallery.core.files import write_atomically
from gallery.faces.images import encode_jpeg
from gallery.search.query_batcher import QueryBatcher
from gallery.search.service import SearchRequest, SearchResult, SearchService, search_service
from gallery.config.settings import Settings


class UploadError(GalleryError):
    """An upload the page refuses."""


class LoginRequired(GalleryError):
    """A decision asked for by a session that has not logged in (when logins are on)."""


class NotAllowed(GalleryError):
    """A decision asked for by a login whose role may not make it (a viewer)."""


@dataclass
class Services:
    settings: Settings
    search: SearchService
    batcher: QueryBatcher
    auth_on: bool = False
    roles: dict[str, str] = field(default_factory=dict)  # login -> role (ui.auth.ROLES), when logins are on
    adding: threading.Lock = field(default_factory=threading.Lock)  # one image added at a time

    def curator(self, request, typed: str | None = None) -> str | None:
        """Who records a decision: the logged-in curator, whose role must allow decisions (a typed
        name is then ignored); without logins, the name typed, if any. Every decision handler asks
        this first, before it reads or writes anything."""
        from ui.auth import DECIDING_ROLES

        who = getattr(request, "username", None) if request else None
        if self.auth_on and not who:
            raise LoginRequired("log in to record a decision")
        if self.auth_on and self.roles.get(who) not in DECIDING_ROLES:
            raise NotAllowed(f"{who} logs in as a {self.roles.get(who, 'viewer')}: a viewer searches, compares, opens "
                             f"dossiers and writes reports, and records no decision; that needs a curator or admin "
                             f"login (gallery users add {who} --role curator)")
        return who or (typed or "").strip() or None

    def identify(self, request: SearchRequest) -> SearchResult:
        """One query, answered together with whatever other sessions asked meanwhile."""
        return self.batcher.ask(request)

    @property
    def database(self) -> Database:
        return self.search.database

    @property
    def pipeline(self):
        return self.search.pipeline


def build_services(settings: Settings, auth_on: bool = False, roles: dict[str, str] | None = None) -> Services:
    service = search_service(settings)
    return Services(settings, service, QueryBatcher(service.search_many, settings.serve_batch), auth_on, roles or {})


def selected_candidate(state):
    """The Identify tab's candidate picked in the table (the top one until another is picked)."""
    if not state or not state["result"].candidates:
        raise GalleryError("identify a face with at least one candidate first")
    candidates = state["result"].candidates
    return candidates[min(state.get("row", 0), len(candidates) - 1)]


def upload_image(label: str, elem_id: str):
    """An image upload handed to the handler as the file sent, byte for byte. (gradio's own
    `image_mode="RGB"` would convert a greyscale, CMYK, 16-bit or transparent upload with a plain
    Pillow conversion and save it again before the page sees it: a 16-bit TIFF scan came out
    nearly white, and every such JPEG was re-encoded. The page's loader reads all of these itself.)"""
    import gradio as gr

    return gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], label=label,
                    elem_id=elem_id)


def read_upload(path: str | None, limit: int) -> bytes:
    """The bytes of an uploaded file, refused when absent or over the size cap (the image type is
    judged from the content by the loader, never from the name)."""
    if not path:
        raise UploadError("upload an image first")
    size = Path(path).stat().st_size
    if size > limit:
        raise UploadError(f"the file is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB")
    return Path(path).read_bytes()


def annotate(rgb: np.ndarray, boxes, chosen: int | None = None) -> Image.Image:
    """The image with a numbered box (x1, y1, x2, y2 in its pixels) on every face, the chosen one in
    another colour."""
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 300))
    for number, box in enumerate(boxes):
        colour = (255, 200, 0) if number == chosen else (0, 200, 255)
        x1, y1, x2, y2 = box
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        draw.text((x1 + width, y1 + width), str(number), fill=colour, font_size=max(12, round((y2 - y1) / 5)))
    return image


def pictures_folder() -> Path:
    """Where the page's pictures are written: a folder of gradio's cache, which `build_app` makes
    one of gradio's static paths (see `served`)."""
    return _pictures_folder(os.environ.get("GRADIO_TEMP_DIR"))


@functools.lru_cache(maxsize=4)
def _pictures_folder(_temp_dir: str | None) -> Path:
    """Resolved once per cache folder (gradio resolves it on every call: 85 us, 16 times an answer)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()) / "portrait-gallery-served"


def served(data: bytes, suffix: str = ".jpg") -> str:
    """A file for the page to show, named by its content and written once, atomically (the page
    hands gradio paths: gradio's own cache rewrites an image it is given in place, and a second
    request showing the same image could then download a file being rewritten). It is written
    inside gradio's cache folder, which gradio serves as it is: a file outside would be hashed
    and copied into it again on every answer (about 1.5 ms a picture, 30 pictures an identify).
    The folder is also one of gradio's static paths, whose files gradio neither checks against its
    allowed folders nor moves on each answer (it did both twice a picture: 0.5 ms a picture here)."""
    name = hashlib.sha256(data).hexdigest()[:32] + suffix
    path = pictures_folder() / name
    return str(path if path.exists() else write_atomically(path, data))


def jpeg(data: bytes | None) -> str | None:
    """A stored JPEG (a face thumbnail) as a file for the page, without decoding it again."""
    return served(data) if data else None


def shown(image: Image.Image | np.ndarray) -> str:
    """A picture made for this answer (the annotated upload, an aligned crop) as a file for the page."""
    rgb = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else image
    return served(encode_jpeg(rgb, quality=90))
