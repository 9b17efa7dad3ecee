"""`gallery train clip-lora` and `gallery train iresnet`: data, split, model, loop, saved weights.

Outputs go where the `artface` profile looks by default: `<weights_dir>/artface-clip-lora/`
(the adapter folder) and `<weights_dir>/iresnet100-tuned.pth`, each with a record of the base
weights, the settings, the sha256 of the training data and the validation figures.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from gallery.faces.align import ARCFACE_CROP, CropSpec
from gallery.faces.detection import build_detector, detect_faces
from gallery.core.errors import ConfigError
from gallery.config.profiles import EncoderSpec
from gallery.config.settings import Settings
from gallery.weights.store import PIN_SUFFIX, WeightStore
from gallery.training.data import Faces, faces_from_database, faces_from_folder, split
from gallery.training.loop import Progress, TrainConfig, TrainResult, train


class _Detector:
    """Only the profile's detector: training must not need the weights it is about to produce."""

    def __init__(self, settings: Settings, store: WeightStore):
        resolved = store.resolve(settings.profile.detector.weights)
        self.settings = settings
        self.model = build_detector(settings.profile.detector, resolved.path, "cpu")

    def detect(self, image):
        """As FacePipeline.detect: faces in full-resolution coordinates."""
        from gallery.faces.scaled import found_at_full_scale

        return found_at_full_scale(detect_faces(self.model, image.rgb, self.settings.profile.detector,
                                                self.settings.detect_max_side), image)

    def align(self, image, face, spec):
        """As FacePipeline.align."""
        from gallery.faces.scaled import aligned

        return aligned(image, face, spec)

    def load_many(self, paths):
        from gallery.faces.pipeline import FacePipeline

        return FacePipeline(self.settings).load_many(paths)


def _encoder(settings: Settings, kind: str, name_hint: str | None = None) -> EncoderSpec:
    specs = [s for s in settings.profile.encoders if s.kind == kind]
    for spec in specs:
        if name_hint and name_hint in spec.name:
            return spec
    if specs:
        return specs[0]
    default = {"clip": "clip-vit-b-16-openai", "iresnet100": "iresnet100-ms1mv3"}[kind]
    return EncoderSpec(kind, kind, default)


def collection_faces(settings: Settings, store: WeightStore, collection: Path | None, spec: CropSpec, on_image) -> Faces:
    """From a folder per sitter, or (collection None) from the database's confirmed faces."""
    if collection is not None:
        return faces_from_folder(_Detector(settings, store), collection, spec, on_image)
    from db.engine import open_database

    return faces_from_database(open_database(settings.database_url), spec, settings.max_pixels, on_image,
                               settings.quality_floor)


def training_record(faces: Faces, train_faces: Faces, val_faces: Faces, result: TrainResult, config: TrainConfig) -> dict:
    return {"data_sha256": faces.digest, "faces": len(faces.labels),
            "sitters_train": int(len(np.unique(train_faces.labels))),
            "sitters_validation": int(len(np.unique(val_faces.labels))),
            "steps": result.steps, "best_step": result.best_step, "validation_eer": result.best_eer,
            "history": result.history, "stopped_early": result.stopped_early, "config": asdict(config)}


def training_device(settings: Settings) -> str:
    from gallery.config.device import resolve_placement

    return resolve_placement(settings.device, settings.precision).device


def _unpin(path: Path) -> None:
    """A retrained file replaces the old one: drop the hash pinned for the previous version."""
    path.with_name(path.name + PIN_SUFFIX).unlink(missing_ok=True)


def train_clip_lora(settings: Settings, collection: Path | None, out: Path | None = None, config: TrainConfig | None = None,
                    lora=None, on_progress: Callable[[Progress], None] | None = None,
                    on_image: Callable[[], None] | None = None, stop_at: int | None = None) -> tuple[TrainResult, Path]:
    import torch

    from gallery.faces.encoders.adapter import LoraSettings
    from gallery.faces.encoders.clip_encoder import build_clip_visual

    config = config or TrainConfig()
    store = WeightStore(settings.weights_dir, offline=settings.offline)
    out = Path(out) if out else settings.weights_dir / "artface-clip-lora"
    spec = _encoder(settings, "clip")
    faces = collection_faces(settings, store, collection, CropSpec(224, float(spec.options.get("context", 1.5))), on_image)
    train_faces, val_faces = split(faces, config.validation, config.seed)
    base = store.resolve(spec.weights) if spec.weights else None
    from gallery.training.models import ClipLoraModel

    visual = build_clip_visual(base.path if base else None).float()
    torch.manual_seed(config.seed)  # the LoRA's initial values
    model = ClipLoraModel(visual, lora or LoraSettings())
    result = train(model, train_faces, val_faces, config, out / "training", on_progress, stop_at, training_device(settings))
    model.to("cpu")
    model.save(out, spec.weights, base.sha256 if base else None, training_record(faces, train_faces, val_faces, result, config))
    _unpin(out)
    return result, out


def train_iresnet(settings: Settings, collection: Path | None, out: Path | None = None, config: TrainConfig | None = None,
                  init: str = "base", frozen_stages: int = 2, on_progress: Callable[[Progress], None] | None = None,
                  on_image: Callable[[], None] | None = None) -> tuple[TrainResult, Path]:
    import torch

    from gallery.faces.encoders.iresnet import IResNet
    from gallery.faces.encoders.iresnet_io import load_state_dict_file
    from gallery.training.models import IResNetModel

    if init not in ("base", "random"):
        raise ConfigError(f"--init must be 'base' or 'random', got {init!r}")
    config = config or TrainConfig()
    store = WeightStore(settings.weights_dir, offline=settings.offline)
    folder = Path(out) if out else settings.weights_dir
    spec = _encoder(settings, "iresnet100", "base")
    depth = int(spec.options.get("depth", 100))
    faces = collection_faces(settings, store, collection, ARCFACE_CROP, on_image)
    train_faces, val_faces = split(faces, config.validation, config.seed)
    base = store.resolve(spec.weights) if init == "base" and spec.weights else None
    if base is not None:
        net = load_state_dict_file(Path(base.path), depth)
    else:
        torch.manual_seed(config.seed)
        net = IResNet(depth)
    model = IResNetModel(net.float(), frozen_stages)
    result = train(model, train_faces, val_faces, config, folder / "iresnet100-tuned.training", on_progress,
                   device=training_device(settings))
    model.to("cpu")
    path = model.save(folder / "iresnet100-tuned.pth")
    record = training_record(faces, train_faces, val_faces, result, config) | {
        "base_weights": spec.weights if base else None, "base_sha256": base.sha256 if base else None,
        "depth": depth, "frozen_stages": frozen_stages}
    (folder / "iresnet100-tuned.json").write_text(json.dumps(record, indent=2) + "\n")
    _unpin(path)
    return result, path
