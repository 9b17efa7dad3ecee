"""One indexing run's stages wired together once its reader processes are booting: the
database and the vector index opened, files classified against what the database knows
(indexer.plan), mapped through the models (indexer.mapper) and written (indexer.writer), with
progress.

indexer.runner starts the reader processes first and imports this module after, so the database
layer's imports overlap the processes' start-up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from db.collection import (artworks_with_drawn_faces, calibration_pictures, clear_metadata_errors, drawn_faces,
                           embedding_set, faces_without_vector, finish_run, known_artworks, record_error, start_run)
from db.engine import Database, open_database
from db.vectors import index_folder, open_set_index
from gallery.config.settings import Settings
from gallery.faces.pipeline import FacePipeline
from gallery.index.choice import IndexRule

from indexer.mapper import Mapper
from indexer.plan import Collection, CollectionError, CollectionFile, Planner, Task, unsupported_message
from indexer.reader import Reader
from indexer.summary import IndexSummary, Progress
from indexer.writer import WriteBehind, Writer


@dataclass
class _Run:
    """What one run works with, opened once."""

    database: Database
    set_id: int = 0
    set_key: str = ""
    run_id: int = 0
    on_progress: Callable[[Progress], None] | None = None
    progress: Progress = field(default_factory=lambda: Progress(0, 0, 0, 0))


def run_stages(settings: Settings, walked: Collection, database: Database | None, pipeline: FacePipeline,
               on_progress: Callable[[Progress], None] | None, whole_folder: bool, reader: Reader,
               started: float, ray: str | None) -> IndexSummary:
    """One run of indexer.runner once its `reader` is started: `walked` classified, mapped and
    written, known artworks not seen marked missing when it is a `whole_folder`."""
    if pipeline.calibration is None:  # int8 asked for and not made yet: the files at hand, then the collection's
        local = (f.read_path for f in walked.files) if isinstance(walked.root, Path) else ()  # read only if called
        pipeline.calibration = calibration_pictures(settings.database_url, settings.int8_pictures, local)
    info = pipeline.info()  # loads the models: fail on missing weights before touching the database
    run = _Run(database or open_database(settings.database_url), on_progress=on_progress)
    with run.database.session() as session:
        eset = embedding_set(session, info.key, info.profile, info.fusion.dim, info.to_json())
        run.set_id, run.set_key = eset.id, eset.key
        run.run_id = start_run(session, str(walked.root), eset.id).id
        known = known_artworks(session, eset.id, None if whole_folder else [f.path for f in walked.files])
        if whole_folder:
            _refuse_unmounted(walked, known)
            clear_metadata_errors(session, str(walked.root))
        for problem in walked.problems:
            record_error(session, f"{walked.root}/{problem.where}", "metadata", problem.message, run.run_id)
        for relative in walked.unsupported:
            record_error(session, f"{walked.root}/{relative}", "unsupported", unsupported_message(relative),
                         run.run_id)
    opened = open_set_index(run.database, eset, settings.index_dir, settings.index_factory,
                            rule=IndexRule.of(settings))
    writer = Writer(run.database, walked.root, run.set_id, opened.index, index_folder(settings.index_dir, eset),
                    run.set_key, run.run_id, region_status=settings.region_status)
    writer.stats.errors += [(p.where, p.message) for p in walked.problems]
    writer.stats.errors += [(str(r), unsupported_message(r)) for r in walked.unsupported]
    planner = Planner(known, walked.root)
    run.progress.total = len(walked.files)
    mapper = Mapper(pipeline, settings.thumbnail_size)
    if ray:
        batches = _ray_batches(settings, ray, run, planner, walked.files, mapper)
    else:
        batches = mapper.map(_classified(run, planner, reader.read(planner.prepare(walked.files))))
    behind = WriteBehind(writer, lambda batch: _report(run, batch))
    try:
        for batch in batches:
            behind.put(batch)
    except BaseException:
        behind.close(abandon=True)
        raise
    behind.close()
    if whole_folder:
        writer.mark_missing([a.id for a in planner.vanished()])
    writer.save()
    counts = dict(writer.stats.counts)
    if walked.unsupported:
        counts["unsupported"] = len(walked.unsupported)
    with run.database.session() as session:
        finish_run(session, run.run_id, counts)
    run.database.refresh_statistics()  # the query planner's view of the collection as it now is
    return IndexSummary(str(walked.root), run.set_key, info.profile, len(walked.files), counts,
                        writer.stats.errors, opened.health, opened.detail, time.monotonic() - started,
                        dict(walked.skipped))


def _classified(run: _Run, planner: Planner, reads) -> Iterator[Task]:
    for item, read in reads:
        yield _with_stored_faces(run, planner.classify(item, read))


def _with_stored_faces(run: _Run, task: Task) -> Task:
    """An embed task gets its artwork's active faces that lack a vector in the run's set, to align
    again from their landmarks; a changed one its hand-drawn faces, to carry to the new picture."""
    if task.kind == "embed":
        with run.database.session() as session:
            task.faces = faces_without_vector(session, task.known.id, run.set_id)
    elif task.kind == "changed":
        with run.database.session() as session:
            task.drawn, task.drawn_size = drawn_faces(session, task.known.id)
    return task


def _ray_batches(settings: Settings, address: str, run: _Run, planner: Planner, files: list[CollectionFile],
                 mapper: Mapper) -> Iterator[list[Task]]:
    """Batches of tasks mapped on a Ray cluster, in collection order; the few whose cluster result
    does not fit, changed files with hand-drawn faces to carry over and files with face regions in
    their metadata, are read and mapped here, at the end."""
    from indexer.ray_mapper import jobs_for, ray_tasks, read_again, stored_faces_of

    with run.database.session() as session:
        stored = stored_faces_of(session, [a for a in planner.known.values() if a.embedded != a.faces], run.set_id)
        with_drawn = artworks_with_drawn_faces(session)
    batch: list[Task] = []
    leftover: list[Task] = []
    for task, mapped in ray_tasks(settings, address, jobs_for(files, planner, stored), planner):
        if not mapped or (task.kind == "changed" and task.known.id in with_drawn) or task.read.regions:
            # drawn faces are carried, and face regions matched, here
            leftover.append(task)
            continue
        batch.append(task)
        if len(batch) >= settings.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
    if leftover:
        yield from mapper.map(_with_stored_faces(run, read_again(settings, t)) for t in leftover)


def _report(run: _Run, batch: list[Task]) -> None:
    progress = run.progress
    progress.done += len(batch)
    progress.faces += sum(len(t.result.faces) for t in batch if t.result is not None)
    progress.errors += sum(t.kind == "failed" for t in batch)
    if run.on_progress:
        run.on_progress(progress)


def _refuse_unmounted(walked, known) -> None:
    """An empty folder that once held artworks is more likely an unmounted drive than a deleted
    collection: refuse instead of marking everything missing."""
    if walked.files:
        return
    prefix = str(walked.root).rstrip("/") + "/"
    before = sum(1 for path in known if path.startswith(prefix))
    if before:
        raise CollectionError(f"{walked.root} holds no images now, but {before} artworks were indexed from it; "
                              "is the drive mounted? Nothing was changed.")
