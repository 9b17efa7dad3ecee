"""Encoder throughput: faces/s per component and fused, fp32 vs bf16, by batch size.

Also measures this machine's fp32 and bf16 matmul rate (the roofline) in the
same run, counts each network's FLOPs per face with torch's FlopCounterMode,
and reports achieved / roofline. Weights are randomly initialised: speed does
not depend on their values. Prints a table and writes benchmarks/results/encoder.json.

On a CUDA GPU (`--device cuda`, or `auto` where torch sees one) the roofline is the GPU's matmul
rate at 8192 x 8192, the default precisions fp16 and bf16, and the default batches reach 256;
the FLOPs are counted on CPU as always.

    python benchmarks/encoder.py [--device auto|cpu|cuda] [--batch-sizes 1,8,32] [--seconds 3]
                                 [--precisions fp32,bf16]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gallery.config.device import Placement, cpu_has_bf16, cpu_name, resolve_placement
from gallery.faces.encoders.factory import build_encoder
from gallery.config.profiles import EncoderSpec
from gallery.weights.store import WeightStore

RESULTS = Path(__file__).parent / "results" / "encoder.json"
# the artface profile's networks (CLIP-LoRA merges into the same ViT-B/16 compute)
COMPONENTS = {"clip_vit_b16": "clip", "iresnet100": "iresnet100"}
FUSED = ("clip_vit_b16", "iresnet100", "iresnet100")  # CLIP-LoRA + IResNet100 base + tuned


def matmul_gflops(dtype: torch.dtype, device: str = "cpu", seconds: float = 2.0) -> float:
    n = 8192 if device == "cuda" else 2048
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    a @ b
    sync()
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        reps += 1
        sync()
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def int8_gops(seconds: float = 2.0) -> float:
    """The CPU's rate for a 2048^3 product through torch's dynamically quantized linear layer (fbgemm,
    int8 weights, activations quantized per call): the roofline of the encoders' int8 precision."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    n = 2048
    layer = DynamicLinear(n, n, bias_=False)
    x = torch.randn(n, n)
    layer(x)
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        layer(x)
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def gflop_per_face(encoder) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    crops = np.zeros((1, encoder.crop.size, encoder.crop.size, 3), np.uint8)
    x = encoder.to_tensor(crops).float()
    # attention in train mode (under no_grad): eval-mode nn.MultiheadAttention takes a fused
    # fast path whose FLOPs the counter does not see
    model = encoder.module.float()
    for module in model.modules():
        if isinstance(module, torch.nn.MultiheadAttention):
            module.train()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return counter.get_total_flops() / 1e9


def in_int8(encoders, cache: Path) -> None:
    """Make (or open from `cache`) the int8 forms of the encoders that have one (IResNet100: the whole
    network in onnxruntime's static int8), calibrated on random crops: their speed does not depend on
    the scales. CLIP's int8 is its dynamically quantized linear layers, made as it loads."""
    from gallery.faces.int8 import calibrate_encoder

    rng = np.random.default_rng(1)
    for encoder in encoders:
        encoder.load()
        if getattr(encoder, "int8_needed", False):
            crops = rng.integers(0, 255, (20, encoder.crop.size, encoder.crop.size, 3), np.uint8)
            calibrate_encoder(encoder, crops[:16], crops[16:], cache, "cpu", {"random crops": 16})


def faces_per_second(encoders, batch: int, seconds: float) -> float:
    """Faces/s through all `encoders` in turn (one encoder: that component; several: the fusion)."""
    rng = np.random.default_rng(0)
    crops = {e.crop: rng.integers(0, 255, (batch, e.crop.size, e.crop.size, 3), np.uint8) for e in encoders}
    for encoder in encoders:  # warm-up
        encoder.encode(crops[encoder.crop])
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done == 0:
        for encoder in encoders:
            encoder.encode(crops[encoder.crop])
        done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch-sizes", help="1,8,32 on CPU, 1,32,256 on a GPU")
    parser.add_argument("--precisions", help="fp32, int8 and bf16 where the CPU has bf16 (else fp32,int8); fp16,bf16 "
                                             "on a GPU")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    device = resolve_placement(args.device).device
    gpu = device == "cuda"
    batches = [int(b) for b in (args.batch_sizes or ("1,32,256" if gpu else "1,8,32")).split(",")]
    chunk = max(64, *batches)  # the encoders' own batch: every measured batch is one call to the network
    precisions = (args.precisions or ("fp16,bf16" if gpu else "fp32,bf16,int8" if cpu_has_bf16() else "fp32,int8")
                  ).split(",")
    store = WeightStore(Path(tempfile.mkdtemp(prefix="encoder-bench-")), offline=True)  # int8 forms cached here
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    roofline = {p: int8_gops() if p == "int8" else matmul_gflops(dtype[p], device) for p in precisions}
    gflop = {name: gflop_per_face(build_encoder(EncoderSpec(name, kind, None), store, Placement("cpu", "fp32")))
             for name, kind in COMPONENTS.items()}
    gflop["fused"] = sum(gflop[c] for c in FUSED)
    rows = []
    for precision in precisions:
        encoders = {name: build_encoder(EncoderSpec(name, kind, None), store, Placement(device, precision), chunk)
                    for name, kind in COMPONENTS.items()}
        if precision == "int8":
            in_int8(encoders.values(), store.root / "derived")
        for name, encoder in encoders.items():
            for batch in batches:
                rate = faces_per_second([encoder], batch, args.seconds)
                rows.append(_row(name, precision, batch, rate, gflop[name], roofline[precision]))
        # fused: every face through CLIP-LoRA, IResNet100-base and IResNet100-tuned (three networks)
        fused = [build_encoder(EncoderSpec(f"{c}_{i}", COMPONENTS[c], None), store, Placement(device, precision), chunk)
                 for i, c in enumerate(FUSED)]
        if precision == "int8":
            in_int8(fused, store.root / "derived")
        for batch in batches:
            rate = faces_per_second(fused, batch, args.seconds)
            rows.append(_row("fused(artface)", precision, batch, rate, gflop["fused"], roofline[precision]))
    shutil.rmtree(store.root, ignore_errors=True)
    report = {"machine": {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                          "bf16_cpu": cpu_has_bf16(), "device": device,
                          "gpu": torch.cuda.get_device_name(0) if gpu else None},
              "roofline_gflops": roofline, "gflop_per_face": gflop, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['machine']['gpu'] or cpu_name()} ({device}), torch {torch.__version__}")
    print("matmul roofline: " + ", ".join(f"{p} {v:.0f} GFLOP/s" for p, v in roofline.items()))
    print("GFLOP per face: " + ", ".join(f"{k} {v:.1f}" for k, v in gflop.items()))
    print(f"{'component':<16} {'prec':<5} {'batch':>5} {'faces/s':>9} {'GFLOP/s':>9} {'of roofline':>12}")
    for r in rows:
        print(f"{r['component']:<16} {r['precision']:<5} {r['batch']:>5} {r['faces_per_s']:>9.2f} "
              f"{r['gflops']:>9.1f} {r['roofline_fraction']:>11.0%}")
    print(f"-> {args.out}")


def _row(name, precision, batch, rate, gflop, roof):
    achieved = rate * gflop
    return {"component": name, "precision": precision, "batch": batch, "faces_per_s": round(rate, 3),
            "gflops": round(achieved, 1), "roofline_fraction": round(achieved / roof, 3)}


if __name__ == "__main__":
    main()
