"""Writer stage: one database transaction per batch, then the same batch into the vector index.

The database is the truth. A run killed between a commit and the next index save leaves an
index behind it; the next open catches the index up from the stored vectors (or rebuilds it
from them, when its files are damaged). A run killed inside a transaction leaves nothing of
that batch, which the next run simply redoes.
So every real face has exactly one active Face row, whatever moment the process died.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from sqlalchemy import update
from sqlalchemy.orm import Session

from db.collection import active_faces, clear_errors, encode_vector, record_error
from db.engine import Database
from db.identifications import add_metadata_identification, carry_over, identify
from db.schema import Artwork, Face, FaceVector, Sitter
from db.sitters import sitters_named
from gallery.faces.detection import box_iou
from gallery.faces.pipeline import EmbeddedFace
from gallery.faces.regions import box_fractions
from gallery.index.vector_index import VectorIndex

from indexer.plan import CARRY_IOU, Task

SAVE_SHARE = 0.1  # periodic index saves take at most about this share of a run: after a save of s seconds
# the next waits at least s / SAVE_SHARE (a large index's save writes gigabytes; the database holds every
# vector meanwhile, and an index left behind by a stopped run is caught up from it on the next open)


@dataclass
class WriteStats:
    counts: Counter = field(default_factory=Counter)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, message)


class Writer:
    def __init__(self, database: Database, collection: Path, set_id: int, index: VectorIndex, index_folder: Path,
                 set_key: str, run_id: int | None = None, save_every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, region_status: str = "confirmed"):
        self.database = database
        self.collection = str(collection)
        self.set_id = set_id
        self.index = index
        self.index_folder = index_folder
        self.set_key = set_key
        self.run_id = run_id
        self.save_every_s = save_every_s
        self.region_status = region_status  # of identifications read from XMP face regions
        self.stats = WriteStats()
        self.clock = clock
        self._last_save = clock()
        self._save_took = 0.0  # seconds, of the last save
        self._dirty = False

    # -- one batch ------------------------------------------------------------------
    def write(self, batch: list[Task]) -> None:
        added: list[tuple[int, np.ndarray]] = []
        retired: list[int] = []
        pending = _Pending()
        with self.database.session() as session:
            for task in batch:
                self._write_task(session, task, pending, added, retired)
            session.flush()  # the batch's new artworks and faces in a few statements, for their ids
            for row, vector in pending.vectors:
                session.add(FaceVector(face_id=row.id, set_id=self.set_id, vector=encode_vector(vector)))
                if row.rejected_at is None:  # a face rejected again where a rejected one was stays out
                    added.append((row.id, vector))
            names = {t.file.meta.sitter for _, t, _ in pending.labels if t.file.meta.sitter}
            names |= {region.name for _, t, _ in pending.labels for _, region in t.regions}
            sitters = sitters_named(session, names, create=True)  # held here, so identify finds them in the session
            for artwork, task, rows in pending.labels:
                self._label(session, artwork, task, rows, sitters)
                self._label_regions(session, task, rows, sitters)
            clear_errors(session, [t.file.path for t in batch if t.kind != "failed"],
                         [t.file.path for t in batch if t.kind in ("new", "changed")])
            for path, problem in pending.problems:
                record_error(session, path, "regions", problem, self.run_id)
                self.stats.errors.append((path, problem))
        if retired:
            self.index.remove(retired)
        if added:
            self.index.add([i for i, _ in added], np.stack([v for _, v in added]))
        self._dirty = self._dirty or bool(added or retired)
        self.save_when_due()

    def save_when_due(self) -> None:
        """Save the index when it has changed and `save_every_s` has passed since the last save,
        or longer after a slow one (SAVE_SHARE)."""
        wait = max(self.save_every_s, self._save_took / SAVE_SHARE)
        if self._dirty and self.clock() - self._last_save > wait:
            self.save()

    def save(self) -> None:
        started = self.clock()
        self.index.save(self.index_folder, self.set_key)
        self._last_save, self._dirty = self.clock(), False
        self._save_took = self._last_save - started

    def mark_missing(self, artwork_ids: list[int]) -> None:
        with self.database.session() as session:
            if artwork_ids:
                session.execute(update(Artwork).where(Artwork.id.in_(artwork_ids)).values(status="missing"))
        self.stats.counts["missing"] += len(artwork_ids)

    # -- per task -------------------------------------------------------------------
    def _write_task(self, session: Session, task: Task, pending: "_Pending", added: list, retired: list) -> None:
        counts = self.stats.counts
        counts[task.kind] += 1
        if task.kind == "failed":
            record_error(session, task.file.path, "read", task.read.error, self.run_id)
            self.stats.errors.append((task.file.path, task.read.error))
            return
        if task.kind == "unchanged" and not task.file.from_csv and task.known.status == "present":
            return  # nothing to write: most files of a re-run
        old_size = None
        if task.kind == "changed":
            previous = session.get(Artwork, task.known.id)
            old_size = (previous.width or 1, previous.height or 1)
        artwork = self._artwork(session, task)
        if task.kind == "embed":
            for face, embedded in zip(task.faces, task.result.faces):
                session.add(FaceVector(face_id=face.id, set_id=self.set_id, vector=encode_vector(embedded.vector)))
                if face.rejected_at is None:
                    added.append((face.id, embedded.vector))
            counts["faces_embedded"] += len(task.faces)
        new = None
        if task.kind in ("new", "changed"):
            old = self._retire(session, artwork) if task.kind == "changed" else []
            retired += [f.id for f in old]
            new = self._insert_faces(session, artwork, task.result.faces, pending, task.drawn_kept)
            if old:
                session.flush()  # the new faces' ids, to carry the old faces' identifications to
                self._carry_identifications(session, old, old_size, new, (artwork.width, artwork.height))
        if task.kind in ("new", "changed", "moved") or task.file.from_csv:
            pending.labels.append((artwork, task, new))
        pending.problems += [(task.file.path, p) for p in filter(None, [task.read.region_problem, *task.problems])]

    def _artwork(self, session: Session, task: Task) -> Artwork:
        if task.known is None:
            artwork = Artwork(path=task.file.path, extras={})
            session.add(artwork)
        else:
            artwork = session.get(Artwork, task.known.id)
        artwork.path, artwork.sha256, artwork.status = task.file.path, task.read.sha256, "present"
        artwork.collection = self.collection
        if task.result is not None and task.kind != "embed":
            artwork.width, artwork.height = task.result.size
        meta = task.file.meta
        for key, value in meta.fields.items():
            setattr(artwork, key, value)
        if meta.extras:
            artwork.extras = {**(artwork.extras or {}), **meta.extras}
        if artwork.title is None:
            artwork.title = Path(task.file.path).stem.replace("_", " ")
        return artwork

    def _retire(self, session: Session, artwork: Artwork) -> list[Face]:
        old = active_faces(session, artwork.id)
        for face in old:
            face.active = False
        self.stats.counts["faces_retired"] += len(old)
        return old

    def _insert_faces(self, session: Session, artwork: Artwork, faces: list[EmbeddedFace],
                      pending: "_Pending", drawn: int = 0) -> list[Face]:
        """Face rows for the artwork, in face_index order (the last `drawn` are hand-drawn faces
        carried over); their vectors wait for the batch's flush."""
        rows = []
        for embedded in faces:
            detected = embedded.face
            origin = "drawn" if embedded.index >= len(faces) - drawn else "detected"
            row = Face(artwork=artwork, face_index=embedded.index, box=[float(v) for v in detected.box],
                       landmarks=np.asarray(detected.landmarks, float).round(2).tolist(), score=float(detected.score),
                       quality=embedded.quality, thumbnail=embedded.thumbnail, active=True, origin=origin)
            session.add(row)
            rows.append(row)
            pending.vectors.append((row, embedded.vector))
        self.stats.counts["faces_added"] += len(rows)
        return rows

    def _carry_identifications(self, session: Session, old: list[Face], old_size, new: list[Face], new_size):
        for face in old:
            before = box_fractions(face.box, old_size)
            overlaps = [(box_iou(before, box_fractions(n.box, new_size)), n) for n in new]
            best, match = max(overlaps, key=lambda pair: pair[0], default=(0.0, None))
            if match is None or best < CARRY_IOU:
                continue
            self.stats.counts["identifications_carried"] += carry_over(
                session, face.id, match.id, f"carried over from face {face.id} when the file changed")
            if face.rejected_at is not None:  # detected again where a curator said there is no face
                match.rejected_at, match.rejected_by = face.rejected_at, face.rejected_by
                self.stats.counts["faces_rejected_again"] += 1

    def _label(self, session: Session, artwork: Artwork, task: Task, faces: list[Face] | None,
               sitters: dict[str, Sitter]) -> None:
        """The catalogue's sitter on the artwork's face it names; `faces` are its active faces in
        face_index order when the caller has just inserted them; `sitters` the batch's catalogue
        sitters by name."""
        meta = task.file.meta
        if not meta.sitter:
            return
        if faces is None:
            faces = active_faces(session, artwork.id)
        index = meta.face or 0
        if index >= len(faces):
            message = (f"sitter {meta.sitter!r} names face {index}, but {len(faces)} face(s) were found; "
                       "the artwork is indexed without this identification")
            record_error(session, task.file.path, "metadata", message, self.run_id)
            self.stats.errors.append((task.file.path, message))
            return
        if _record_label(session, task, faces[index].id, sitters[meta.sitter].id, "confirmed",
                         f"from {task.file.relative}"):
            self.stats.counts["identifications_added"] += 1

    def _label_regions(self, session: Session, task: Task, faces: list[Face] | None, sitters: dict[str, Sitter]):
        """The named face regions of the file's XMP on the faces the mapper matched them to."""
        if not task.regions or faces is None:
            return
        for position, region in task.regions:
            note = f"face region ({region.convention.upper()}) in the metadata of {task.file.relative}"
            if _record_label(session, task, faces[position].id, sitters[region.name].id, self.region_status, note):
                self.stats.counts["identifications_from_regions"] += 1


