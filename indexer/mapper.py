"""Mapper stage: detect, align and embed the faces of read files, many images per model call.

New and changed files are detected; files that only lack vectors for a new embedding set are
aligned again from their stored landmarks, so their faces (and identifications) stay the same.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from gallery.faces.detection import DetectedFace
from gallery.faces.pipeline import CroppedImage, FacePipeline

from indexer.plan import Task


def stored_faces(faces) -> list[DetectedFace]:
    """db.schema.Face rows (in face_index order) back into detections."""
    return [DetectedFace(tuple(f.box), np.asarray(f.landmarks, np.float32), float(f.score)) for f in faces]


class Mapper:
    def __init__(self, pipeline: FacePipeline, thumbnail_size: int):
        self.pipeline = pipeline
        self.thumbnail_size = thumbnail_size

    def map(self, tasks: Iterable[Task]) -> Iterator[list[Task]]:
        """Batches of tasks, with `result` filled for those that needed the models. A batch ends
        when it holds `batch_size` faces to embed or 8x`batch_size` tasks."""
        limit = self.pipeline.settings.batch_size
        batch: list[Task] = []
        cropped: list[tuple[Task, CroppedImage]] = []
        faces = 0
        for task in tasks:
            batch.append(task)
            if task.needs_models:
                crop = self._crop(task)
                if crop is not None:
                    cropped.append((task, crop))
                    faces += len(crop.faces)
            if faces >= limit or len(batch) >= 8 * limit:
                yield self._embed(batch, cropped)
                batch, cropped, faces = [], [], 0
        if batch:
            yield self._embed(batch, cropped)

    def _crop(self, task: Task) -> CroppedImage | None:
        image = task.read.image
        known = stored_faces(task.faces) if task.kind == "embed" else None
        try:
            return self.pipeline.crop_image(image, known, self.thumbnail_size if known is None else 0)
        except Exception as err:  # a detector failure on one image must not stop the batch
            task.kind, task.read = "failed", type(task.read)(task.read.path, task.read.sha256, None,
                                                             f"face detection failed: {err}")
            return None
        finally:
            task.read = type(task.read)(task.read.path, task.read.sha256, None, task.read.error)  # free pixels

    def _embed(self, batch: list[Task], cropped: list[tuple[Task, CroppedImage]]) -> list[Task]:
        results = self.pipeline.embed_cropped([c for _, c in cropped])
        for (task, _), result in zip(cropped, results):
            task.result = result
        return batch
