"""Device and precision choice.

CUDA when present, in half precision. On CPU, bfloat16 weights where the CPU
has native bf16 dot products (AVX512-BF16 or AMX): ViT-B/16 measured ~4x faster
than fp32 with cosine to fp32 >= 0.9999. `torch.autocast` on CPU is slower than
plain bf16 weights, so it is not used. fp32 otherwise.

int8 (CPU only, asked for with `precision = "int8"`): ONNX models run statically quantized
(gallery.faces.quantize, calibrated on the collection's own pictures and faces), and so does
IResNet100, written out as ONNX; CLIP runs with its linear layers quantized dynamically. `auto` on
a CPU runs an ONNX model or IResNet100 in int8 only where its int8 version was calibrated and
measured to keep its answers (the record beside the cached model); never CLIP, whose int8 accuracy
could not be measured on real weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from gallery.core.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu" or "cuda"
    precision: str  # "fp32", "bf16", "fp16" or "int8"
    int8_where_measured: bool = False  # `auto` on a CPU: int8 forms where measured to keep accuracy

    @property
    def torch_dtype(self):
        """The dtype torch weights are held in; int8 keeps float32 weights (CLIP's linear layers are
        then quantized dynamically, gallery.faces.encoders.base; IResNet100 runs an int8 form of its own)."""
        import torch

        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
                "int8": torch.float32}[self.precision]

    def onnx_int8(self, kept: bool) -> bool:
        """Whether a model with a calibrated int8 form (an ONNX model, IResNet100) runs it: int8
        asked for, or `auto` and that form `kept` accuracy when measured."""
        return self.precision == "int8" or (self.int8_where_measured and kept)


@lru_cache(maxsize=1)
def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when the CPU has native bf16 dot-product instructions."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def cpu_cores() -> int:
    """The cores this process may run on (its affinity where the system tells it)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def cpu_name(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name, for benchmark reports."""
    import platform

    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


_CUDA_DRIVERS = ("libcuda.so.1", "libcuda.so", "nvcuda.dll")


@lru_cache(maxsize=1)
def cuda_driver_present() -> bool:
    """True when an NVIDIA CUDA driver library can be loaded. Without one no library sees a GPU, so
    the answer needs no torch (whose import alone takes seconds): a CPU machine running ONNX
    profiles never imports it."""
    import ctypes

    for name in _CUDA_DRIVERS:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def cuda_available() -> bool:
    """True when torch sees a CUDA GPU; asked of torch only where a CUDA driver is present."""
    import sys

    if "torch" not in sys.modules and not cuda_driver_present():
        return False
    import torch

    return torch.cuda.is_available()


def resolve_placement(device: str = "auto", precision: str = "auto") -> Placement:
    """Turn the user's device/precision wishes into a concrete placement."""
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if device == "cuda" and not cuda_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu")
    if device == "auto":
        device = "cuda" if cuda_available() else "cpu"
    measured = False
    if precision == "auto":
        if device == "cuda":
            precision = "fp16"
        else:
            precision, measured = ("bf16" if cpu_has_bf16() else "fp32"), True
    if precision == "fp16" and device == "cpu":
        raise ConfigError("fp16 is for CUDA only; on CPU use bf16, int8 or fp32")
    if precision == "int8" and device == "cuda":
        raise ConfigError("int8 is for CPUs; on CUDA use fp16 or bf16")
    return Placement(device=device, precision=precision, int8_where_measured=measured)
