"""CLIP ViT-B/16 image encoder (open_clip), optionally with a LoRA adapter + head.

Weights: the OpenAI TorchScript archive (registry `clip-vit-b-16-openai`) or
an open_clip state dict file; none = random initialisation (tests).
Options: `context` (aligned-crop context factor, default 1.5, see align.py),
`model` (open_clip architecture, default ViT-B-16).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from gallery.faces.align import CropSpec
from gallery.weights.registry import CLIP_PREPROCESSING
from gallery.faces.encoders.base import TorchEncoder

CLIP_ARCH = "ViT-B-16"


def build_clip_visual(weights: Path | None, arch: str = CLIP_ARCH, seed: int = 0):
    """The CLIP vision tower in fp32 on CPU."""
    import open_clip
    import torch

    if weights is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return open_clip.create_model(arch, pretrained=None, force_quick_gelu=True).visual
    if _is_torchscript(weights):
        from open_clip.openai import load_openai_model

        return load_openai_model(str(weights), precision="fp32", device="cpu").visual
    model = open_clip.create_model(arch, pretrained=None, force_quick_gelu=True)
    open_clip.load_checkpoint(model, str(weights))
    return model.visual


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(name.endswith("constants.pkl") for name in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


class ClipEncoder(TorchEncoder):
    kind = "clip"
    preprocessing = CLIP_PREPROCESSING

    @property
    def crop(self) -> CropSpec:
        return CropSpec(224, float(self.spec.options.get("context", 1.5)))

    def _build(self):
        from torch import nn

        from gallery.faces.encoders.adapter import load_adapter

        arch = str(self.spec.options.get("model", CLIP_ARCH))
        weights = self.resolve(self.spec.weights).path if self.spec.weights else None
        visual = build_clip_visual(weights, arch, int(self.spec.options.get("seed", 0)))
        if not self.spec.adapter:
            return visual
        folder = self.resolve(self.spec.adapter).path
        merged, head = load_adapter(folder, visual, visual.output_dim)
        return nn.Sequential(merged, head)  # vision tower, then the projection head
