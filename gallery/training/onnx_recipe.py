"""`gallery train onnx-lora`: the profile's ONNX recogniser adapted with LoRA on the collection.

Writes to the output folder:
  recogniser.onnx    the adapted recogniser (the base graph with the merged weights)
  adaptation.json    provenance: the base weights and their sha256, the adapted file's sha256, the
                     training data's sha256, the settings, the validation history, the export check
  profile.toml       the profile it came from with this encoder's weights set to recogniser.onnx:
                     `gallery index --config OUT/profile.toml` builds the adapted embedding set
  training/          the checkpoint a rerun resumes from
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

from gallery.config.profiles import EncoderSpec, profile_toml
from gallery.config.settings import Settings, file_scalars
from gallery.core.errors import ConfigError, ModelError
from gallery.core.files import write_atomically
from gallery.faces.align import CropSpec
from gallery.training.data import split
from gallery.training.loop import Progress, TrainConfig, TrainResult, _to_tensor, train
from gallery.training.onnx_lora import (EXPORT_TOLERANCE, OnnxLoraModel, OnnxLoraSettings, check_against_onnx,
                                        convert, write_merged)
from gallery.training.recipes import collection_faces, training_device, training_record
from gallery.weights.hashing import sha256_path
from gallery.weights.store import WeightStore

ADAPTED = "recogniser.onnx"
RECORD = "adaptation.json"
PROFILE = "profile.toml"


def onnx_encoder(settings: Settings, name: str | None) -> EncoderSpec:
    """The profile's ONNX recogniser called `name` (or its only one)."""
    encoders = settings.profile.encoders
    if name:
        spec = next((e for e in encoders if e.name == name), None)
        if spec is None:
            raise ConfigError(f"profile '{settings.profile.name}' has no encoder '{name}'; "
                              f"its encoders: {', '.join(e.name for e in encoders)}")
        if spec.kind != "onnx":
            raise ConfigError(f"encoder '{name}' is a {spec.kind} encoder, not an ONNX recogniser; onnx-lora adapts "
                              f"encoders of kind \"onnx\" (use `gallery train clip-lora` or `gallery train iresnet`)")
        return spec
    onnx = [e for e in encoders if e.kind == "onnx"]
    if len(onnx) != 1:
        raise ConfigError(f"profile '{settings.profile.name}' has {len(onnx)} ONNX recognisers "
                          f"({', '.join(e.name for e in onnx) or 'none'}); name one with --encoder")
    return onnx[0]


def layers(settings: Settings, encoder: str | None = None, targets: str = "dense") -> list[tuple[str, str, bool]]:
    """The recogniser's convolution and linear layers: (name, description, whether `targets` picks it)."""
    from gallery.training.onnx_lora import adaptable_layers, target_layers

    net = _converted(settings, WeightStore(settings.weights_dir, offline=settings.offline), encoder)[2].net
    chosen = set(target_layers(net, targets))
    return [(name, text, name in chosen) for name, text in adaptable_layers(net).items()]


def _converted(settings: Settings, store: WeightStore, encoder: str | None):
    """(the encoder's spec, its resolved base weights, the recogniser converted to torch)."""
    spec = onnx_encoder(settings, encoder)
    base = store.resolve(spec.weights)
    return spec, base, convert(Path(base.path), f"encoder '{spec.name}'")


def train_onnx_lora(settings: Settings, collection: Path | None, out: Path, config: TrainConfig | None = None,
                    lora: OnnxLoraSettings | None = None, encoder: str | None = None,
                    on_progress: Callable[[Progress], None] | None = None,
                    on_image: Callable[[], None] | None = None, stop_at: int | None = None) -> tuple[TrainResult, Path]:
    import torch

    config, lora = config or TrainConfig(), lora or OnnxLoraSettings()
    store = WeightStore(settings.weights_dir, offline=settings.offline)
    spec, base, converted = _converted(settings, store, encoder)
    out = Path(out)
    faces = collection_faces(settings, store, collection, CropSpec(converted.size, 1.0), on_image)
    train_faces, val_faces = split(faces, config.validation, config.seed)
    options = spec.options
    torch.manual_seed(config.seed)  # the adapters' initial values
    model = OnnxLoraModel(converted, lora, float(options.get("mean", 127.5)), float(options.get("std", 127.5)),
                          str(options.get("channel_order", "RGB")).upper() == "BGR")
    result = train(model, train_faces, val_faces, config, out / "training", on_progress, stop_at,
                   training_device(settings))
    model.to("cpu")
    net, head = model.merge()
    adapted = write_merged(converted, net, head, model.targets)
    with torch.no_grad():
        probe = model.network_input(_to_tensor(val_faces.crops[:16])).numpy()
    largest = check_against_onnx(net, head, adapted, converted.size, crops=probe)
    if largest > EXPORT_TOLERANCE:
        raise ModelError(f"the exported recogniser gives other vectors than the trained one (largest difference "
                         f"{largest:.2e} > {EXPORT_TOLERANCE}); nothing was written")
    path = write_atomically(out / ADAPTED, adapted)
    record = training_record(faces, train_faces, val_faces, result, config) | {
        "recipe": "onnx-lora", "encoder": spec.name, "base_weights": str(base.path), "base_sha256": base.sha256,
        "sha256": sha256_path(path), "lora": asdict(lora), "layers": model.targets,
        "trainable_parameters": int(sum(p.numel() for p in model.parameters())),
        "export_check": {"crops": int(len(probe)), "largest_difference": largest, "tolerance": EXPORT_TOLERANCE,
                         "batch_free": converted.batch_free},
        "training_seconds": result.seconds,
        "faces_per_second": ((result.steps - result.resumed_from) * config.p * config.k / result.seconds
                             if result.seconds else None),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (out / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    _write_profile(settings, spec, out)
    return result, path


def _write_profile(settings: Settings, spec: EncoderSpec, out: Path) -> Path:
    profile = settings.profile
    encoders = tuple(replace(e, weights=ADAPTED) if e.name == spec.name else e for e in profile.encoders)
    adapted = replace(profile, name=f"{profile.name}-adapted", encoders=encoders)
    note = (f"Written by `gallery train onnx-lora`: profile '{profile.name}' with encoder '{spec.name}' adapted\n"
            f"({ADAPTED} beside this file; how it was made: {RECORD}).\n"
            f"Index with it: gallery index --config {out / PROFILE}")
    path = out / PROFILE
    path.write_text(profile_toml(adapted, file_scalars(settings), note))
    return path

