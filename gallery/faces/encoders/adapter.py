"""The CLIP LoRA adapter: settings, attaching it, and its on-disk format.

Defaults (the ArtFace paper gives ~1 M trainable parameters, not the layout):
LoRA rank 16, alpha 32, on the whole attention module (`attn`, an
nn.MultiheadAttention) of all 12 vision blocks. peft adapts the fused
in-projection and the out-projection of each; 884,736 parameters. A LoRA on
`out_proj` alone would never train: nn.MultiheadAttention reads that weight
directly instead of calling the submodule. Plus a linear projection head
512 -> 512 (262,656 parameters) trained with the triplet loss; ~1.15 M in all.

On disk, an adapter is a folder:
  adapter.json               format, base model and weights (+ sha256), LoRA
                             and head settings, sha256 of each file below,
                             training record (written by `gallery train`)
  adapter_config.json        \ peft's own save_pretrained output
  adapter_model.safetensors  /
  head.safetensors           the projection head ("weight", "bias")
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gallery.core.errors import ModelError
from gallery.weights.hashing import sha256_file

FORMAT = "portrait-gallery/clip-lora"
FORMAT_VERSION = 1
MANIFEST = "adapter.json"
HEAD_FILE = "head.safetensors"
DEFAULT_TARGETS = r".*transformer\.resblocks\.\d+\.attn"


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.1
    target_modules: str = DEFAULT_TARGETS  # regex on module names of the vision tower
    head_dim: int = 512  # projection head output; 0 = no head

    def peft_config(self):
        from peft import LoraConfig

        return LoraConfig(r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=self.target_modules, bias="none")


@dataclass(frozen=True)
class AdapterManifest:
    base_model: str
    base_weights: str | None
    base_weights_sha256: str | None
    lora: LoraSettings
    embed_dim: int  # CLIP image embedding size the head takes
    files: dict[str, str] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT
    version: int = FORMAT_VERSION


def make_head(embed_dim: int, settings: LoraSettings):
    from torch import nn

    return nn.Linear(embed_dim, settings.head_dim) if settings.head_dim else nn.Identity()


def attach_lora(visual, settings: LoraSettings):
    """Wrap a CLIP vision tower with a fresh, trainable LoRA adapter."""
    from peft import get_peft_model

    return get_peft_model(visual, settings.peft_config())


def save_adapter(folder: Path, peft_visual, head, manifest: AdapterManifest) -> Path:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    peft_visual.save_pretrained(str(folder))
    state = {k: v.detach().float().cpu().contiguous() for k, v in head.state_dict().items()}
    save_file(state, str(folder / HEAD_FILE))
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    payload = asdict(manifest) | {"files": files}
    (folder / MANIFEST).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return folder


def read_manifest(folder: Path) -> AdapterManifest:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ModelError(f"{folder} is not a CLIP adapter folder: {MANIFEST} is missing")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ModelError(f"{path} is not valid JSON: {err}") from err
    if raw.get("format") != FORMAT or raw.get("version") != FORMAT_VERSION:
        raise ModelError(f"{path}: format {raw.get('format')} v{raw.get('version')} is not {FORMAT} v{FORMAT_VERSION}")
    raw["lora"] = LoraSettings(**raw["lora"])
    return AdapterManifest(**raw)


def verify_files(folder: Path, manifest: AdapterManifest) -> None:
    for name, expected in manifest.files.items():
        path = Path(folder) / name
        if not path.is_file():
            raise ModelError(f"adapter {folder}: {name} is missing")
        if sha256_file(path) != expected:
            raise ModelError(f"adapter {folder}: {name} does not match its sha256 in {MANIFEST}; the copy is corrupt")


def load_adapter(folder: Path, visual, embed_dim: int):
    """Load LoRA + head onto `visual`; returns (merged visual, head), ready for inference."""
    from peft import PeftModel
    from safetensors.torch import load_file

    folder = Path(folder)
    manifest = read_manifest(folder)
    verify_files(folder, manifest)
    if manifest.embed_dim != embed_dim:
        raise ModelError(f"adapter {folder} was trained on a {manifest.embed_dim}-d CLIP, this one is {embed_dim}-d")
    merged = PeftModel.from_pretrained(visual, str(folder)).merge_and_unload()
    head = make_head(embed_dim, manifest.lora)
    if manifest.lora.head_dim:
        head.load_state_dict(load_file(str(folder / HEAD_FILE)))
    return merged, head
