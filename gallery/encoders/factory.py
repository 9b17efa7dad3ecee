"""Build encoders from their specs."""

from __future__ import annotations

from ..device import Placement
from ..profiles import EncoderSpec
from ..weights.store import WeightStore
from .base import Encoder


def build_encoder(spec: EncoderSpec, store: WeightStore, placement: Placement, batch_size: int = 32) -> Encoder:
    if spec.kind == "clip":
        from .clip_encoder import ClipEncoder

        return ClipEncoder(spec, store, placement, batch_size)
    if spec.kind == "iresnet100":
        from .iresnet_encoder import IResNetEncoder

        return IResNetEncoder(spec, store, placement, batch_size)
    from .onnx_encoder import OnnxEncoder

    return OnnxEncoder(spec, store, placement)
