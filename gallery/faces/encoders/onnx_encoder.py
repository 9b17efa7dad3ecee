"""Any ArcFace-style ONNX recogniser, run with onnxruntime.

The crop size is read from the model's input (N x 3 x S x S). A batch fixed at 1 is freed where
the graph allows it and the freed model gives the same outputs (gallery.faces.onnx_runtime; MobileFaceNet:
200-215 -> 237-261 faces/s at 32 a run, benchmarks/onnx_runtime.py on 2 cores); otherwise, and for other fixed batches, the faces go
in runs of that size. The freed model is made once and cached beside the weights with its checksum
(gallery.weights.derived), so later processes open it directly. In int8 (gallery.faces.int8) the
session runs the model's int8 form, calibrated on the collection's faces and cached the same way.
Options:
`mean`/`std` on the 0-255 scale (default 127.5/127.5), `channel_order`
("RGB" default, or "BGR").
"""

from __future__ import annotations

import numpy as np

from gallery.faces.align import CropSpec
from gallery.config.device import Placement
from gallery.core.errors import ModelError
from gallery.faces.onnx_runtime import batch_freed, open_session, providers_for, run_session, same_outputs
from gallery.config.profiles import EncoderSpec
from gallery.weights.derived import Derived, cached, remember
from gallery.weights.store import WeightStore
from gallery.faces.encoders.base import Encoder, EncoderInfo, nchw_inputs
from gallery.faces.quantize import int8_choice


BATCH_FREE = "batch-free"
SAME_OUTPUTS = "same outputs as the source, 3 random crops in one run, within 1e-4"


class OnnxEncoder(Encoder):
    kind = "onnx"

    def __init__(self, spec: EncoderSpec, store: WeightStore, placement: Placement):
        super().__init__(spec, store)
        self.placement = placement
        self._session = None
        self._input = None
        self._size: int | None = None
        self._dim: int | None = None
        self.int8_source = None  # the fp32 model as this encoder runs it (a path, or the freed bytes)
        self.int8: Derived | None = None  # the int8 form in use
        self.int8_needed = False  # int8 asked for and no calibrated form cached yet
        self.sha256 = ""

    def load(self) -> None:
        if self._session is not None:
            return
        weights = self.resolve(self.spec.weights)
        path, cache = weights.path, self.store.root / "derived"
        what = f"encoder '{self.name}': ONNX model {path}"
        providers = providers_for(self.placement.device)
        known = cached(cache, weights.sha256, BATCH_FREE)
        self.sha256, self.int8_source = weights.sha256, known.path if known and known.path else path
        choice = int8_choice(self.placement, cache, weights.sha256)
        self.int8_needed = choice.needed
        if choice.model is not None:  # the fp32 model is not opened at all
            session = open_session(choice.model.path, providers, what + " (int8)")
            self.int8 = choice.model
            self._checked_input(session, path)
        else:
            session = self._fp32_session(path, cache, known, providers, what)
        out_shape = session.get_outputs()[0].shape
        self._dim = out_shape[-1] if isinstance(out_shape[-1], int) else None
        self._session = session

    def _checked_input(self, session, path) -> tuple:
        inp = session.get_inputs()[0]
        shape = inp.shape
        if len(shape) != 4 or shape[1] != 3 or not isinstance(shape[2], int) or shape[2] != shape[3]:
            raise ModelError(f"encoder '{self.name}': expected an N x 3 x S x S input, {path} has {shape}")
        self._size, self._input = int(shape[2]), inp.name
        return tuple(shape)

    def _fp32_session(self, path, cache, known, providers, what: str):
        """The fp32 model, its batch freed (once, then from the cache) where the export allows it."""
        session = open_session(self.int8_source, providers, what)
        shape = self._checked_input(session, path)
        if shape[0] == 1 and known is None:  # many crops per run where the export allows it
            freed = batch_freed(path)
            candidate = None if freed is None else open_session(freed, providers, what)
            same = candidate is not None and same_outputs(session, candidate, self._input, shape)
            remember(cache, self.sha256, BATCH_FREE, freed if same else None, SAME_OUTPUTS)
            if same:
                session, self.int8_source = candidate, freed
        return session

    @property
    def _fixed_batch(self) -> int | None:
        """The batch size the running model is fixed at (None: free), as `run` reads it."""
        self.load()
        size = self._session.get_inputs()[0].shape[0]
        return size if isinstance(size, int) else None

    def fp32_session(self):
        """A session of the fp32 model: the one running, or in int8 one opened from its source."""
        self.load()
        if self.int8 is None:
            return self._session
        return open_session(self.int8_source, providers_for(self.placement.device), f"encoder '{self.name}'")

    def use_int8(self, session, derived: Derived) -> None:
        """Run `session`, the int8 form `derived` describes, from now on."""
        self._session, self.int8, self.int8_needed = session, derived, False

    @property
    def input_name(self) -> str:
        self.load()
        return self._input

    @property
    def crop(self) -> CropSpec:
        self.load()
        return CropSpec(self._size, 1.0)

    def inputs(self, crops: np.ndarray) -> np.ndarray:
        """The network's input for these uint8 crops (N x 3 x S x S float32)."""
        opts = self.spec.options
        return nchw_inputs(crops, float(opts.get("mean", 127.5)), float(opts.get("std", 127.5)),
                           str(opts.get("channel_order", "RGB")))

    def _encode(self, crops: np.ndarray) -> np.ndarray:
        result = self.run(self._session, self.inputs(crops))
        self._dim = result.shape[1]
        return result

    def run(self, session, x: np.ndarray) -> np.ndarray:
        """The raw outputs of `session` (this encoder's model in some form) for the inputs `x`."""
        return run_session(session, self._input, x)

    def fp32_outputs(self, x: np.ndarray) -> np.ndarray:
        """The fp32 model's raw outputs for the inputs `x` (int8's check compares against them)."""
        return self.run(self.fp32_session(), x)

    def info(self) -> EncoderInfo:
        self.load()
        return EncoderInfo(self.name, self.kind, self._dim or 0, self.weight_hashes(), self.placement.device,
                           "int8" if self.int8 else "fp32", self.int8.sha256 if self.int8 else "")
