"""Runner: walk -> read (worker processes) -> classify -> map (models) -> write (its own thread), with
progress.

`index_collection` is the library call behind `gallery index`; it prints nothing and reports
progress through a callback. The reader processes start first; the stages (indexer.stages), and
with them the database layer, are imported while the processes boot.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from gallery.config.settings import Settings
from gallery.faces.pipeline import FacePipeline

from indexer.plan import Collection, CollectionFile, walk_collection
from indexer.reader import Reader
from indexer.summary import IndexSummary, Progress

if TYPE_CHECKING:
    from db.engine import Database

__all__ = ["IndexSummary", "Progress", "index_canvases", "index_collection", "index_files"]


def index_collection(settings: Settings, collection: Path, metadata_csv: Path | None = None,
                     database: Database | None = None, pipeline: FacePipeline | None = None,
                     on_progress: Callable[[Progress], None] | None = None, ray: str | None = None) -> IndexSummary:
    """Index every image under a collection folder; known artworks no longer there are marked missing.
    With `ray` (a cluster address, or "local"), files are read and mapped on a Ray cluster
    (indexer.ray_mapper) and written here."""
    walked = walk_collection(collection, metadata_csv)
    return _index(settings, walked, database, pipeline, on_progress, whole_folder=True,
                  reader_processes=0 if ray else settings.reader_processes, ray=ray)


def index_files(settings: Settings, root: Path, files: list[CollectionFile], database: Database | None = None,
                pipeline: FacePipeline | None = None, reader_processes: int = 0) -> IndexSummary:
    """Index these files of a folder only (the rest of the folder is left as it is): the stages and
    the writer of `index_collection`, for one image added from the page or `gallery add`. The files
    are read in this process unless `reader_processes` is given."""
    return _index(settings, Collection(Path(root).resolve(), files, []), database, pipeline, None,
                  whole_folder=False, reader_processes=reader_processes)


def index_canvases(settings: Settings, source: str, files: list[CollectionFile], database: Database | None = None,
                   pipeline: FacePipeline | None = None) -> IndexSummary:
    """Index fetched IIIF canvases (indexer.iiif_import): `source` (the manifest or collection URI)
    is their collection; each file's path is its canvas URI and its bytes are at `source`."""
    return _index(settings, Collection(source, files, []), database, pipeline, None, whole_folder=False,
                  reader_processes=0)


def _index(settings: Settings, walked: Collection, database: Database | None, pipeline: FacePipeline | None,
           on_progress: Callable[[Progress], None] | None, whole_folder: bool, reader_processes: int,
           ray: str | None = None) -> IndexSummary:
    started = time.monotonic()
    pipeline = pipeline or FacePipeline(settings)
    pipeline.check_weights()  # a missing weights file is said before anything starts
    # the reader's processes start first, so they boot while the database layer is imported and the
    # models and the database open
    with Reader(reader_processes, settings.max_pixels, timeout_s=settings.decode_timeout_s,
                reduce_to=settings.detect_max_side,
                regions=settings.read_regions and isinstance(walked.root, Path)) as reader:
        from indexer.stages import run_stages

        return run_stages(settings, walked, database, pipeline, on_progress, whole_folder, reader, started, ray)
