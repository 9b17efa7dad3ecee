"""The indexer against insightface's own pipeline, on the same ONNX models and the same photographs.

Three ways through the first --images lfw-mini photographs with SCRFD-500M and MobileFaceNet
(../shared/models), each timed from the first file to the last vector with the models already
loaded, the median of --repeats runs:

1. insightface: its FaceAnalysis with the two models (SCRFD at 640 x 640, norm_crop, the
   recogniser face by face), images read with cv2.imread one after another: the loop a user
   would write with insightface;
2. `gallery embed` (gallery.faces.batch.embed_files): the padded whole-image pass, alignment, crops
   embedded many per run;
3. `gallery index` (indexer.runner.index_collection) into a fresh SQLite database and FAISS index:
   files read, hashed and decoded in a worker process, thumbnails, and the database writes in a
   thread of their own;
4. with --ray, the same `gallery index` with its reader and mapper on a local Ray cluster
   (indexer.ray_mapper; the cluster's start and the actors' model loading included).

Goals: embed's wall time <= 0.8x insightface's; indexing >= 85 % of embed's rate (faces/s).
Prints a table and writes benchmarks/results/indexer.json.

    python benchmarks/indexer.py [--images 300] [--repeats 3] [--ray]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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
RESULTS = Path(__file__).parent / "results" / "indexer.json"


def insightface_run(files: list[Path], work: Path, repeats: int) -> tuple[list[float], int]:
    import cv2
    from insightface.app import FaceAnalysis

    pack = work / "insightface" / "models" / "shared"  # FaceAnalysis finds its models in a pack folder
    pack.mkdir(parents=True)
    os.symlink(MODELS / "scrfd_500m.onnx", pack / "det_500m.onnx")
    os.symlink(MODELS / "mobilefacenet.onnx", pack / "w600k_mbf.onnx")
    app = FaceAnalysis(name="shared", root=str(work / "insightface"), allowed_modules=["detection", "recognition"],
                       providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1, det_size=(640, 640))
    app.get(cv2.imread(str(files[0])))  # warm-up
    times, faces = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        faces = sum(len(app.get(cv2.imread(str(path)))) for path in files)
        times.append(time.perf_counter() - start)
    return times, faces


def gallery_runs(files: list[Path], work: Path, repeats: int, with_ray: bool) -> dict:
    from gallery.faces.batch import embed_files
    from gallery.faces.pipeline import FacePipeline
    from gallery.config.settings import load_settings
    from indexer.runner import index_collection

    collection = work / "collection"
    for path in files:
        (collection / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, collection / path.parent.name / path.name)
    env = {"HOME": str(work), "HF_HUB_OFFLINE": "1"}
    settings = load_settings(ROOT / "profiles" / "shared-onnx.toml", env, data_dir=str(work / "warm"))
    pipeline = FacePipeline(settings)
    pipeline.layout  # models loaded before timing, as in a long run
    embed_files(pipeline, files[:2])  # warm-up
    embed_times, index_times, faces = [], [], {}
    for run in range(repeats):
        start = time.perf_counter()
        embedded = embed_files(pipeline, files)
        embed_times.append(time.perf_counter() - start)
        faces["embed"] = len(embedded.vectors)
        fresh = load_settings(ROOT / "profiles" / "shared-onnx.toml", env, data_dir=str(work / f"data{run}"))
        start = time.perf_counter()
        summary = index_collection(fresh, collection, pipeline=pipeline)
        index_times.append(time.perf_counter() - start)
        faces["index"] = summary.counts["faces_added"]
    out = {"embed": embed_times, "index": index_times, "faces": faces, "reader_processes": settings.reader_processes}
    if with_ray:
        ray_times = []
        for run in range(repeats):
            fresh = load_settings(ROOT / "profiles" / "shared-onnx.toml", env, data_dir=str(work / f"ray{run}"))
            start = time.perf_counter()
            summary = index_collection(fresh, collection, pipeline=pipeline, ray="local")
            ray_times.append(time.perf_counter() - start)
            faces["index --ray local"] = summary.counts["faces_added"]
        out["index --ray local"] = ray_times
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ray", action="store_true", help="also index through a local Ray cluster")
    args = parser.parse_args()
    if not (MODELS / "scrfd_500m.onnx").exists() or not LFW.is_dir():
        sys.exit(f"needs {MODELS} and {LFW} (see ../shared/README.md)")
    files = sorted(LFW.rglob("*.jpg"))[:args.images]
    work = Path(tempfile.mkdtemp(prefix="gallery-indexer-bench-"))
    try:
        theirs, their_faces = insightface_run(files, work, args.repeats)
        ours = gallery_runs(files, work, args.repeats, args.ray)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runs = {"insightface": theirs, **{k: ours[k] for k in ("embed", "index", "index --ray local") if k in ours}}
    seconds = {name: statistics.median(times) for name, times in runs.items()}
    faces = {"insightface": their_faces, **ours["faces"]}
    rows = [{"pipeline": name, "images": len(files), "faces": faces[name], "seconds": round(seconds[name], 2),
             "faces_per_s": round(faces[name] / seconds[name], 1), "runs": [round(t, 2) for t in times]}
            for name, times in runs.items()]
    report = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count()}, "rows": rows,
              "reader_processes": ours["reader_processes"],
              "embed_over_insightface_time": round(seconds["embed"] / seconds["insightface"], 3),
              "index_over_embed_rate": round((faces["index"] / seconds["index"]) / (faces["embed"] / seconds["embed"]), 3)}
    print(f"{report['machine']['cpu']}, {os.cpu_count()} cores; {len(files)} lfw-mini photographs, "
          f"median of {args.repeats} runs")
    print(f"{'pipeline':<18} {'faces':>6} {'seconds':>8} {'faces/s':>8}  runs")
    for row in rows:
        print(f"{row['pipeline']:<18} {row['faces']:>6} {row['seconds']:>8.2f} {row['faces_per_s']:>8.1f}  {row['runs']}")
    print(f"embed / insightface wall time: {report['embed_over_insightface_time']:.2f} (goal <= 0.8); "
          f"index / embed rate: {report['index_over_embed_rate']:.2f} (goal >= 0.85)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
