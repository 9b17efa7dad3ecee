"""Embedding many files and comparing two images: library functions behind the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from gallery.faces.align import ARCFACE_CROP
from gallery.core.errors import GalleryError, NoFaceError
from gallery.faces.images import is_image_path
from gallery.faces.pipeline import EmbeddedFace, FacePipeline, ImageFailure, ImageResult


def collect_images(paths: Iterable[Path | str]) -> list[Path]:
    """Files named directly, plus every image file under named folders (sorted, recursive)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and is_image_path(p))
        elif path.exists():
            files.append(path)
        else:
            raise GalleryError(f"{path} does not exist")
    return files


@dataclass
class EmbedRun:
    names: tuple[str, ...]  # component names, fusion order
    paths: list[str] = field(default_factory=list)
    face_index: list[int] = field(default_factory=list)
    boxes: list[tuple] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    components: dict[str, list[np.ndarray]] = field(default_factory=dict)
    no_face: list[str] = field(default_factory=list)
    failures: list[ImageFailure] = field(default_factory=list)
    qualities: list[float] = field(default_factory=list)

    def add(self, result: ImageResult) -> None:
        if not result.faces:
            self.no_face.append(result.path)
        for face in result.faces:
            self.paths.append(result.path)
            self.face_index.append(face.index)
            self.boxes.append(face.face.box)
            self.landmarks.append(face.face.landmarks)
            self.vectors.append(face.vector)
            self.qualities.append(np.nan if face.quality is None else face.quality)
            for name in self.names:
                self.components.setdefault(name, []).append(face.components[name])

    def arrays(self, dim: int, dims: dict[str, int]) -> dict[str, np.ndarray]:
        out = {
            "paths": np.array(self.paths, dtype=str),
            "face_index": np.array(self.face_index, dtype=np.int32),
            "boxes": np.array(self.boxes, dtype=np.float32).reshape(-1, 4),
            "landmarks": np.array(self.landmarks, dtype=np.float32).reshape(-1, 5, 2),
            "vectors": np.array(self.vectors, dtype=np.float32).reshape(-1, dim),
            "quality": np.array(self.qualities, dtype=np.float32),
            "no_face": np.array(self.no_face, dtype=str),
            "failed": np.array([f.path for f in self.failures], dtype=str),
            "failed_reason": np.array([f.reason for f in self.failures], dtype=str),
        }
        for name in self.names:
            out[f"component_{name}"] = np.array(self.components.get(name, []), np.float32).reshape(-1, dims[name])
        return out


def embed_files(pipeline: FacePipeline, files: list[Path], on_image: Callable[[str, int], None] | None = None) -> EmbedRun:
    """Embed every face of every file; unreadable files are recorded, never fatal.

    `on_image(path, n_faces)` is called once per file, with n_faces = -1 for a file that could not be read.
    """
    run = EmbedRun(pipeline.layout.names)

    def readable():
        for item in pipeline.load_many(files):
            if isinstance(item, ImageFailure):
                run.failures.append(item)
                if on_image:
                    on_image(item.path, -1)
            else:
                yield item

    for result in pipeline.process_many(readable()):
        run.add(result)
        if on_image:
            on_image(result.path, len(result.faces))
    return run


def save_npz(run: EmbedRun, pipeline: FacePipeline, out: Path) -> Path:
    layout = pipeline.layout
    arrays = run.arrays(layout.dim, dict(zip(layout.names, layout.dims)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial.npz")
    np.savez(tmp, **arrays)
    tmp.replace(out)
    return out


@dataclass(frozen=True)
class Comparison:
    score: float
    components: dict[str, float]
    face_a: EmbeddedFace
    face_b: EmbeddedFace
    faces_a: int
    faces_b: int
    crops: tuple[np.ndarray, np.ndarray] = field(repr=False)  # the two faces' ArcFace crops, to show

    def same_sitter(self, threshold: float) -> bool:
        return self.score >= threshold

    def verdict(self, threshold: float) -> str:
        """The comparison's verdict, in the words the CLI and the page both use."""
        return (f"{'Same sitter likely' if self.same_sitter(threshold) else 'Not the same sitter'}: "
                f"score {self.score:.3f} against the threshold {threshold:.2f}")

    def to_json(self, threshold: float | None = None) -> dict:
        out = {
            "score": round(self.score, 6),
            "components": {k: round(v, 6) for k, v in self.components.items()},
            "face_a": {"index": self.face_a.index, "of": self.faces_a, **self.face_a.face.to_json()},
            "face_b": {"index": self.face_b.index, "of": self.faces_b, **self.face_b.face.to_json()},
        }
        if threshold is not None:
            out.update(threshold=threshold, same_sitter=self.same_sitter(threshold), verdict=self.verdict(threshold))
        return out


def pick_face(result: ImageResult, index: int | None) -> EmbeddedFace:
    if not result.faces:
        raise NoFaceError(f"no face found in {result.path}")
    index = 0 if index is None else index
    if not 0 <= index < len(result.faces):
        raise NoFaceError(f"{result.path} has {len(result.faces)} face(s), numbered 0-{len(result.faces) - 1}; "
                          f"face {index} does not exist")
    return result.faces[index]


def compare_images(pipeline: FacePipeline, image_a, image_b, face_a: int | None = None,
                   face_b: int | None = None) -> Comparison:
    """Score face `face_a` of image A against `face_b` of image B (default: the largest of each)."""
    (a, faces_a, crop_a), (b, faces_b, crop_b) = _chosen(pipeline, image_a, face_a), _chosen(pipeline, image_b, face_b)
    per = pipeline.layout.component_scores(a.vector, b.vector)
    return Comparison(float(a.vector @ b.vector), {k: float(v) for k, v in per.items()}, a, b, faces_a, faces_b,
                      (crop_a, crop_b))


def _chosen(pipeline: FacePipeline, image, face: int | None) -> tuple[EmbeddedFace, int, np.ndarray]:
    """An image's chosen face, its number of faces and the face's ArcFace crop (one image decoded
    at a time, let go before the next)."""
    loaded = pipeline.load(image)
    result = pipeline.process(loaded)
    chosen = pick_face(result, face)
    return chosen, len(result.faces), pipeline.align(loaded, chosen.face, ARCFACE_CROP)
