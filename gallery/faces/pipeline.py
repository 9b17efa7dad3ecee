"""The face pipeline: image -> faces -> aligned crops -> component vectors -> fused vector.

A FacePipeline is cheap to build; the detector and encoders load on first use
and stay loaded. Before loading anything it checks that every weights file of
the profile can be had, and names each missing one in a single error.

Many images (`each_image`, which indexing and `gallery embed` use) are detected several at a time
where the detector allows it (`settings.detect_workers`): SCRFD on a CPU, each worker thread with
a session of its own on a share of the cores. A small network spread over every core for one
image waits on its slowest core at each layer; images side by side keep every core busy and
overlap the Python around the network (decoding, NMS, alignment, thumbnails). The encoders stay in
the caller's thread, many faces a call. One image (a query, `gallery faces`) keeps the session on
every core. benchmarks/startup.py has the whole-process figures.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np

from gallery.faces.align import ARCFACE_CROP, CropSpec, thumbnail_crop
from gallery.faces.detection import DetectedFace, build_detector, detect_faces, runs_side_by_side
from gallery.config.device import Placement, cpu_cores, resolve_placement
from gallery.core.in_order import in_order
from gallery.faces.encoders.base import Encoder, EncoderInfo
from gallery.faces.encoders.factory import build_encoder
from gallery.core.errors import ImageLoadError, WeightsUnavailable
from gallery.faces.fusion import FusionLayout
from gallery.faces.images import LoadedImage, encode_jpeg, load_image
from gallery.faces.int8 import calibrate
from gallery.faces.quantize import int8_choice
from gallery.faces.scaled import align_at_scale, aligned, detailed_enough, found_at_full_scale
from gallery.faces.quality import NORM_KINDS, NORM_RANGE, face_quality
from gallery.config.settings import Settings
from gallery.weights.store import WeightStore


T = TypeVar("T")
R = TypeVar("R")
MAX_AUTO_DETECT_WORKERS = 4  # detect_workers = 0: one per core up to this (beyond, each session's own threads)


@dataclass(frozen=True)
class EmbeddedFace:
    face: DetectedFace
    index: int  # position among the image's faces, largest first
    vector: np.ndarray  # fused, L2-normalised
    components: dict[str, np.ndarray]
    thumbnail: bytes | None = None  # JPEG around the face, when asked for
    quality: float | None = None  # gallery.faces.quality, in [0, 1]


@dataclass(frozen=True)
class ImageResult:
    path: str
    size: tuple[int, int]
    faces: list[EmbeddedFace] = field(default_factory=list)


@dataclass(frozen=True)
class CroppedImage:
    """An image reduced to what embedding needs: its faces and their aligned crops."""

    path: str
    size: tuple[int, int]
    faces: list[DetectedFace]
    crops: dict[CropSpec, np.ndarray]
    thumbnails: list[bytes] | None = None


@dataclass(frozen=True)
class ImageFailure:
    path: str
    reason: str


@dataclass(frozen=True)
class ProfileInfo:
    profile: str
    detector: dict
    encoders: tuple[EncoderInfo, ...]
    fusion: FusionLayout

    flipped: tuple[str, ...] = ()  # components embedded with their mirror (test-time augmentation)

    @property
    def key(self) -> str:
        """Identifies the vectors this profile produces: components, their weights files, flip
        averaging and the fusion; not the device or precision, nor the detector (faces are
        detected once)."""
        parts = [[e.name, e.kind, e.dim, sorted(e.weights.values())] for e in self.encoders]
        described = {"encoders": parts, "fusion": list(self.fusion.weights)}
        if self.flipped:  # absent when off, so sets made before flip averaging keep their key
            described["flipped"] = sorted(self.flipped)
        blob = json.dumps(described, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_json(self) -> dict:
        return {
            "profile": self.profile,
            "detector": self.detector,
            "encoders": [e.__dict__ for e in self.encoders],
            "flipped": list(self.flipped),
            **self.fusion.to_json(),
        }


class FacePipeline:
    def __init__(self, settings: Settings, store: WeightStore | None = None,
                 calibration: Callable[[], Iterable] | None = None):
        """`calibration`: the collection's pictures (paths or bytes) to calibrate int8 models on
        when int8 is asked for and none is cached (gallery.faces.int8)."""
        self.settings = settings
        self.profile = settings.profile
        self.store = store or WeightStore(settings.weights_dir, offline=settings.offline)
        self.calibration = calibration
        self._placement: Placement | None = None
        self._detector = None  # on every core, for the caller's thread
        self._detector_weights = None
        self._detector_sha = None
        self._worker = threading.local()  # each_image's worker threads: a detector of their own
        self._encoders: list[Encoder] | None = None
        self._layout: FusionLayout | None = None
        self.detector_int8 = None  # the detector's int8 form in use (gallery.weights.derived.Derived)
        self.detector_int8_needed = False
        self._calibrating = False

    # -- lazy construction ------------------------------------------------------
    @property
    def placement(self) -> Placement:
        if self._placement is None:
            self._placement = resolve_placement(self.settings.device, self.settings.precision)
        return self._placement

    def check_weights(self) -> None:
        """Raise one WeightsUnavailable naming every weights file the profile lacks."""
        refs = [self.profile.detector.weights]
        for spec in self.profile.encoders:
            refs += [r for r in (spec.weights, spec.adapter) if r]
        problems = []
        for ref in dict.fromkeys(refs):
            try:
                self.store.resolve(ref)
            except WeightsUnavailable as err:
                problems.append(f"  - {err}")
        if problems:
            raise WeightsUnavailable(
                f"profile '{self.profile.name}' cannot run; missing weights:\n" + "\n".join(problems)
            )

    def _detector_source(self) -> Path | None:
        """The file the detector opens: its int8 form where that runs (chosen once, and replaced when
        calibrated here), else its weights. None when the int8 form was calibrated here and its cache
        could not be written: then only the open detector holds it."""
        if self._detector_weights is None:
            self.check_weights()
            resolved = self.store.resolve(self.profile.detector.weights)
            if self.profile.detector.kind == "scrfd":
                choice = int8_choice(self.placement, self.store.root / "derived", resolved.sha256)
                self.detector_int8, self.detector_int8_needed = choice.model, choice.needed
            self._detector_weights, self._detector_sha = resolved.path, resolved.sha256
        return self.detector_int8.path if self.detector_int8 is not None else self._detector_weights

    @property
    def detector(self):
        own = getattr(self._worker, "detector", None)
        if own is not None:  # in one of each_image's worker threads
            return own
        if self._detector is None:
            self._detector = build_detector(self.profile.detector, self._detector_source(), self.placement.device)
            self._calibrate_int8()
        return self._detector

    @property
    def encoders(self) -> list[Encoder]:
        if self._encoders is None:
            self.check_weights()
            encoders = [build_encoder(s, self.store, self.placement, self.settings.batch_size)
                        for s in self.profile.encoders]
            for encoder in encoders:
                encoder.load()
            self._encoders = encoders
            self._calibrate_int8()
        return self._encoders

    def _calibrate_int8(self) -> None:
        """Calibrate the int8 forms asked for and not cached, once the detector and the encoders
        are open (gallery.faces.int8); nothing otherwise."""
        if self.placement.precision != "int8" or self._calibrating:
            return
        self._detector_source()  # whether the detector's int8 form is needed
        self._calibrating = True
        try:
            if self.detector_int8_needed or any(getattr(e, "int8_needed", False) for e in self.encoders):
                calibrate(self, self.calibration() if self.calibration else (), self.settings.int8_pictures)
        finally:
            self._calibrating = False

    @property
    def layout(self) -> FusionLayout:
        if self._layout is None:
            dims = []
            for encoder in self.encoders:
                probe = np.zeros((1, encoder.crop.size, encoder.crop.size, 3), np.uint8)
                dims.append(encoder.encode(probe).shape[1])
            self._layout = FusionLayout(tuple(e.name for e in self.encoders),
                                        tuple(s.weight for s in self.profile.encoders), tuple(dims))
        return self._layout

    def info(self) -> ProfileInfo:
        layout = self.layout
        det = self.profile.detector
        self._detector_source()  # whether it runs in int8 is part of the answer, opened or not
        detector = {"kind": det.kind, "weights": det.weights, "sha256": self._detector_sha}
        int8 = self.detector_int8
        if int8 is not None:
            detector["int8_sha256"] = int8.sha256
        return ProfileInfo(self.profile.name, detector,
                           tuple(e.info() for e in self.encoders), layout,
                           tuple(e.name for e in self.encoders if e.spec.flip))

    @property
    def detect_workers(self) -> int:
        """Images detected at once by `each_image` (settings.detect_workers; 1 where the detector
        cannot run side by side)."""
        if not runs_side_by_side(self.profile.detector, self.placement.device):
            return 1
        return self.settings.detect_workers or min(MAX_AUTO_DETECT_WORKERS, cpu_cores())

    def each_image(self, work: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
        """(item, work(item)) in the items' order, `detect_workers` items at a time; `work` calls
        the pipeline's detection as usual and gets its thread's own detector. The models are opened
        (and int8 forms calibrated) here first, in the caller's thread."""
        workers = self.detect_workers
        if workers <= 1:
            return in_order(work, items, 1)
        _ = self.encoders  # opened (and int8 forms calibrated) once, before the workers share them
        source, threads = self._detector_source(), max(1, cpu_cores() // workers)
        if source is None:  # no file to open the workers' detectors from: the open one, image by image
            return in_order(work, items, 1)

        def own_detector():
            self._worker.detector = build_detector(self.profile.detector, source, self.placement.device, threads)
        return in_order(work, items, workers, initializer=own_detector, name="gallery-detect")

    # -- the data path ----------------------------------------------------------
    def load(self, source, name: str | None = None) -> LoadedImage:
        """Decode an image; a big master with resolution levels at the level detection needs."""
        return load_image(source, self.settings.max_pixels, name, reduce_to=self.settings.detect_max_side)

    def detect(self, image: LoadedImage) -> list[DetectedFace]:
        """The image's faces, in the coordinates of its full-resolution picture."""
        return found_at_full_scale(detect_faces(self.detector, image.rgb, self.profile.detector,
                                                self.settings.detect_max_side), image)

    def crops(self, image: LoadedImage, faces: list[DetectedFace]) -> dict[CropSpec, np.ndarray]:
        specs = {e.crop for e in self.encoders}
        image = detailed_enough(image, faces, max(spec.size for spec in specs))
        out = {}
        for spec in specs:
            out[spec] = np.stack([align_at_scale(image, f.landmarks, spec) for f in faces]) if faces else \
                np.zeros((0, spec.size, spec.size, 3), np.uint8)
        return out

    def align(self, image: LoadedImage, face: DetectedFace, spec: CropSpec = ARCFACE_CROP) -> np.ndarray:
        """One face of `image` aligned with `spec`, from a level with enough detail."""
        return aligned(image, face, spec)

    def embed_crops(self, crops: dict[CropSpec, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        fused, components, _norms = self._embed(crops)
        return fused, components

    def _embed(self, crops: dict[CropSpec, np.ndarray]):
        """(fused vectors, each component's vectors, the raw norms of the quality component or None)."""
        components, norms = {}, None
        for encoder in self.encoders:
            components[encoder.name], raw = encoder.embed(crops[encoder.crop], encoder.spec.flip)
            if norms is None and encoder.kind in NORM_KINDS:
                norms = (raw, self._norm_range(encoder))
        return self.layout.fuse(components), components, norms

    @staticmethod
    def _norm_range(encoder) -> tuple[float, float]:
        given = (encoder.spec.options or {}).get("norm_range")
        return (float(given[0]), float(given[1])) if given else NORM_RANGE[encoder.kind]

    def crop_image(self, image: LoadedImage, faces: list[DetectedFace] | None = None,
                   thumbnail_size: int = 0) -> CroppedImage:
        """Detect (unless the faces are given) and crop; the full-resolution image can go after."""
        faces = self.detect(image) if faces is None else faces
        thumbs = [encode_jpeg(thumbnail_crop(image.rgb, np.asarray(f.box) * image.scale, thumbnail_size))
                  for f in faces] if thumbnail_size else None
        return CroppedImage(image.path, image.size, faces, self.crops(image, faces), thumbs)

    def process(self, image: LoadedImage) -> ImageResult:
        return next(self.embed_cropped([self.crop_image(image)]))  # one image: the detector on every core

    def process_many(self, images: Iterable[LoadedImage]) -> Iterator[ImageResult]:
        """Detect and crop image by image (each image is released once cropped), then
        embed the crops of several images per encoder call."""
        pending: list[CroppedImage] = []
        count = 0
        for _, cropped in self.each_image(self.crop_image, images):
            pending.append(cropped)
            count += len(cropped.faces)
            if count >= self.settings.batch_size:
                yield from self.embed_cropped(pending)
                pending, count = [], 0
        yield from self.embed_cropped(pending)

    def embed_cropped(self, pending: list[CroppedImage]) -> Iterator[ImageResult]:
        """Embed the faces of several cropped images in one call per encoder."""
        if not pending:
            return
        specs = {e.crop for e in self.encoders}
        stacked = {s: np.concatenate([item.crops[s] for item in pending]) for s in specs}
        fused, components, norms = self._embed(stacked)
        quality_spec = ARCFACE_CROP if ARCFACE_CROP in specs else next(iter(specs))
        start = 0
        for item in pending:
            embedded = [EmbeddedFace(f, i, fused[start + i], {k: v[start + i] for k, v in components.items()},
                                     item.thumbnails[i] if item.thumbnails else None,
                                     face_quality(f.score, f.landmarks, item.crops[quality_spec][i],
                                                  None if norms is None else float(norms[0][start + i]),
                                                  None if norms is None else norms[1]))
                        for i, f in enumerate(item.faces)]
            yield ImageResult(item.path, item.size, embedded)
            start += len(item.faces)

    def load_many(self, paths: Iterable) -> Iterator[LoadedImage | ImageFailure]:
        for path in paths:
            try:
                yield self.load(path)
            except ImageLoadError as err:
                yield ImageFailure(str(path), err.reason)
