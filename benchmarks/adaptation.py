"""Adaptation shown to work: `gallery train onnx-lora` measured end to end on a painted test bed.

One command, every stage a whole `gallery` process as a user runs it:
1. lfw-mini rendered as paintings (benchmarks/painted.py, seeded; one painting per photograph,
   a sitter's paintings each in another style);
2. the sitters split in two, sitter-disjoint (gallery.evaluation.evaluate.sitter_disjoint): the
   adaptation trains on one half's paintings, and everything is measured on the other half;
3. `gallery evaluate` of the base profile on the held-out paintings and their photographs;
4. `gallery train onnx-lora` on the training half (its own sitter-disjoint validation inside it);
5. `gallery evaluate` of the written profile (OUT/adapted/profile.toml) on the same two folders.

Prints a table (EER, TAR at 0.1 % and 1 % FAR, rank-1; training time and faces/s; the CPU) and
writes benchmarks/results/adaptation.json.

    python benchmarks/adaptation.py [--out /tmp/adaptation] [--steps 400] [--p 8] [--k 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from painted import paint_folder  # noqa: E402

from gallery.evaluation.evaluate import sitter_disjoint  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "adaptation.json"
PHOTOS = ROOT.parent / "shared" / "data" / "lfw-mini"
PROFILE = ROOT / "profiles" / "shared-onnx.toml"


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def bed(out: Path, photos: Path, seed: int) -> dict[str, Path]:
    """The painted set and the three folders: training paintings, held-out paintings and their photos."""
    painted = out / "painted"
    if not painted.is_dir():
        print(f"painting {photos} -> {painted}", flush=True)
        paint_folder(photos, painted, seed)
    names = np.asarray(sorted(p.name for p in painted.iterdir() if p.is_dir()))
    held = sitter_disjoint(names, 0.5, seed)
    folders = {"train": out / "train", "held-painted": out / "held-painted", "held-photo": out / "held-photo"}
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)
    for name, is_held in zip(names, held):
        if is_held:
            shutil.copytree(painted / name, folders["held-painted"] / name)
            shutil.copytree(photos / name, folders["held-photo"] / name)
        else:
            shutil.copytree(painted / name, folders["train"] / name)
    return folders


def gallery(*args: str, env: dict) -> tuple[str, float]:
    """A whole `gallery` process; its standard output and its wall time."""
    command = [str(Path(sys.executable).with_name("gallery")), *args]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout, seconds


def measure(folder: Path, profile: Path, env: dict) -> dict:
    text, _ = gallery("evaluate", str(folder), "--config", str(profile), "--json", env=env)
    data = json.loads(text)
    fusion = data["fusion"]
    return {"eer": fusion["eer"], "tar_at_far_1e-3": fusion["tar@far=0.001"],
            "tar_at_far_1e-2": fusion["tar@far=0.01"], "rank1": fusion["rank1"],
            "faces": data["faces"], "sitters": data["sitters"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "gallery-adaptation")
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--profile", type=Path, default=PROFILE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--p", type=int, default=8)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--train-args", default="", help="more options for gallery train onnx-lora")
    args = parser.parse_args()
    started = time.perf_counter()

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    folders = bed(out, args.photos, args.seed)
    env = os.environ | {"HOME": str(out / "home"), "PYTHONUNBUFFERED": "1"}
    adapted = out / "adapted"
    shutil.rmtree(adapted, ignore_errors=True)  # a fresh run, not a resumed one

    rows = {}
    for name in ("held-painted", "held-photo"):
        print(f"base on {name} …", flush=True)
        rows[("base", name)] = measure(folders[name], args.profile, env)
    print(f"gallery train onnx-lora ({args.steps} steps) …", flush=True)
    _, train_seconds = gallery("train", "onnx-lora", "--config", str(args.profile), "--collection",
                               str(folders["train"]), "--out", str(adapted), "--steps", str(args.steps),
                               "--p", str(args.p), "--k", str(args.k), "--eval-every", str(args.eval_every),
                               "--seed", str(args.seed), *args.train_args.split(), env=env)
    record = json.loads((adapted / "adaptation.json").read_text())
    for name in ("held-painted", "held-photo"):
        print(f"adapted on {name} …", flush=True)
        rows[("adapted", name)] = measure(folders[name], adapted / "profile.toml", env)

    print(f"\nCPU: {cpu()}")
    print(f"training: {record['steps']} steps of {args.p}x{args.k} faces, {record['training_seconds']:.0f} s in the "
          f"loop ({record['faces_per_second']:.1f} faces/s), the whole command {train_seconds:.0f} s; best "
          f"validation EER {100 * record['validation_eer']:.2f} % at step {record['best_step']}")
    print(f"\n| model | set | faces | EER (%) | TAR@0.1%FAR (%) | TAR@1%FAR (%) | rank-1 (%) |")
    print("|---|---|---|---|---|---|---|")
    for (model, name), row in rows.items():
        print(f"| {model} | {name} | {row['faces']} | {100 * row['eer']:.2f} | {100 * row['tar_at_far_1e-3']:.1f} | "
              f"{100 * row['tar_at_far_1e-2']:.1f} | {100 * row['rank1']:.1f} |")
    base, new = rows[("base", "held-painted")], rows[("adapted", "held-painted")]
    photo_loss = rows[("adapted", "held-photo")]["eer"] - rows[("base", "held-photo")]["eer"]
    gain = (base["eer"] - new["eer"]) / base["eer"] if base["eer"] else 0.0
    print(f"\npainted EER {100 * base['eer']:.2f} % -> {100 * new['eer']:.2f} % ({100 * gain:.0f} % lower); "
          f"photographs {100 * photo_loss:+.2f} points")
    total = time.perf_counter() - started
    print(f"the whole benchmark (painting, four evaluations, training): {total / 60:.1f} min")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "cpu": cpu(), "benchmark_seconds": total, "seed": args.seed, "steps": args.steps, "p": args.p, "k": args.k,
        "train_args": args.train_args, "train_command_seconds": train_seconds,
        "training_seconds": record["training_seconds"], "faces_per_second": record["faces_per_second"],
        "best_validation_eer": record["validation_eer"], "best_step": record["best_step"],
        "relative_painted_eer_gain": gain, "photo_eer_change_points": 100 * photo_loss,
        "results": [{"model": m, "set": s} | row for (m, s), row in rows.items()],
        "adaptation": {k: record[k] for k in ("lora", "trainable_parameters", "export_check", "base_sha256",
                                               "sha256") if k in record}}, indent=2) + "\n")
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
