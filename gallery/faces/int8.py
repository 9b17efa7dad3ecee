"""int8 on CPUs: which models of a pipeline run quantized, and calibrating them on the
collection's own pictures.

`precision = "int8"` runs the detector (SCRFD), the ONNX recognisers and IResNet100 (written out as
ONNX) in their int8 forms (gallery.faces.quantize), and CLIP with dynamically quantized linear
layers. A model's int8 form is made once per weights file: calibrated on up to `int8_pictures` of the
collection's pictures (the detector on their detection inputs, each recogniser on their aligned
faces), a fifth of them held out to check it against fp32, and cached beside the weights with its
checksum and what the check measured (gallery.weights.derived). `auto` on a CPU runs a model in
int8 only where that check found it keeps fp32's answers; it never calibrates by itself.

Which pictures: the caller's (`FacePipeline.calibration`): the files being indexed or embedded,
then pictures already in the collection. Without any, asking for int8 is a ConfigError that says
how to calibrate (`gallery weights quantize`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Iterable

import numpy as np

from gallery.core.errors import ConfigError, ImageLoadError
from gallery.faces.detection import ScrfdDetector
from gallery.faces.quantize import KIND

log = logging.getLogger(__name__)

HELD_OUT_EVERY = 5  # every fifth picture checks the int8 form instead of calibrating it
MAX_DETECTOR_INPUTS = 200  # detection inputs kept for the detector's calibration (tiles included)


@dataclass(frozen=True)
class Calibrated:
    """One model's int8 form as calibrated and checked, for the command's report."""

    role: str  # "detector" or the encoder's name
    path: Path | None  # the cached file (None: the cache could not be written)
    measured: dict

    @property
    def kept(self) -> bool:
        return bool(self.measured.get("kept"))

    def to_json(self) -> dict:
        return {"model": self.role, "file": str(self.path) if self.path else None, **self.measured}


def calibrate(pipeline, pictures: Iterable, count: int, again: bool = False) -> list[Calibrated]:
    """Calibrate the pipeline's models that need an int8 form (all of them with `again`) on up
    to `count` of `pictures` (paths or bytes), check each against fp32 on the held-out fifth, cache
    and run it. Returns what was made. Pictures are read one at a time: only their detection
    inputs and aligned faces are kept."""
    detector = pipeline.detector
    scrfd = detector.model if isinstance(detector, ScrfdDetector) else None
    encoders = [e for e in pipeline.encoders if hasattr(e, "use_int8") and (again or e.int8_needed)]
    det_wanted = scrfd is not None and (again or pipeline.detector_int8_needed)
    if not encoders and not det_wanted:
        return []
    names = (["detector"] if det_wanted else []) + [e.name for e in encoders]
    seen = _Seen({e.crop for e in encoders})
    if scrfd is not None:
        scrfd.record = []
    try:
        for source in islice(pictures, count * 2):  # room for pictures that do not load
            seen.add(pipeline, source, scrfd)
            if seen.pictures >= count:
                break
    finally:
        blobs = scrfd.record if scrfd is not None else []
        if scrfd is not None:
            scrfd.record = None
    if seen.pictures < 2 * HELD_OUT_EVERY:
        raise ConfigError(
            f"int8 needs pictures of the collection to calibrate {', '.join(names)} on, and found "
            f"{seen.pictures} that load; index or embed in fp32 first, or calibrate on a folder of the collection's "
            "pictures: gallery weights quantize --pictures DIR")
    log.info("calibrating int8 %s on %d pictures (%d held out)", ", ".join(names), seen.pictures,
             len(seen.held_sources))
    made = [_encoder(pipeline, encoder, seen) for encoder in encoders]
    if det_wanted:
        made.insert(0, _detector(pipeline, scrfd, blobs, seen))
    for item in made:
        if not item.kept and pipeline.placement.precision == "int8":
            log.warning("the int8 %s does not keep fp32's answers on this collection (%s); it runs as asked, "
                        "`auto` leaves it in fp32", item.role, item.measured)
    return made


class _Seen:
    """What calibration keeps of the pictures it reads: each crop size's aligned faces, for
    calibrating (`taught`) and for checking (`checked`, every fifth picture), and the held-out
    pictures' sources and fp32 faces, for checking the detector."""

    def __init__(self, specs):
        self.specs = specs
        self.taught = {spec: [] for spec in specs}
        self.checked = {spec: [] for spec in specs}
        self.held_sources, self.held_faces = [], []
        self.pictures = 0

    def add(self, pipeline, source, scrfd) -> None:
        try:
            image = pipeline.load(source)
        except (ImageLoadError, OSError):
            return
        held = self.pictures % HELD_OUT_EVERY == 0
        start = len(scrfd.record) if scrfd is not None else 0
        faces = pipeline.detect(image)
        if held and scrfd is not None:
            del scrfd.record[start:]  # the detector is calibrated on the other pictures' inputs only
        if faces and self.specs:
            crops = pipeline.crops(image, faces)
            for spec in self.specs:
                (self.checked if held else self.taught)[spec].append(crops[spec])
        if held:
            self.held_sources.append(source)
            self.held_faces.append(faces)
        self.pictures += 1

    def faces(self, spec, held: bool) -> np.ndarray:
        parts = (self.checked if held else self.taught)[spec]
        return np.concatenate(parts) if parts else np.zeros((0, spec.size, spec.size, 3), np.uint8)


