"""Why did it match? The cost of an explanation (gallery.curation.explain) by grid size: grid² + 1 crops per
face and component, two faces per pair.

- The shared ONNX profile (MobileFaceNet) on a real lfw-mini pair, grids 4, 7, 10, 14.
- The ArtFace networks (CLIP ViT-B/16, IResNet100 base and tuned), randomly initialised (speed does
  not depend on the weights' values), at this machine's precision (bf16 where the CPU has it), grid 7
  and 4.

    python benchmarks/explain.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gallery.config.device import cpu_name  # noqa: E402

LFW = ROOT.parent / "shared" / "data" / "lfw-mini"
RESULTS = Path(__file__).parent / "results" / "explain.json"


def timed(encoders, pair, grid: int, repeats: int) -> float:
    from gallery.curation.explain import explain

    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        explain(encoders, *pair, grid=grid)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from gallery.config.device import Placement, cpu_has_bf16
    from gallery.faces.encoders.factory import build_encoder
    from gallery.faces.pipeline import FacePipeline
    from gallery.config.profiles import EncoderSpec
    from gallery.config.settings import load_settings
    from gallery.weights.store import WeightStore

    settings = load_settings(ROOT / "profiles" / "shared-onnx.toml", {"HOME": "/tmp", "HF_HUB_OFFLINE": "1"})
    pipeline = FacePipeline(settings)
    a, b = sorted((LFW / "George_Clooney").glob("*.jpg"))[:2]
    images = [pipeline.load(path) for path in (a, b)]
    pair = []
    for image in images:
        pair += [image.rgb, pipeline.detect(image)[0].landmarks]
    rows = []
    timed(pipeline.encoders, pair, 2, 1)  # loads the model
    for grid in (4, 7, 10, 14):
        seconds = timed(pipeline.encoders, pair, grid, args.repeats)
        rows.append({"profile": "shared-onnx (MobileFaceNet)", "precision": "fp32", "grid": grid,
                     "crops": 2 * (grid**2 + 1), "seconds": round(seconds, 3)})
    precision = "bf16" if cpu_has_bf16() else "fp32"
    store = WeightStore(Path("/nonexistent"), offline=True)
    artface = [build_encoder(EncoderSpec(name, kind, None), store, Placement("cpu", precision), 64)
               for name, kind in (("clip_lora", "clip"), ("iresnet_base", "iresnet100"), ("iresnet_tuned", "iresnet100"))]
    timed(artface, pair, 2, 1)
    for grid in (4, 7):
        seconds = timed(artface, pair, grid, 1)
        rows.append({"profile": "artface (CLIP ViT-B/16 + 2 x IResNet100)", "precision": precision, "grid": grid,
                     "crops": 3 * 2 * (grid**2 + 1), "seconds": round(seconds, 3)})
    print(f"CPU: {cpu_name()}")
    print(f"{'profile':<42} {'precision':<9} {'grid':>4} {'crops':>6} {'seconds':>8}")
    for row in rows:
        print(f"{row['profile']:<42} {row['precision']:<9} {row['grid']:>4} {row['crops']:>6} {row['seconds']:>8.2f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu": cpu_name(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
