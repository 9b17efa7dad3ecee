"""A torch face network written out as an ONNX model, so that onnxruntime can run its int8 form
(gallery.faces.int8): IResNet100's convolutions, which torch's dynamic quantization leaves in fp32.

torch's TorchScript-based exporter is used: the newer one needs the onnxscript package, which
nothing else here uses. torch marks the older one deprecated and warns at each export; the warning
is silenced here, and tests/test_int8.py fails the day the exporter itself goes. The batch is left
free, so one run takes many faces."""

from __future__ import annotations

from gallery.core.errors import ModelError

INPUT = "input"
OPSET = 13  # the opset quantization needs (per-channel weights: DequantizeLinear's axis)


def to_onnx(module, size: int, what: str) -> bytes:
    """The ONNX model of `module` (fp32, on the CPU, in eval mode), taking N x 3 x size x size."""
    import io
    import warnings

    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            torch.onnx.export(module, torch.zeros(1, 3, size, size), buffer, dynamo=False, input_names=[INPUT],
                              output_names=["embedding"], opset_version=OPSET,
                              dynamic_axes={INPUT: {0: "batch"}, "embedding": {0: "batch"}})
        except Exception as err:  # the exporter raises many untyped errors
            raise ModelError(f"cannot write {what} as an ONNX model for int8: {err}") from err
    return buffer.getvalue()
