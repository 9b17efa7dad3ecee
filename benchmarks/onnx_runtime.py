"""The onnxruntime paths the pipeline takes, each against what it replaced, with the shared models:

1. SCRFD's input at 640 x 640: cv2.dnn.blobFromImage (insightface's) against gallery.faces.scrfd's;
2. SCRFD-500M then MobileFaceNet on one face, alternately, with onnxruntime's threads spinning
   between runs (its default) and without (gallery.faces.onnx_runtime.open_session); each alone too;
3. MobileFaceNet at its fixed batch of 1, face by face, against the freed batch (32 a run).

Milliseconds are the mean of --runs calls after a warm-up. Prints a table and writes
benchmarks/results/onnx_runtime.json.

    python benchmarks/onnx_runtime.py [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gallery.config.device import cpu_name  # noqa: E402

MODELS = ROOT.parent / "shared" / "models"
RESULTS = Path(__file__).parent / "results" / "onnx_runtime.json"
CPU = ["CPUExecutionProvider"]


def mean_ms(call, runs: int) -> float:
    call()
    start = time.perf_counter()
    for _ in range(runs):
        call()
    return 1000 * (time.perf_counter() - start) / runs


def blob_rows(runs: int) -> list[dict]:
    import cv2

    from gallery.faces.scrfd import Scrfd

    canvas = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    detector = Scrfd(MODELS / "scrfd_500m.onnx", CPU, 640, 0.5, 0.4)
    theirs = mean_ms(lambda: cv2.dnn.blobFromImage(canvas, 1 / 128, (640, 640), (127.5,) * 3, swapRB=True), runs)
    whole = mean_ms(lambda: detector.detect(canvas), runs)
    run_only = mean_ms(lambda: detector.session.run(detector.output_names, {detector.input_name: np.zeros(
        (1, 3, 640, 640), np.float32)}), runs)
    return [{"what": "SCRFD input blob, cv2.dnn.blobFromImage", "ms": round(theirs, 2)},
            {"what": "SCRFD detect, whole (gallery.faces.scrfd)", "ms": round(whole, 2)},
            {"what": "SCRFD network run alone", "ms": round(run_only, 2)},
            {"what": "gallery.faces.scrfd around the network (detect - run)", "ms": round(whole - run_only, 2)}]


def spinning_rows(runs: int) -> list[dict]:
    import onnxruntime as ort

    from gallery.faces.onnx_runtime import open_session

    image = np.random.default_rng(1).uniform(-1, 1, (1, 3, 640, 640)).astype(np.float32)
    face = np.random.default_rng(2).uniform(-1, 1, (1, 3, 112, 112)).astype(np.float32)
    rows = []
    for spinning in (True, False):
        if spinning:  # onnxruntime's defaults
            detector = ort.InferenceSession(str(MODELS / "scrfd_500m.onnx"), providers=CPU)
            encoder = ort.InferenceSession(str(MODELS / "mobilefacenet.onnx"), providers=CPU)
        else:
            detector = open_session(MODELS / "scrfd_500m.onnx", CPU, "detector")
            encoder = open_session(MODELS / "mobilefacenet.onnx", CPU, "encoder")
        det = {detector.get_inputs()[0].name: image}
        enc = {encoder.get_inputs()[0].name: face}
        label = "spinning (default)" if spinning else "no spinning"
        rows += [{"what": f"detector then encoder, alternating, {label}",
                  "ms": round(mean_ms(lambda: (detector.run(None, det), encoder.run(None, enc)), runs), 2)},
                 {"what": f"detector alone, {label}", "ms": round(mean_ms(lambda: detector.run(None, det), runs), 2)},
                 {"what": f"encoder alone, {label}", "ms": round(mean_ms(lambda: encoder.run(None, enc), runs), 2)}]
    return rows


def batch_rows(runs: int) -> list[dict]:
    from gallery.faces.onnx_runtime import batch_freed, open_session

    path = MODELS / "mobilefacenet.onnx"
    fixed = open_session(path, CPU, "fixed")
    freed = open_session(batch_freed(path), CPU, "freed")
    name = fixed.get_inputs()[0].name
    faces = np.random.default_rng(3).uniform(-1, 1, (32, 3, 112, 112)).astype(np.float32)
    one_by_one = mean_ms(lambda: [fixed.run(None, {name: faces[i:i + 1]}) for i in range(32)], max(1, runs // 5))
    together = mean_ms(lambda: freed.run(None, {name: faces}), max(1, runs // 5))
    return [{"what": "MobileFaceNet, fixed batch of 1 (faces/s)", "faces_per_s": round(32000 / one_by_one)},
            {"what": "MobileFaceNet, freed batch, 32 a run (faces/s)", "faces_per_s": round(32000 / together)}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    if not (MODELS / "scrfd_500m.onnx").exists():
        sys.exit(f"needs {MODELS} (see ../shared/README.md)")
    rows = blob_rows(args.runs) + spinning_rows(args.runs) + batch_rows(args.runs)
    report = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count()}, "runs": args.runs, "rows": rows}
    print(f"{report['machine']['cpu']}, {os.cpu_count()} cores; mean of {args.runs} calls")
    for row in rows:
        value = f"{row['ms']:8.2f} ms" if "ms" in row else f"{row['faces_per_s']:8d} faces/s"
        print(f"{row['what']:<62} {value}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
