"""Training speed: steps/s and faces/s of one training step (augment, forward, batch-hard
triplet loss, backward, AdamW) for each recipe, on CPU (and CUDA when there is one).

Networks are randomly initialised (speed does not depend on weight values); crops are random.
Prints a table and writes benchmarks/results/train.json.

    python benchmarks/train.py [--p 8] [--k 4] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gallery.training.augment import AugmentSettings, augment_batch, build  # noqa: E402
from gallery.training.loop import _to_tensor, batch_hard_triplet  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "train.json"


def models():
    import torch

    from gallery.faces.encoders.adapter import LoraSettings
    from gallery.faces.encoders.clip_encoder import build_clip_visual
    from gallery.faces.encoders.iresnet import IResNet
    from gallery.training.models import ClipLoraModel, IResNetModel

    torch.manual_seed(0)
    yield "clip-lora", 224, lambda: ClipLoraModel(build_clip_visual(None).float(), LoraSettings())
    yield "iresnet100 (2 stages frozen)", 112, lambda: IResNetModel(IResNet(100).float(), 2)


def step_rate(model, size: int, p: int, k: int, steps: int, device: str) -> float:
    import torch

    crops = np.random.default_rng(0).integers(0, 255, (p * k, size, size, 3), dtype=np.uint8)
    labels = torch.arange(p).repeat_interleave(k).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    transform = build(AugmentSettings())
    model.train_mode(True)

    def one():
        images = augment_batch(transform, _to_tensor(crops)).to(device)
        with torch.autocast(device, dtype=torch.float16, enabled=device == "cuda"):
            loss = batch_hard_triplet(model.embed(images).float(), labels, 0.2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    one()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        one()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--p", type=int, default=8)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for name, size, make in models():
        for device in devices:
            model = make()
            if device == "cuda":
                for part in ("peft", "head", "net"):
                    if hasattr(model, part):
                        getattr(model, part).to(device)
            rate = step_rate(model, size, args.p, args.k, args.steps, device)
            rows.append({"recipe": name, "device": device, "batch": args.p * args.k, "steps_per_s": round(rate, 4),
                         "faces_per_s": round(rate * args.p * args.k, 2)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=2) + "\n")
    print(f"{'recipe':<30} {'device':<6} {'batch':>5} {'steps/s':>8} {'faces/s':>8}")
    for r in rows:
        print(f"{r['recipe']:<30} {r['device']:<6} {r['batch']:>5} {r['steps_per_s']:>8.3f} {r['faces_per_s']:>8.2f}")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
