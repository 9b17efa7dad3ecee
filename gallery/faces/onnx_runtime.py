"""onnxruntime sessions as the pipeline runs them, and freeing a fixed batch dimension.

Spinning is off: after each run onnxruntime's worker threads otherwise spin for a while waiting
for more work, and the pipeline alternates sessions (the detector, then the encoders), so one
session's spinning threads took the cores the next one needed. benchmarks/onnx_runtime.py, 2
cores, SCRFD-500M at 640 then MobileFaceNet on one face: 29-34 ms a pair with spinning, 21 ms
without; each alone is unchanged.

onnxruntime is always imported through `runtime()`, with its usage telemetry off (see there).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gallery.core.errors import ModelError


TELEMETRY_SWITCH = "ORT_DISABLE_TELEMETRY"


def runtime():
    """onnxruntime, imported with its usage telemetry off. Its recent Linux and macOS wheels (1.32
    among them) otherwise keep a device id and a queue of usage events (the process, the models
    loaded, session timings) under ~/.cache/Microsoft/DeveloperTools/.onnxruntime, for upload to
    Microsoft when a network is there; a museum's machine should not. The switch is read once, when
    onnxruntime starts, so it is set here before the first import; a value set in the environment
    is left as it is (ORT_DISABLE_TELEMETRY=0 keeps onnxruntime's own default)."""
    os.environ.setdefault(TELEMETRY_SWITCH, "1")
    import onnxruntime

    return onnxruntime


def providers_for(device: str) -> list[str]:
    ort = runtime()

    if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def open_session(model: Path | bytes, providers: list[str], what: str, threads: int = 0):
    """An InferenceSession with the pipeline's options, on `threads` cores (0: onnxruntime's
    choice, every core); ModelError naming `what` when it cannot load."""
    ort = runtime()

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # exports that declare fixed output shapes warn on every other size
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(model if isinstance(model, bytes) else str(model), options,
                                    providers=providers)
    except Exception as err:  # onnxruntime raises its own untyped errors on bad files
        raise ModelError(f"cannot load {what}: {err}") from err


def batch_freed(path: Path) -> bytes | None:
    """The model at `path` with its fixed batch of 1 made free (many crops per run), or None when
    that cannot be done safely. Exports often fix the batch at 1 and end in Reshape(x, [1, -1]);
    the batch becomes symbolic and such a shape becomes [0, -1] (0: keep the input's batch).
    Callers must check the freed model against the original before trusting it (`same_outputs`)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    ends = list(graph.input[:1]) + list(graph.output)
    if any(not v.type.tensor_type.shape.dim or v.type.tensor_type.shape.dim[0].dim_value != 1 for v in ends):
        return None
    for value in ends:
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    del graph.value_info[:]  # intermediate shapes recorded for batch 1; onnxruntime infers them again
    shapes = {i.name: i for i in graph.initializer}
    constants = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    for node in graph.node:
        if node.op_type != "Reshape":
            continue
        target = node.input[1]
        if target in shapes:
            tensor = shapes[target]
        elif target in constants and constants[target].attribute:
            tensor = constants[target].attribute[0].t
        else:
            return None  # a shape computed at run time: leave the model as it is
        values = numpy_helper.to_array(tensor)
        if values.ndim == 1 and len(values) and values[0] == 1:
            tensor.CopyFrom(numpy_helper.from_array(np.concatenate([[0], values[1:]]).astype(values.dtype),
                                                    tensor.name))
    return model.SerializeToString()


def same_outputs(fixed, freed, input_name: str, shape: tuple[int, ...], tolerance: float = 1e-4) -> bool:
    """Whether the freed session gives, for a batch of 3 random inputs, what the fixed one gives for each."""
    probe = np.random.default_rng(0).uniform(-1, 1, (3,) + tuple(shape[1:])).astype(np.float32)
    try:
        together = freed.run(None, {input_name: probe})[0]
    except Exception:  # the rewritten graph does not run with a batch: keep the original
        return False
    alone = np.concatenate([fixed.run(None, {input_name: probe[i:i + 1]})[0] for i in range(3)])
    return together.shape == alone.shape and float(np.abs(together - alone).max()) <= tolerance


def run_session(session, input_name: str, x: np.ndarray, step: int = 64) -> np.ndarray:
    """The first output of `session` for the inputs `x` (N x ...), flattened to N rows: `step`
    inputs a run, or the model's own fixed batch (the last run padded, the padding's outputs
    dropped)."""
    fixed = session.get_inputs()[0].shape[0]
    step = fixed if isinstance(fixed, int) else step
    outs = []
    for start in range(0, len(x), step):
        chunk = x[start:start + step]
        short = step - len(chunk) if isinstance(fixed, int) else 0
        if short:
            chunk = np.concatenate([chunk, np.zeros((short,) + chunk.shape[1:], chunk.dtype)])
        outs.append(session.run(None, {input_name: chunk})[0][: step - short])
    return np.concatenate(outs).reshape(len(x), -1)
