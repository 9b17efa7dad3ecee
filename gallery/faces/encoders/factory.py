"""Build encoders from their specs."""

from __future__ import annotations

from gallery.config.device import Placement
from gallery.config.profiles import EncoderSpec
from gallery.weights.store import WeightStore
from gallery.faces.encoders.base import Encoder


def build_encoder(spec: EncoderSpec, store: WeightStore, placement: Placement, batch_size: int = 32) -> Encoder:
    if spec.kind == "clip":
        from gallery.faces.encoders.clip_encoder import ClipEncoder

        return ClipEncoder(spec, store, placement, batch_size)
    if spec.kind == "iresnet100":
        from gallery.faces.encoders.iresnet_encoder import IResNetEncoder

        return IResNetEncoder(spec, store, placement, batch_size)
    from gallery.faces.encoders.onnx_encoder import OnnxEncoder

    return OnnxEncoder(spec, store, placement)
