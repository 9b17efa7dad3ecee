"""The two trainable models the loop drives: CLIP + LoRA + head, and IResNet with frozen stages."""

from __future__ import annotations

from pathlib import Path

from gallery.faces.encoders.adapter import AdapterManifest, LoraSettings, attach_lora, make_head, save_adapter
from gallery.weights.registry import ARCFACE_PREPROCESSING, CLIP_PREPROCESSING


def _normaliser(pre):
    import torch

    mean = torch.tensor(pre.mean).view(1, 3, 1, 1)
    std = torch.tensor(pre.std).view(1, 3, 1, 1)
    return lambda images: (images - mean.to(images.device)) / std.to(images.device)


class PeftHeadModel:
    """A network with peft LoRA adapters (`self.peft`) and a trainable head (`self.head`): what the
    loop needs of both LoRA recipes (CLIP, and any ONNX recogniser)."""

    peft: object
    head: object

    def parameters(self) -> list:
        return [p for p in self.peft.parameters() if p.requires_grad] + list(self.head.parameters())

    def to(self, device: str) -> None:
        self.peft.to(device)
        self.head.to(device)

    def train_mode(self, on: bool) -> None:
        self.peft.train(on)
        self.head.train(on)

    def state(self) -> dict:
        out = {f"lora.{n}": p for n, p in self.peft.named_parameters() if p.requires_grad}
        return out | {f"head.{n}": p for n, p in self.head.state_dict().items()}

    def load_state(self, state: dict) -> None:
        import torch

        params = dict(self.peft.named_parameters())
        with torch.no_grad():
            for key, value in state.items():
                if key.startswith("lora."):
                    params[key[5:]].copy_(value)
        self.head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})


class ClipLoraModel(PeftHeadModel):
    """The CLIP vision tower (frozen) with a trainable LoRA and projection head."""

    def __init__(self, visual, lora: LoraSettings):
        self.lora = lora
        self.embed_dim = visual.output_dim
        self.peft = attach_lora(visual, lora)
        self.head = make_head(self.embed_dim, lora)
        self.normalise = _normaliser(CLIP_PREPROCESSING)

    def embed(self, images):
        import torch.nn.functional as F

        return F.normalize(self.head(self.peft(self.normalise(images))), dim=1)

    def save(self, folder: Path, base_weights: str | None, base_sha256: str | None, record: dict) -> Path:
        manifest = AdapterManifest("ViT-B-16", base_weights, base_sha256, self.lora, self.embed_dim, training=record)
        return save_adapter(folder, self.peft, self.head, manifest)


class IResNetModel:
    """IResNet with its stem and first `frozen_stages` stages frozen (weights and BN statistics)."""

    def __init__(self, net, frozen_stages: int = 2):
        if not 0 <= frozen_stages <= 4:
            raise ValueError(f"frozen_stages must be 0-4, got {frozen_stages}")
        self.net = net
        self.frozen = [net.conv1, net.bn1, net.prelu] + [getattr(net, f"layer{i}") for i in range(1, frozen_stages + 1)]
        for module in self.frozen:
            for param in module.parameters():
                param.requires_grad_(False)
        self.normalise = _normaliser(ARCFACE_PREPROCESSING)

    def parameters(self) -> list:
        return [p for p in self.net.parameters() if p.requires_grad]

    def to(self, device: str) -> None:
        self.net.to(device)

    def train_mode(self, on: bool) -> None:
        self.net.train(on)
        for module in self.frozen:
            module.eval()

    def embed(self, images):
        import torch.nn.functional as F

        return F.normalize(self.net(self.normalise(images)), dim=1)

    def state(self) -> dict:
        frozen = {id(p) for m in self.frozen for p in list(m.parameters()) + list(m.buffers())}
        return {n: t for n, t in list(self.net.named_parameters()) + list(self.net.named_buffers())
                if id(t) not in frozen}

    def load_state(self, state: dict) -> None:
        self.net.load_state_dict(state, strict=False)

    def save(self, path: Path) -> Path:
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        torch.save(self.net.state_dict(), tmp)
        tmp.replace(path)
        return path
