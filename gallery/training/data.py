"""Training data: aligned face crops with sitter labels, the sitter-disjoint split, P x K batches."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gallery.faces.align import CropSpec, align_face
from gallery.core.errors import GalleryError
from gallery.evaluation.evaluate import folder_label, sitter_disjoint


class TrainingDataError(GalleryError):
    """Labelled faces that cannot be trained on."""


@dataclass(frozen=True)
class Faces:
    crops: np.ndarray  # N x S x S x 3 uint8, aligned for the network being trained
    labels: np.ndarray  # N sitter names

    @property
    def digest(self) -> str:
        """Identifies the training data (recorded with the trained weights)."""
        digest = hashlib.sha256(self.crops.tobytes())
        digest.update("\n".join(self.labels.tolist()).encode())
        return digest.hexdigest()

    def subset(self, mask: np.ndarray) -> "Faces":
        return Faces(self.crops[mask], self.labels[mask])


def faces_from_folder(pipeline, folder: Path, spec: CropSpec, on_image=None) -> Faces:
    """The largest face of every image in a folder per sitter, aligned with `spec`."""
    from gallery.faces.batch import collect_images

    root = Path(folder).resolve()
    crops, labels = [], []
    for item in pipeline.load_many(collect_images([root])):
        if hasattr(item, "rgb"):
            faces = pipeline.detect(item)
            if faces:
                crops.append(pipeline.align(item, faces[0], spec))
                labels.append(folder_label(item.path, root))
        if on_image:
            on_image()
    if not crops:
        raise TrainingDataError(f"no face found under {folder}")
    return Faces(np.stack(crops), np.asarray(labels))


def split(faces: Faces, validation: float, seed: int) -> tuple[Faces, Faces]:
    """Sitter-disjoint: no sitter of the validation part is trained on."""
    names, counts = np.unique(faces.labels, return_counts=True)
    if (counts >= 2).sum() < 4:
        raise TrainingDataError(
            f"training needs at least 4 sitters with 2 or more faces each (2 to train on and 2 to validate on, "
            f"sitter-disjoint); the faces found name {len(names)} sitter{'s' if len(names) != 1 else ''}, "
            f"{int((counts >= 2).sum())} of them with 2 or more faces. A sitter seen once gives no pair to learn from")
    held = sitter_disjoint(faces.labels, validation, seed)
    train, val = faces.subset(~held), faces.subset(held)
    for part, name in ((train, "training"), (val, "validation")):
        names, counts = np.unique(part.labels, return_counts=True)
        if (counts >= 2).sum() < 2:
            raise TrainingDataError(f"the {name} split needs at least 2 sitters with 2 or more faces; "
                                    f"it has {int((counts >= 2).sum())} of {len(names)}")
    return train, val


class PkSampler:
    """Batches of P sitters x K faces (faces drawn again when a sitter has fewer than K)."""

    def __init__(self, labels: np.ndarray, p: int, k: int, seed: int):
        names, inverse = np.unique(labels, return_inverse=True)
        self.by_sitter = [np.flatnonzero(inverse == i) for i in range(len(names))]
        self.by_sitter = [ids for ids in self.by_sitter if len(ids) >= 2]
        self.p, self.k = min(p, len(self.by_sitter)), k
        self.rng = np.random.default_rng(seed)

    def batch(self) -> np.ndarray:
        chosen = self.rng.choice(len(self.by_sitter), self.p, replace=False)
        out = [self.rng.choice(self.by_sitter[s], self.k, replace=len(self.by_sitter[s]) < self.k) for s in chosen]
        return np.concatenate(out)


def faces_from_database(database, spec: CropSpec, max_pixels: int, on_image=None, quality_floor: float = 0.0) -> Faces:
    """Active faces whose current identification is `confirmed` (one sitter only), aligned from
    their stored landmarks on the artwork files; artworks whose file is gone are skipped, and so
    are faces whose quality is below `quality_floor`."""
    from sqlalchemy import select

    from db.identifications import confirmed_sitters
    from db.schema import Artwork, Face, serving

    from gallery.faces.images import load_image

    with database.session() as session:
        single = confirmed_sitters(session)
        rows = session.execute(select(Face.id, Face.landmarks, Artwork.path).join(Artwork)
                               .where(Face.id.in_(list(single)), serving(),
                                      Artwork.status == "present",
                                      Face.quality.is_(None) | (Face.quality >= quality_floor))
                               .order_by(Artwork.path)).all()
    crops, labels, loaded = [], [], {}
    for face_id, landmarks, path in rows:
        if path not in loaded:
            loaded.clear()  # one artwork in memory at a time (rows are ordered by path)
            try:
                loaded[path] = load_image(path, max_pixels)
            except GalleryError:
                loaded[path] = None
            if on_image:
                on_image()
        if loaded[path] is not None:
            crops.append(align_face(loaded[path].rgb, np.asarray(landmarks, np.float32), spec))
            labels.append(single[face_id])
    if not crops:
        raise TrainingDataError("the database has no readable face with a confirmed sitter")
    return Faces(np.stack(crops), np.asarray(labels))