def _record_label(session: Session, task: Task, face_id: int, sitter_id: int, status: str, note: str) -> bool:
    """A label from the file's metadata (source `metadata`) on one of its faces, unless the pair has
    any record already (a curator's included); whether it was recorded."""
    if task.kind == "new":  # faces inserted just now: no record can exist for them yet
        identify(session, face_id, sitter_id, status, "metadata", note=note, flush=False)
        return True
    return add_metadata_identification(session, face_id, sitter_id, note=note, status=status)


@dataclass
class _Pending:
    """What a batch writes once its new rows have ids: vectors, catalogue labels."""

    vectors: list[tuple[Face, np.ndarray]] = field(default_factory=list)
    labels: list[tuple[Artwork, Task, list[Face] | None]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, message) of face regions not read


class WriteBehind:
    """The writer stage in a thread of its own: batches are written in the order given while the
    mapper works on the next ones (model runs release the GIL; the database work is Python).
    At most `depth` batches wait. A write that fails stops the stage: the failure is raised in
    the caller at its next `put` or at `close`, and no later batch is written (each batch is its
    own transaction, so the database holds exactly the batches before the failed one)."""

    def __init__(self, writer: Writer, on_written: Callable[[list[Task]], None] | None = None, depth: int = 2):
        self.writer = writer
        self.on_written = on_written
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._failure: BaseException | None = None
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name="gallery-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._failure is not None or self._abandoned:
                continue  # drain, so a blocked put returns
            try:
                self.writer.write(batch)
                if self.on_written:
                    self.on_written(batch)
            except BaseException as err:  # handed to the caller's thread
                self._failure = err

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def put(self, batch: list[Task]) -> None:
        self._raise_failure()
        self._queue.put(batch)

    def close(self, abandon: bool = False) -> None:
        """Wait until every batch given is written (or, with `abandon`, skip those not yet
        started: the caller is failing anyway), then raise a write's failure, if any."""
        self._abandoned = abandon
        self._queue.put(None)
        self._thread.join()
        if not abandon:
            self._raise_failure()
