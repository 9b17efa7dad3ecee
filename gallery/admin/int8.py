"""`gallery weights quantize`: calibrate the profile's ONNX models and IResNet100 networks in int8
on the collection's own pictures (or a folder of them), check each against fp32 and cache it
(gallery.faces.int8)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from db.collection import calibration_pictures
from gallery.config.settings import Settings
from gallery.core.errors import ConfigError
from gallery.faces.int8 import Calibrated, calibrate


def quantize_models(settings: Settings, pictures: Path | None = None) -> list[Calibrated]:
    """Make the int8 forms of the profile's ONNX models and IResNet100 networks afresh: calibrated on
    the pictures of the folder `pictures` (its images spread over it in name order) or else on the
    collection's, up to `int8_pictures`. Nothing to quantize (no such model in the profile) is a
    ConfigError."""
    from gallery.faces.batch import collect_images
    from gallery.faces.pipeline import FacePipeline

    pipeline = FacePipeline(dataclasses.replace(settings, precision="fp32"))
    if pictures is not None:
        found = collect_images([str(pictures)])
        source = found[::max(1, len(found) // settings.int8_pictures)]
    else:
        source = calibration_pictures(settings.database_url, settings.int8_pictures)()
    made = calibrate(pipeline, iter(source), settings.int8_pictures, again=True)
    if not made:
        raise ConfigError(f"profile '{settings.profile.name}' has no model to calibrate for int8 (SCRFD, an ONNX "
                          "recogniser or IResNet100); CLIP's linear layers are quantized as it loads with --precision int8")
    return made
