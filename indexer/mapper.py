"""Mapper stage: detect, align and embed the faces of read files, many images per model call
(several detected at once, FacePipeline.each_image).

New and changed files are detected (a changed file's hand-drawn faces carried to its new picture
where the detector finds no face; a named face region of the file's XMP matched to the detection it
overlaps most, by REGION_IOU or more, or else added as a hand-drawn face); files that only lack
vectors for a new embedding set are aligned again from their stored landmarks, so their faces (and
identifications) stay the same.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Iterator

import numpy as np

from gallery.core.errors import GalleryError
from gallery.faces.detection import DetectedFace, box_iou
from gallery.faces.drawn import face_in_box
from gallery.faces.pipeline import CroppedImage, FacePipeline

from indexer.plan import CARRY_IOU, Task

REGION_IOU = 0.3  # a face region from metadata is the detection it overlaps this much (asset managers draw
# looser or tighter boxes than the detector); below, the region becomes a hand-drawn face of its own


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
        for task, crop in self.pipeline.each_image(self._crop_if_needed, tasks):
            batch.append(task)
            if crop is not None:
                cropped.append((task, crop))
                faces += len(crop.faces)
            if faces >= limit or len(batch) >= 8 * limit:
                yield self._embed(batch, cropped)
                batch, cropped, faces = [], [], 0
        if batch:
            yield self._embed(batch, cropped)

    def _crop_if_needed(self, task: Task) -> CroppedImage | None:
        return self._crop(task) if task.needs_models else None

    def _crop(self, task: Task) -> CroppedImage | None:
        image = task.read.image
        known = stored_faces(task.faces) if task.kind == "embed" else None
        try:
            if task.drawn or (task.read.regions and task.kind != "embed"):
                known = self._with_drawn(task, image) if task.drawn else self.pipeline.detect(image)
                known = self._with_regions(task, image, known)
                return self.pipeline.crop_image(image, known, self.thumbnail_size)
            return self.pipeline.crop_image(image, known, self.thumbnail_size if known is None else 0)
        except Exception as err:  # a detector failure on one image must not stop the batch
            task.kind, task.read = "failed", replace(task.read, image=None, error=f"face detection failed: {err}")
            return None
        finally:
            task.read = replace(task.read, image=None)  # free the pixels

    def _with_drawn(self, task: Task, image) -> list[DetectedFace]:
        """A changed file's detections, then its hand-drawn faces carried to the new picture (scaled
        from the size they were drawn on) where no detection now covers them."""
        detected = self.pipeline.detect(image)
        sx, sy = image.size[0] / task.drawn_size[0], image.size[1] / task.drawn_size[1]
        kept = []
        for face in stored_faces(task.drawn):
            x1, y1, x2, y2 = face.box
            moved = DetectedFace((x1 * sx, y1 * sy, x2 * sx, y2 * sy),
                                 np.asarray(face.landmarks, np.float32) * np.array([sx, sy], np.float32), face.score)
            if all(box_iou(moved.box, d.box) < CARRY_IOU for d in detected):
                kept.append(moved)
        task.drawn_kept = len(kept)
        return detected + kept

    def _with_regions(self, task: Task, image, faces: list[DetectedFace]) -> list[DetectedFace]:
        """`faces`, then a hand-drawn face for each named region that overlaps none of them;
        `task.regions` gets each region with the position of its face."""
        width, height = image.size
        settings = self.pipeline.settings
        for region in task.read.regions:
            x1, y1, x2, y2 = region.box
            box = (x1 * width, y1 * height, x2 * width, y2 * height)
            best, best_iou = None, REGION_IOU
            for position, face in enumerate(faces):
                overlap = box_iou(box, face.box)
                if overlap >= best_iou and all(p != position for p, _ in task.regions):
                    best, best_iou = position, overlap
            if best is None:
                try:
                    drawn = face_in_box(self.pipeline.detector, self.pipeline.profile.detector, image, box,
                                        settings.detect_max_side)
                except GalleryError as err:
                    task.problems.append(f"face region of {region.name}: {err}; not read")
                    continue
                faces = faces + [drawn.face]
                task.drawn_kept += 1
                best = len(faces) - 1
            task.regions.append((best, region))
        return faces

    def _embed(self, batch: list[Task], cropped: list[tuple[Task, CroppedImage]]) -> list[Task]:
        results = self.pipeline.embed_cropped([c for _, c in cropped])
        for (task, _), result in zip(cropped, results):
            task.result = result
        return batch
