"""The onnxruntime paths the pipeline takes, each against what it replaced, with the shared models:

1. SCRFD's input at 640 x 640: cv2.dnn.blobFromImage (insightface's) against gallery.faces.scrfd's;
2. SCRFD-500M then MobileFaceNet on one face, alternately, with onnxruntime's threads spinning
   between runs (its default) and without (gallery.faces.onnx_runtime.open_session); each alone too;
3. MobileFaceNet at its fixed batch of 1, face by face, against the freed batch (32 a run);
4. SCRFD-500M over --images lfw-mini photographs (their detection inputs at 640 x 640, as the
   pipeline builds them): one image at a time on a session over every core, against one image per
   core at once, each in a thread with a session of its own on one core (FacePipeline.each_image);
   the network runs alone, then the whole detection (input, network, decoding) of each image.

Milliseconds are the mean of --runs calls after a warm-up. Prints a table and writes
benchmarks/results/onnx_runtime.json.

    python benchmarks/onnx_runtime.py [--runs 50] [--images 300]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
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


def side_by_side_rows(images: int) -> list[dict]:
    from gallery.config.device import cpu_cores
    from gallery.core.in_order import in_order
    from gallery.faces.images import load_image
    from gallery.faces.scrfd import Scrfd

    pictures = [load_image(p, 400_000_000).rgb[:, :, ::-1].copy()
                for p in sorted((ROOT.parent / "shared" / "data" / "lfw-mini").glob("*/*.jpg"))[:images]]
    cores = cpu_cores()
    every = Scrfd(MODELS / "scrfd_500m.onnx", CPU, 640, 0.5, 0.4)
    blobs = []
    every.record = blobs
    for bgr in pictures:  # warm-up, and the inputs as the pipeline builds them
        every.detect(bgr)
    every.record = None
    local = threading.local()

    def mine():  # this worker thread's session
        return local.scrfd

    def seconds(work) -> float:
        start = time.perf_counter()
        work()
        return time.perf_counter() - start

    def network(scrfd, blob):
        scrfd.session.run(scrfd.output_names, {scrfd.input_name: blob})

    rows = []
    for what, one, many in (("network runs", lambda b: network(every, b), lambda b: network(mine(), b)),
                            ("whole detection", every.detect, lambda bgr: mine().detect(bgr))):
        items = blobs if what == "network runs" else pictures
        alone = seconds(lambda: [one(item) for item in items])
        free = queue.SimpleQueue()  # one single-core session for each worker thread, taken as it starts
        for _ in range(cores):
            free.put(Scrfd(MODELS / "scrfd_500m.onnx", CPU, 640, 0.5, 0.4, threads=1))
        together = seconds(lambda: list(in_order(many, items, cores,
                                                 initializer=lambda: setattr(local, "scrfd", free.get()))))
        rows += [{"what": f"SCRFD {what}, one image at a time on {cores} cores (images/s)",
                  "images_per_s": round(len(items) / alone, 1)},
                 {"what": f"SCRFD {what}, {cores} images at once, one core each (images/s)",
                  "images_per_s": round(len(items) / together, 1)}]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--images", type=int, default=300, help="lfw-mini photographs for the side-by-side rows")
    args = parser.parse_args()
    if not (MODELS / "scrfd_500m.onnx").exists():
        sys.exit(f"needs {MODELS} (see ../shared/README.md)")
    rows = blob_rows(args.runs) + spinning_rows(args.runs) + batch_rows(args.runs) + side_by_side_rows(args.images)
    report = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count()}, "runs": args.runs, "rows": rows}
    print(f"{report['machine']['cpu']}, {os.cpu_count()} cores; mean of {args.runs} calls")
    for row in rows:
        value = (f"{row['ms']:8.2f} ms" if "ms" in row else f"{row['images_per_s']:8.1f} images/s"
                 if "images_per_s" in row else f"{row['faces_per_s']:8d} faces/s")
        print(f"{row['what']:<62} {value}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