def _encoder(pipeline, encoder, seen: _Seen) -> Calibrated:
    taught = seen.faces(encoder.crop, held=False)
    if not len(taught):
        raise ConfigError(f"int8 calibration of encoder '{encoder.name}' found no faces in {seen.pictures} pictures")
    return calibrate_encoder(encoder, taught, seen.faces(encoder.crop, held=True), pipeline.store.root / "derived",
                             pipeline.placement.device, {"pictures": seen.pictures - len(seen.held_sources)})


def calibrate_encoder(encoder, taught: np.ndarray, checked: np.ndarray, cache: Path, device: str,
                      calibrated_on: dict) -> Calibrated:
    """Quantize one encoder (an ONNX recogniser or IResNet100) on the aligned faces `taught` (N x S x
    S x 3 uint8), check it against fp32 on `checked`, cache it under `cache` and run it from now on."""
    from gallery.faces.onnx_runtime import open_session, providers_for
    from gallery.faces.quantize import METHOD, quantize_int8, vector_check
    from gallery.weights.derived import remember

    taught, checked = encoder.inputs(taught), encoder.inputs(checked)
    model = quantize_int8(encoder.int8_source, [{encoder.input_name: taught[i:i + 1]} for i in range(len(taught))])
    session = open_session(model, providers_for(device), f"encoder '{encoder.name}' (int8)")
    measured = {"faces": 0, "kept": False}
    if len(checked):
        measured = vector_check(encoder.fp32_outputs(checked), encoder.run(session, checked))
    measured.update(calibrated_on={**calibrated_on, "faces": len(taught)})
    derived = remember(cache, encoder.sha256, KIND, model, METHOD, measured)
    encoder.use_int8(session, derived)
    return Calibrated(encoder.name, derived.path, measured)


def _detector(pipeline, scrfd, blobs, seen: _Seen) -> Calibrated:
    from gallery.faces.onnx_runtime import open_session, providers_for
    from gallery.faces.quantize import METHOD, detection_check, quantize_int8
    from gallery.weights.derived import remember

    step = max(1, len(blobs) // MAX_DETECTOR_INPUTS)
    feeds = [{scrfd.input_name: blob} for blob in blobs[::step][:MAX_DETECTOR_INPUTS]]
    source = pipeline.store.resolve(pipeline.profile.detector.weights)
    model = quantize_int8(source.path, feeds)
    scrfd.session = open_session(model, providers_for(pipeline.placement.device), "detector (int8)")
    measured = detection_check(seen.held_faces, [pipeline.detect(pipeline.load(s)) for s in seen.held_sources])
    measured.update(calibrated_on={"pictures": seen.pictures - len(seen.held_sources), "inputs": len(feeds)})
    derived = remember(pipeline.store.root / "derived", source.sha256, KIND, model, METHOD, measured)
    pipeline.detector_int8 = derived
    pipeline.detector_int8_needed = False
    return Calibrated("detector", derived.path, measured)
