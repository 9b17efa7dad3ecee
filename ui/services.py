"""What the panels are given: the search service, the database and the settings, built once per
process (the models load once, on the first request), plus helpers shared by the panels."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from db.engine import Database
from gallery.errors import GalleryError
from gallery.query_batcher import QueryBatcher
from gallery.search import SearchRequest, SearchResult, SearchService, search_service
from gallery.settings import Settings


class UploadError(GalleryError):
    """An upload the page refuses."""


@dataclass
class Services:
    settings: Settings
    search: SearchService
    batcher: QueryBatcher
    auth_on: bool = False

    def identify(self, request: SearchRequest) -> SearchResult:
        """One query, answered together with whatever other sessions asked meanwhile."""
        return self.batcher.ask(request)

    @property
    def database(self) -> Database:
        return self.search.database

    @property
    def pipeline(self):
        return self.search.pipeline


def build_services(settings: Settings, auth_on: bool = False) -> Services:
    service = search_service(settings)
    return Services(settings, service, QueryBatcher(service.search_many, settings.serve_batch), auth_on)


def read_upload(path: str | None, limit: int) -> bytes:
    """The bytes of an uploaded file, refused when absent or over the size cap (the image type is
    judged from the content by the loader, never from the name)."""
    if not path:
        raise UploadError("upload an image first")
    size = Path(path).stat().st_size
    if size > limit:
        raise UploadError(f"the file is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB")
    return Path(path).read_bytes()


def annotate(rgb: np.ndarray, faces, chosen: int | None = None) -> Image.Image:
    """The image with a numbered box on every face (the chosen one in another colour)."""
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 300))
    for number, face in enumerate(faces):
        colour = (255, 200, 0) if number == chosen else (0, 200, 255)
        x1, y1, x2, y2 = face.box
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        draw.text((x1 + width, y1 + width), str(number), fill=colour, font_size=max(12, round((y2 - y1) / 5)))
    return image


def jpeg(data: bytes | None) -> Image.Image | None:
    return Image.open(io.BytesIO(data)).convert("RGB") if data else None
