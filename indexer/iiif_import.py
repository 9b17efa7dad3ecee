"""`gallery index --iiif URL_OR_FILE`: a manifest or a collection, indexed canvas by canvas.

Reader stage for the web: the documents are read (indexer.iiif), every canvas's image fetched
through the cache at a bounded size by `http_concurrency` threads (gallery.core.http), then the files
go through the same planner, mapper and writer as a folder (indexer.runner.index_canvases). The
artwork's path, its stable id, is the canvas URI; the manifest's URI, the canvas size and the
image URL are kept in its extras (`iiif`), so face boxes can be given back in canvas coordinates.

- Incremental: an image whose server says it has not changed (ETag / Last-Modified), or that was
  cached without validators, is not downloaded again; an unchanged file is not decoded again; a
  changed one is re-detected with its identifications carried over, as for folders.
- A canvas gone from a manifest that was read is marked missing, never erased.
- A bad manifest, a 404, a timeout or a body that is not an image is one recorded ingest error
  (stage `iiif` for a document, `fetch` for a canvas); the run goes on and a rerun retries it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from sqlalchemy import select, update

from db.collection import record_error
from db.engine import Database, open_database
from db.schema import Artwork
from gallery.core.errors import GalleryError
from gallery.config.settings import Settings

from gallery.core.http import Fetcher, cache_dir_of
from indexer.iiif import Canvas, traverse
from indexer.metadata import ArtworkMeta
from indexer.plan import CollectionFile


@dataclass
class FetchProgress:
    done: int
    total: int
    downloaded: int
    errors: int


@dataclass(frozen=True)
class IiifSummary:
    source: str
    manifests: int
    canvases: int
    downloaded: int  # image bodies downloaded (the rest came from the cache)
    problems: list[tuple[str, str]]  # (document or canvas URI, message)
    missing: int  # canvases gone from their manifest, marked missing
    indexed: object  # indexer.runner.IndexSummary of the canvases fetched
    seconds: float

    def to_json(self) -> dict:
        return {"source": self.source, "manifests": self.manifests, "canvases": self.canvases,
                "downloaded": self.downloaded, "missing": self.missing,
                "problems": [{"where": w, "message": m} for w, m in self.problems],
                "index": self.indexed.to_json(), "seconds": round(self.seconds, 2)}


def index_iiif(settings: Settings, source: str, max_size: int | None = None, database: Database | None = None,
               pipeline=None, mapping: dict | None = None,
               on_fetch: Callable[[FetchProgress], None] | None = None, fetcher: Fetcher | None = None) -> IiifSummary:
    from indexer.runner import index_canvases

    started = time.monotonic()
    database = database or open_database(settings.database_url)
    own = fetcher is None
    fetcher = fetcher or Fetcher(cache_dir_of(settings), settings.http_timeout_s)
    try:
        documents = traverse(source, fetcher.json, max_size or settings.iiif_max_size, mapping)
        files, failures = _fetch_all(fetcher, documents.canvases, settings, on_fetch)
    finally:
        if own:
            fetcher.close()
    problems = documents.problems + failures
    indexed = index_canvases(settings, source, files, database, pipeline)
    with database.session() as session:
        for where, message in documents.problems:
            record_error(session, where, "iiif", message)
        for where, message in failures:
            record_error(session, where, "fetch", message)
        missing = _mark_gone(session, source, documents.manifests, {c.id for c in documents.canvases})
    return IiifSummary(source, len(documents.manifests), len(documents.canvases), fetcher.downloads,
                       problems, missing, indexed, time.monotonic() - started)


def _fetch_all(fetcher: Fetcher, canvases: list[Canvas], settings: Settings, on_fetch):
    progress = FetchProgress(0, len(canvases), 0, 0)
    files, failures = [], []

    def one(canvas: Canvas):
        try:
            return canvas, fetcher.image(canvas.image_url, settings.max_upload_bytes), None
        except GalleryError as err:
            return canvas, None, str(err)

    with ThreadPoolExecutor(max(1, settings.http_concurrency)) as pool:
        for canvas, fetched, error in pool.map(one, canvases):
            progress.done += 1
            if error is not None:
                failures.append((canvas.id, error))
                progress.errors += 1
            else:
                files.append(_file(canvas, fetched.path))
            progress.downloaded = fetcher.downloads
            if on_fetch:
                on_fetch(progress)
    return files, failures


def _file(canvas: Canvas, cached: Path) -> CollectionFile:
    iiif = {"canvas": canvas.id, "manifest": canvas.manifest, "canvas_width": canvas.width,
            "canvas_height": canvas.height, "image_url": canvas.image_url}
    meta = ArtworkMeta(canvas.sitter, None, dict(canvas.fields), {**canvas.extras, "iiif": iiif})
    relative = PurePosixPath(canvas.id.rstrip("/").rsplit("/", 1)[-1] or "canvas")
    return CollectionFile(canvas.id, relative, meta, from_csv=True, source=str(cached))


def _mark_gone(session, source: str, manifests: list[str], present: set[str]) -> int:
    """Artworks of this source whose manifest was read but no longer lists their canvas."""
    read = set(manifests)
    gone = [row.id for row in session.execute(select(Artwork.id, Artwork.path, Artwork.extras)
                                              .where(Artwork.collection == source, Artwork.status == "present"))
            if (row.extras or {}).get("iiif", {}).get("manifest") in read and row.path not in present]
    if gone:
        session.execute(update(Artwork).where(Artwork.id.in_(gone)).values(status="missing"))
    return len(gone)
