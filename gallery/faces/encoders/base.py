"""The encoder interface and the shared torch machinery.

An encoder is cheap to construct; `load()` finds the weights (through the
weights store) and builds the network once; `encode()` calls `load()` when
needed. Input: N aligned RGB uint8 crops of the encoder's CropSpec. Output:
N x D float32, L2-normalised.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from gallery.faces.align import CropSpec
from gallery.config.device import Placement
from gallery.core.errors import ModelError
from gallery.config.profiles import EncoderSpec
from gallery.weights.registry import Preprocessing
from gallery.weights.store import ResolvedWeights, WeightStore


@dataclass(frozen=True)
class EncoderInfo:
    """What produced a vector: for reports, the database and reproducibility."""

    name: str
    kind: str
    dim: int
    weights: dict[str, str] = field(default_factory=dict)  # reference -> sha256
    device: str = "cpu"
    precision: str = "fp32"
    int8_sha256: str = ""  # in int8: the sha256 of the quantized model run (its record says how it was calibrated)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class Encoder(ABC):
    kind: str = ""

    def __init__(self, spec: EncoderSpec, store: WeightStore):
        self.spec = spec
        self.store = store
        self._weights: dict[str, ResolvedWeights] = {}

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    @abstractmethod
    def crop(self) -> CropSpec: ...

    @abstractmethod
    def load(self) -> None: ...

    @abstractmethod
    def _encode(self, crops: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def info(self) -> EncoderInfo: ...

    def resolve(self, ref: str) -> ResolvedWeights:
        if ref not in self._weights:
            self._weights[ref] = self.store.resolve(ref)
        return self._weights[ref]

    def weight_hashes(self) -> dict[str, str]:
        return {ref: w.sha256 for ref, w in self._weights.items()}

    def encode(self, crops: np.ndarray) -> np.ndarray:
        return self.embed(crops)[0]

    def embed(self, crops: np.ndarray, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(L2-normalised vectors, the norms of the raw embeddings: for ArcFace-style networks a
        known recognisability signal, used by gallery.faces.quality). With `flip`, each crop and its
        mirror are embedded and the raw embeddings averaged before normalisation."""
        crops = np.asarray(crops)
        size = self.crop.size
        if crops.ndim != 4 or crops.shape[1:] != (size, size, 3) or crops.dtype != np.uint8:
            raise ModelError(
                f"encoder '{self.name}' takes N x {size} x {size} x 3 uint8 crops, got {crops.shape} {crops.dtype}"
            )
        if len(crops) == 0:
            return np.zeros((0, self.info().dim), np.float32), np.zeros(0, np.float32)
        self.load()
        raw = np.asarray(self._encode(crops), np.float32)
        if flip:
            raw = (raw + np.asarray(self._encode(np.ascontiguousarray(crops[:, :, ::-1])), np.float32)) / 2
        return l2_normalise(raw), np.linalg.norm(raw, axis=1)


def nchw_inputs(crops: np.ndarray, mean, std, channel_order: str = "RGB") -> np.ndarray:
    """A network's float32 N x 3 x S x S input for N x S x S x 3 uint8 RGB crops, as onnxruntime
    takes it: in `channel_order`, less `mean`, over `std` (on the 0-255 scale, one value or one per
    channel in that order)."""
    x = crops.astype(np.float32)
    if channel_order.upper() == "BGR":
        x = x[..., ::-1]
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def dynamic_int8(model):
    """`model` with its linear layers quantized dynamically to int8 (weights int8 per tensor,
    activations quantized per batch as they come): fbgemm's int8 kernels for the matrix products
    that make most of a ViT's work; convolutions stay fp32. CLIP ViT-B/16 at batch 8 on 2 cores
    (AVX512-VNNI): 11.7 against 6.0 faces/s in fp32, cosine to fp32 0.9998 (benchmarks/int8.py).
    The attention's input projection is a bare parameter of nn.MultiheadAttention and stays fp32.
    torch marks its quantized tensors deprecated in favour of torchao; this path warns of that, so
    the warning is silenced here (tests/test_int8.py fails the day the path itself goes)."""
    import warnings

    import torch
    from torch import nn

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*deprecated", category=UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


class TorchEncoder(Encoder):
    """An encoder whose network is a torch module."""

    preprocessing: Preprocessing
    quantizes_linear_layers = True  # in int8: its linear layers quantized dynamically (`dynamic_int8`)

    def __init__(self, spec: EncoderSpec, store: WeightStore, placement: Placement, batch_size: int = 32):
        super().__init__(spec, store)
        self.placement = placement
        self.batch_size = batch_size
        self._model = None
        self._dim: int | None = None

    @abstractmethod
    def _build(self):
        """Return the torch module (fp32, on CPU, eval mode)."""

    def load(self) -> None:
        if self._model is not None:
            return
        import torch

        model = self._build().eval()
        for param in model.parameters():
            param.requires_grad_(False)
        model = model.to(device=self.placement.device, dtype=self.placement.torch_dtype)
        if self.placement.device == "cpu":
            model = model.to(memory_format=torch.channels_last)
        if self.placement.precision == "int8" and self.quantizes_linear_layers:
            model = dynamic_int8(model)
        self._model = model

    @property
    def module(self):
        self.load()
        return self._model

    def to_tensor(self, crops: np.ndarray):
        import torch

        pre = self.preprocessing
        # the uint8 pixels go to the device (a quarter of float32's bytes to a GPU), and are scaled
        # and normalised there; NCHW over channels-last memory, as the networks take them
        x = torch.from_numpy(crops).to(self.placement.device).permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
        if pre.channel_order == "BGR":
            x = x.flip(1)
        mean, std = (torch.tensor(v, device=x.device).view(1, 3, 1, 1) for v in (pre.mean, pre.std))
        x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
        return x.to(dtype=self.placement.torch_dtype)

    def _encode(self, crops: np.ndarray) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(crops), self.batch_size):
                batch = self.to_tensor(crops[start:start + self.batch_size])
                out.append(self._model(batch).float().cpu().numpy())
        result = np.concatenate(out)
        self._dim = result.shape[1]
        return result

    def info(self) -> EncoderInfo:
        return EncoderInfo(self.name, self.kind, self._dim or self.output_dim, self.weight_hashes(),
                           self.placement.device, self.placement.precision)

    @property
    def output_dim(self) -> int:
        return 512
