"""The IResNet100 ArcFace encoder (base or tuned weights).

In int8 on a CPU the whole network runs as an ONNX model in onnxruntime's static int8 form, the
same form and the same check as the ONNX recognisers (gallery.faces.int8): written out from torch
(gallery.faces.encoders.onnx_export), calibrated on the collection's aligned faces, checked against
the fp32 network on the held-out fifth and cached beside the weights under the weights' sha256.
torch's dynamic quantization would reach only the final linear layer, a few percent of the work:
the convolutions are the rest (speed: benchmarks/encoder.py). A process that finds the int8 form
cached opens only it: no torch network is built. `auto` runs the int8 form where its check kept
fp32's answers and the CPU has no bf16; where it has, bf16 (26 faces/s at batch 1 and 39 at 32,
against int8's 30 and 35)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from gallery.faces.align import ARCFACE_CROP, CropSpec
from gallery.faces.encoders.base import EncoderInfo, TorchEncoder, nchw_inputs
from gallery.faces.quantize import int8_choice
from gallery.weights.derived import Derived
from gallery.weights.registry import ARCFACE_PREPROCESSING


class IResNetEncoder(TorchEncoder):
    kind = "iresnet100"
    preprocessing = ARCFACE_PREPROCESSING
    quantizes_linear_layers = False  # its int8 is the whole network's int8 form, below

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._session = None  # the int8 form's onnxruntime session, where that runs
        self.int8: Derived | None = None
        self.int8_needed = False  # int8 asked for and no calibrated form cached yet
        self.sha256 = ""  # the weights' (for a randomly initialised network: of its recipe)

    @property
    def crop(self) -> CropSpec:
        return ARCFACE_CROP

    @property
    def _depth(self) -> int:
        return int(self.spec.options.get("depth", 100))

    def _build(self):
        import torch

        from gallery.faces.encoders.iresnet import IResNet
        from gallery.faces.encoders.iresnet_io import import_onnx, load_state_dict_file

        if self.spec.weights is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(self.spec.options.get("seed", 0)))
                return IResNet(self._depth)
        path = Path(self.resolve(self.spec.weights).path)
        if path.suffix.lower() == ".onnx":
            return import_onnx(path, self._depth)
        return load_state_dict_file(path, self._depth)

    def load(self) -> None:
        if self._model is not None or self._session is not None:
            return
        if self.spec.weights is None:
            recipe = f"iresnet random init depth={self._depth} seed={int(self.spec.options.get('seed', 0))}"
            self.sha256 = hashlib.sha256(recipe.encode()).hexdigest()
        else:
            self.sha256 = self.resolve(self.spec.weights).sha256
        if self.placement.device == "cpu" and self.placement.precision != "bf16":
            # `auto` on a CPU with bf16 keeps bf16: as fast at batch 1, faster at 32, closer to fp32
            choice = int8_choice(self.placement, self.store.root / "derived", self.sha256)
            self.int8_needed = choice.needed
            if choice.model is not None:
                from gallery.faces.onnx_runtime import open_session, providers_for

                self.use_int8(open_session(choice.model.path, providers_for("cpu"), f"encoder '{self.name}' (int8)"),
                              choice.model)
                return
        super().load()

    # -- int8 (gallery.faces.int8 calibrates through these, as for an ONNX recogniser) ------------
    @property
    def int8_source(self) -> bytes:
        """The fp32 network as an ONNX model, built afresh on the CPU whatever this encoder runs on."""
        from gallery.faces.encoders.onnx_export import to_onnx

        return to_onnx(self._build().eval(), self.crop.size, f"encoder '{self.name}'")

    @property
    def input_name(self) -> str:
        from gallery.faces.encoders.onnx_export import INPUT

        return INPUT

    def inputs(self, crops: np.ndarray) -> np.ndarray:
        """The network's input for these uint8 crops (N x 3 x S x S float32), as `to_tensor` makes it."""
        pre = self.preprocessing
        return nchw_inputs(crops, np.multiply(pre.mean, 255.0), np.multiply(pre.std, 255.0), pre.channel_order)

    def run(self, session, x: np.ndarray) -> np.ndarray:
        from gallery.faces.onnx_runtime import run_session

        return run_session(session, self.input_name, x, self.batch_size)

    def fp32_outputs(self, x: np.ndarray) -> np.ndarray:
        """The torch network's raw outputs for the inputs `x`."""
        import torch

        self.load()
        model, device, dtype = self._model, self.placement.device, self.placement.torch_dtype
        if model is None:  # its int8 form runs: the fp32 network afresh, on the CPU
            model, device, dtype = self._build().eval(), "cpu", torch.float32
        out = []
        with torch.inference_mode():
            for start in range(0, len(x), self.batch_size):
                batch = torch.from_numpy(x[start:start + self.batch_size]).to(device)
                out.append(model(batch.contiguous(memory_format=torch.channels_last).to(dtype)).float().cpu().numpy())
        return np.concatenate(out)

    def use_int8(self, session, derived: Derived) -> None:
        """Run `session`, the int8 form `derived` describes, from now on (the torch network is let go)."""
        self._session, self.int8, self.int8_needed, self._model = session, derived, False, None

    def _encode(self, crops: np.ndarray) -> np.ndarray:
        if self._session is None:
            return super()._encode(crops)
        result = self.run(self._session, self.inputs(crops))
        self._dim = result.shape[1]
        return result

    def info(self) -> EncoderInfo:
        if self.int8 is not None:
            return EncoderInfo(self.name, self.kind, self._dim or self.output_dim, self.weight_hashes(),
                               self.placement.device, "int8", self.int8.sha256)
        precision = "fp32" if self.placement.precision == "int8" else self.placement.precision
        return EncoderInfo(self.name, self.kind, self._dim or self.output_dim, self.weight_hashes(),
                           self.placement.device, precision)
