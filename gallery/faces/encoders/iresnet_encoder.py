"""The IResNet100 ArcFace encoder (base or tuned weights)."""

from __future__ import annotations

from pathlib import Path

from gallery.faces.align import ARCFACE_CROP, CropSpec
from gallery.weights.registry import ARCFACE_PREPROCESSING
from gallery.faces.encoders.base import TorchEncoder


class IResNetEncoder(TorchEncoder):
    kind = "iresnet100"
    preprocessing = ARCFACE_PREPROCESSING

    @property
    def crop(self) -> CropSpec:
        return ARCFACE_CROP

    def _build(self):
        import torch

        from gallery.faces.encoders.iresnet import IResNet
        from gallery.faces.encoders.iresnet_io import import_onnx, load_state_dict_file

        depth = int(self.spec.options.get("depth", 100))
        if self.spec.weights is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(self.spec.options.get("seed", 0)))
                return IResNet(depth)
        path = Path(self.resolve(self.spec.weights).path)
        if path.suffix.lower() == ".onnx":
            return import_onnx(path, depth)
        return load_state_dict_file(path, depth)
