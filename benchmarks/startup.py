"""What a user waits for at the command line: each command as a whole process, start-up included.

1. Start-up. `gallery --help`, `gallery faces IMAGE`, `gallery embed IMAGE` and `gallery search
   IMAGE` (on a collection of 10 sitters indexed first), each in a fresh process with the
   `shared-onnx` profile, the median of --repeats runs after one untimed run (files in the page
   cache, the freed recogniser cached as after any first use). Each command is also run once under
   `python -X importtime`, to list the heavy libraries it imported (torch, the ONNX graph library,
   gradio, open_clip, peft, ...) and the import time of the whole command.
2. Whole processes on --images lfw-mini photographs, runs interleaved: `gallery embed` (writes
   an .npz), `gallery index` into a fresh data folder, and insightface's own pipeline as a user
   would script it (import insightface and cv2, FaceAnalysis with the same SCRFD-500M and
   MobileFaceNet, `get` image by image, the vectors saved with numpy). `gallery embed` and
   `gallery index` also run with `--precision int8` (their int8 models made in the untimed first
   round, calibrated on the photographs, in a weights folder of their own).

--source DIR runs the gallery code of another checkout of the project (for before and after); the
profile and models are always this checkout's. Prints tables and writes
benchmarks/results/startup.json (or --out).

    python benchmarks/startup.py [--repeats 5] [--images 300] [--whole-repeats 3] [--source DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gallery.config.device import cpu_name  # noqa: E402

SHARED = ROOT.parent / "shared"
LFW = SHARED / "data" / "lfw-mini"
MODELS = SHARED / "models"
PROFILE = ROOT / "profiles" / "shared-onnx.toml"
RESULTS = Path(__file__).parent / "results" / "startup.json"
HEAVY = ("torch", "onnx", "onnx2torch", "open_clip", "peft", "gradio", "matplotlib", "pandas", "scipy",
         "sklearn", "ray")

INSIGHTFACE = '''
import sys, os
import cv2
import numpy as np
from insightface.app import FaceAnalysis

files, out, root = open(sys.argv[1]).read().split("\\n"), sys.argv[2], sys.argv[3]
app = FaceAnalysis(name="shared", root=root, allowed_modules=["detection", "recognition"],
                   providers=["CPUExecutionProvider"])
app.prepare(ctx_id=-1, det_size=(640, 640))
vectors = [face.normed_embedding for path in files if path for face in app.get(cv2.imread(path))]
np.savez(out, vectors=np.array(vectors))
print(len(vectors), "faces")
'''


def _timed(command: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds


def _imports(command: list[str], cwd: Path, env: dict) -> dict:
    """The heavy libraries a command imported, and all its imports' time (python -X importtime)."""
    done = subprocess.run([sys.executable, "-X", "importtime", *command[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True)
    top = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)$", line)
        if match and len(match.group(2)) == 1:  # a module imported at the top of a chain
            top[match.group(3)] = top.get(match.group(3), 0) + int(match.group(1))
    return {"heavy": sorted(m for m in top if m in HEAVY), "import_s": round(sum(top.values()) / 1e6, 3)}


def startup(source: Path, work: Path, repeats: int, env: dict) -> list[dict]:
    image = sorted(LFW.rglob("*.jpg"))[0]
    collection = work / "collection"
    for person in sorted(p for p in LFW.iterdir() if p.is_dir())[:10]:
        shutil.copytree(person, collection / person.name)
    gallery = [sys.executable, "-m", "gallery"]
    common = ["--config", str(PROFILE), "--weights-dir", str(work / "weights")]
    _timed([*gallery, "index", str(collection), *common, "--data-dir", str(work / "data")], source, env)
    commands = {
        "gallery --help": [*gallery, "--help"],
        "gallery faces IMAGE": [*gallery, "faces", str(image), *common],
        "gallery embed IMAGE": [*gallery, "embed", str(image), "--out", str(work / "one.npz"), *common],
        "gallery search IMAGE": [*gallery, "search", str(image), *common, "--data-dir", str(work / "data")],
    }
    rows = []
    for name, command in commands.items():
        _timed(command, source, env)  # untimed: files cached, as for any second use
        times = [_timed(command, source, env) for _ in range(repeats)]
        rows.append({"command": name, "seconds": round(statistics.median(times), 3),
                     "runs": [round(t, 3) for t in times], **_imports(command, source, env)})
    return rows


def whole_processes(source: Path, work: Path, images: int, repeats: int, env: dict) -> list[dict]:
    files = sorted(LFW.rglob("*.jpg"))[:images]
    photos = work / "photos"
    for path in files:
        (photos / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, photos / path.parent.name / path.name)
    pack = work / "insightface" / "models" / "shared"  # FaceAnalysis finds its models in a pack folder
    pack.mkdir(parents=True)
    os.symlink(MODELS / "scrfd_500m.onnx", pack / "det_500m.onnx")
    os.symlink(MODELS / "mobilefacenet.onnx", pack / "w600k_mbf.onnx")
    (work / "files.txt").write_text("\n".join(str(p) for p in sorted(photos.rglob("*.jpg"))))
    (work / "run_insightface.py").write_text(INSIGHTFACE)
    common = ["--config", str(PROFILE), "--weights-dir", str(work / "weights")]
    # int8 in a weights folder of its own (its int8 forms are made in the untimed first round): in
    # the default folder `auto` would then run the measured int8 recogniser in the default rows too
    int8 = ["--config", str(PROFILE), "--weights-dir", str(work / "weights-int8"), "--precision", "int8"]
    gallery = [sys.executable, "-m", "gallery"]
    runs: dict[str, list[float]] = {"insightface (script)": [], "gallery embed": [], "gallery index": [],
                                    "gallery embed, int8": [], "gallery index, int8": []}
    for run in range(repeats + 1):  # the first round untimed: files cached, the freed recogniser made
        times = {
            "insightface (script)": _timed([sys.executable, str(work / "run_insightface.py"), str(work / "files.txt"),
                                            str(work / "theirs.npz"), str(work / "insightface")], source, env),
            "gallery embed": _timed([*gallery, "embed", str(photos), "--out", str(work / "ours.npz"), *common],
                                    source, env),
            "gallery index": _timed([*gallery, "index", str(photos), *common, "--data-dir",
                                     str(work / f"index{run}")], source, env),
            "gallery embed, int8": _timed([*gallery, "embed", str(photos), "--out", str(work / "ours8.npz"), *int8],
                                          source, env),
            "gallery index, int8": _timed([*gallery, "index", str(photos), *int8, "--data-dir",
                                           str(work / f"index8-{run}")], source, env),
        }
        if run:
            for name, seconds in times.items():
                runs[name].append(seconds)
    theirs = statistics.median(runs["insightface (script)"])
    return [{"process": name, "images": len(files), "seconds": round(statistics.median(times), 2),
             "over_insightface": round(statistics.median(times) / theirs, 3), "runs": [round(t, 2) for t in times]}
            for name, times in runs.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="runs of each start-up command")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--whole-repeats", type=int, default=3, help="runs of each whole process (0: skip)")
    parser.add_argument("--source", type=Path, default=ROOT, help="the checkout whose gallery code runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not (MODELS / "scrfd_500m.onnx").exists() or not LFW.is_dir():
        sys.exit(f"needs {MODELS} and {LFW} (see ../shared/README.md)")
    source = args.source.resolve()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(source), "PYTHONUNBUFFERED": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("GALLERY_")}
    work = Path(tempfile.mkdtemp(prefix="gallery-startup-bench-"))
    try:
        rows = startup(source, work, args.repeats, env)
        whole = whole_processes(source, work, args.images, args.whole_repeats, env) if args.whole_repeats else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count()}, "source": str(source), "startup": rows,
              "whole_processes": whole}
    print(f"{report['machine']['cpu']}, {os.cpu_count()} cores; code from {source}")
    print(f"{'command':<22} {'median s':>9} {'imports s':>10}  heavy libraries imported")
    for row in rows:
        print(f"{row['command']:<22} {row['seconds']:>9.3f} {row['import_s']:>10.3f}  {', '.join(row['heavy']) or '-'}")
    if whole:
        print(f"\n{'whole process':<22} {'images':>6} {'median s':>9} {'x insightface':>14}  runs")
        for row in whole:
            print(f"{row['process']:<22} {row['images']:>6} {row['seconds']:>9.2f} {row['over_insightface']:>14.2f}  "
                  f"{row['runs']}")
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
