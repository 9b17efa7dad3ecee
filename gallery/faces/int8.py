"""int8 on CPUs: which ONNX models of a pipeline run quantized, and calibrating them on the
collection's own pictures.

`precision = "int8"` runs the detector (SCRFD) and the ONNX recognisers in their int8 forms
(gallery.faces.quantize) and the torch encoders with dynamically quantized linear layers. An ONNX
model's int8 form is made once per weights file: calibrated on up to `int8_pictures` of the
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
    """Calibrate the pipeline's ONNX models that need an int8 form (all of them with `again`) on up
    to `count` of `pictures` (paths or bytes), check each against fp32 on the held-out fifth, cache
    and run it. Returns what was made."""
    detector = pipeline.detector
    scrfd = detector.model if isinstance(detector, ScrfdDetector) else None
    encoders = [e for e in pipeline.encoders if hasattr(e, "use_int8") and (again or e.int8_needed)]
    det_wanted = scrfd is not None and (again or pipeline.detector_int8_needed)
    if not encoders and not det_wanted:
        return []
    names = (["detector"] if det_wanted else []) + [e.name for e in encoders]
    images = _loaded(pipeline, pictures, count)
    if len(images) < 2 * HELD_OUT_EVERY:
        raise ConfigError(
            f"int8 needs pictures of the collection to calibrate {', '.join(names)} on, and found "
            f"{len(images)} that load; index or embed in fp32 first, or calibrate on a folder of the collection's "
            "pictures: gallery weights quantize --pictures DIR")
    held = images[::HELD_OUT_EVERY]
    calibration = [image for i, image in enumerate(images) if i % HELD_OUT_EVERY]
    log.info("calibrating int8 %s on %d pictures (%d held out)", ", ".join(names), len(calibration), len(held))
    if scrfd is not None:
        scrfd.record = []
    try:
        faces = [pipeline.detect(image) for image in calibration]
    finally:
        blobs = scrfd.record if scrfd is not None else []
        if scrfd is not None:
            scrfd.record = None
    held_faces = [pipeline.detect(image) for image in held]
    made = [_encoder(pipeline, encoder, calibration, faces, held, held_faces, len(images)) for encoder in encoders]
    if det_wanted:
        made.insert(0, _detector(pipeline, scrfd, blobs, held, held_faces, len(images)))
    for item in made:
        if not item.kept and pipeline.placement.precision == "int8":
            log.warning("the int8 %s does not keep fp32's answers on this collection (%s); it runs as asked, "
                        "`auto` leaves it in fp32", item.role, item.measured)
    return made


def _loaded(pipeline, pictures: Iterable, count: int) -> list:
    images = []
    for source in islice(pictures, count * 2):  # room for pictures that do not load
        try:
            images.append(pipeline.load(source))
        except (ImageLoadError, OSError):
            continue
        if len(images) >= count:
            break
    return images


def _encoder(pipeline, encoder, calibration, faces, held, held_faces, pictures: int) -> Calibrated:
    from gallery.faces.onnx_runtime import open_session, providers_for
    from gallery.faces.quantize import METHOD, quantize_int8, vector_check
    from gallery.weights.derived import remember

    def crops(images, found):
        parts = [pipeline.crops(image, f)[encoder.crop] for image, f in zip(images, found) if f]
        return np.concatenate(parts) if parts else np.zeros((0, encoder.crop.size, encoder.crop.size, 3), np.uint8)

    taught, checked = encoder.inputs(crops(calibration, faces)), encoder.inputs(crops(held, held_faces))
    if not len(taught):
        raise ConfigError(f"int8 calibration of encoder '{encoder.name}' found no faces in {pictures} pictures")
    providers = providers_for(pipeline.placement.device)
    what = f"encoder '{encoder.name}'"
    model = quantize_int8(encoder.int8_source, [{encoder.input_name: taught[i:i + 1]} for i in range(len(taught))])
    session = open_session(model, providers, what + " (int8)")
    fp32 = open_session(encoder.int8_source, providers, what)
    measured = vector_check(encoder.run(fp32, checked), encoder.run(session, checked)) if len(checked) else \
        {"faces": 0, "kept": False}
    measured.update(calibrated_on={"pictures": len(calibration), "faces": len(taught)})
    derived = remember(pipeline.store.root / "derived", encoder.sha256, KIND, model, METHOD, measured)
    encoder.use_int8(session, derived)
    return Calibrated(encoder.name, derived.path, measured)


def _detector(pipeline, scrfd, blobs, held, held_faces, pictures: int) -> Calibrated:
    from gallery.faces.onnx_runtime import open_session, providers_for
    from gallery.faces.quantize import METHOD, detection_check, quantize_int8
    from gallery.weights.derived import remember

    step = max(1, len(blobs) // MAX_DETECTOR_INPUTS)
    feeds = [{scrfd.input_name: blob} for blob in blobs[::step][:MAX_DETECTOR_INPUTS]]
    source = pipeline.store.resolve(pipeline.profile.detector.weights)
    model = quantize_int8(source.path, feeds)
    fp32_session = scrfd.session
    scrfd.session = open_session(model, providers_for(pipeline.placement.device), "detector (int8)")
    measured = detection_check(held_faces, [pipeline.detect(image) for image in held])
    measured.update(calibrated_on={"pictures": pictures - len(held), "inputs": len(feeds)})
    derived = remember(pipeline.store.root / "derived", source.sha256, KIND, model, METHOD, measured)
    del fp32_session
    pipeline.detector_int8 = derived
    pipeline.detector_int8_needed = False
    return Calibrated("detector", derived.path, measured)
