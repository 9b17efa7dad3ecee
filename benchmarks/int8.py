"""int8 against fp32 with the shared ONNX models on lfw-mini: the accuracy guard and the speed.

1. Calibrates SCRFD-500M and MobileFaceNet as `--precision int8` does (gallery.faces.int8: the
   collection's first `int8_pictures`, 100 by default, a fifth held out), in a fresh weights folder;
   lfw-mini plays the collection. Prints what each model's check measured.
2. Every lfw-mini photograph through four pipelines: fp32, the recogniser in int8, the detector in
   int8, both. Each photograph's largest face; EER and TAR at 0.1 % and 1 % FAR over every pair of
   photographs (600 genuine pairs, 79,200 impostor pairs), and the best accuracy on pairs.csv.
   The guard: EER and TAR@0.1 % FAR within 0.3 points of fp32.
3. The cosine between each face's fp32 and int8 vectors (both ways of detecting it).
4. Speed, after a warm-up: the recogniser in faces/s at batches 1 and 32, the detector in images/s
   at 640 x 640, fp32 and int8, against the CPU's rate for a 1024 x 1024 x 1024 matrix product run
   by onnxruntime in fp32 (MatMul) and in int8 (MatMulInteger, uint8 x int8): the roofline. The
   models' operations are counted from their graphs (Conv and Gemm/MatMul multiply-adds, x2).

--data DIR runs steps 1-3 on another folder per sitter in lfw-mini's shape, e.g. lfw-mini rendered
as paintings by benchmarks/painted.py (calibrated on those paintings too; pairs.csv is read where the
folder has one); --no-speed leaves out step 4.

Prints a table and writes benchmarks/results/int8.json (or --out).

    python benchmarks/int8.py [--seconds 3] [--data DIR] [--no-speed] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gallery.config.device import cpu_has_bf16, cpu_name  # noqa: E402

SHARED = ROOT.parent / "shared"
MODELS = SHARED / "models"
LFW = SHARED / "data" / "lfw-mini"
RESULTS = Path(__file__).parent / "results" / "int8.json"
GUARD_POINTS = 0.3


def pipelines(home: Path, data: Path):
    from gallery.config.settings import load_settings
    from gallery.faces.pipeline import FacePipeline

    profile = home / "profile.toml"
    profile.write_text(f'[detector]\nkind = "scrfd"\nweights = "{MODELS / "scrfd_500m.onnx"}"\n\n'
                       f'[[encoders]]\nname = "mobilefacenet"\nkind = "onnx"\n'
                       f'weights = "{MODELS / "mobilefacenet.onnx"}"\nweight = 1.0\n')
    settings = load_settings(profile, {"HOME": str(home), "HF_HUB_OFFLINE": "1", "GALLERY_DATA_DIR": str(home / "data")})
    pictures = sorted(p for p in data.glob("*/*") if p.suffix.lower() in (".jpg", ".png"))
    fp32 = FacePipeline(dataclasses.replace(settings, precision="fp32"))
    int8 = FacePipeline(dataclasses.replace(settings, precision="int8"), calibration=lambda: iter(pictures))
    return fp32, int8, pictures


def largest_faces(pipeline, pictures):
    """The aligned crop of each picture's largest face (None where none is found)."""
    crops = []
    for path in pictures:
        image = pipeline.load(path)
        faces = pipeline.detect(image)
        crops.append(pipeline.crops(image, faces[:1])[pipeline.encoders[0].crop][0] if faces else None)
    return crops


def vectors(encoder, crops) -> np.ndarray:
    out = np.zeros((len(crops), 128), np.float32)
    found = [i for i, c in enumerate(crops) if c is not None]
    out[found] = encoder.encode(np.stack([crops[i] for i in found]))
    return out


def guard(vecs: np.ndarray, labels: np.ndarray, names: list[str], data: Path) -> dict:
    from gallery.evaluation.metrics import eer, pair_scores, roc, tar_at_far

    genuine, impostor = pair_scores(vecs @ vecs.T, labels)
    curve = roc(genuine, impostor)
    index = {name: i for i, name in enumerate(names)}
    pairs = data / "pairs.csv"  # the best accuracy on it where the folder has one
    scores, same = [], []
    for row in csv.DictReader(pairs.read_text().splitlines()) if pairs.exists() else []:
        scores.append(float(vecs[index[row["image_a"]]] @ vecs[index[row["image_b"]]]))
        same.append(row["same"] in ("1", "True", "true"))
    scores, same = np.asarray(scores), np.asarray(same)
    accuracy = max((float(np.mean((scores >= t) == same)) for t in np.unique(scores)), default=float("nan"))
    return {"eer_pct": round(100 * eer(curve), 2), "tar_at_far_0.1_pct": round(100 * tar_at_far(curve, 1e-3), 2),
            "tar_at_far_1_pct": round(100 * tar_at_far(curve, 1e-2), 2), "pairs_accuracy_pct": round(100 * accuracy, 2),
            "genuine_pairs": int(len(genuine)), "impostor_pairs": int(len(impostor))}


def gemm_rates(seconds: float) -> dict:
    """GFLOP/s (GOP/s in int8) of a 1024^3 matrix product run by onnxruntime, fp32 and uint8 x int8."""
    from onnx import TensorProto, helper

    from gallery.faces.onnx_runtime import open_session

    n = 1024
    rng = np.random.default_rng(0)
    out = {}
    for name, op, a_type, b_type in (("fp32", "MatMul", TensorProto.FLOAT, TensorProto.FLOAT),
                                     ("int8", "MatMulInteger", TensorProto.UINT8, TensorProto.INT8)):
        graph = helper.make_graph([helper.make_node(op, ["a", "b"], ["c"])], "gemm",
                                  [helper.make_tensor_value_info("a", a_type, [n, n]),
                                   helper.make_tensor_value_info("b", b_type, [n, n])],
                                  [helper.make_tensor_value_info("c", TensorProto.INT32 if name == "int8" else
                                                                 TensorProto.FLOAT, [n, n])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        session = open_session(model.SerializeToString(), ["CPUExecutionProvider"], f"{name} GEMM")
        if name == "fp32":
            feed = {"a": rng.standard_normal((n, n), np.float32), "b": rng.standard_normal((n, n), np.float32)}
        else:
            feed = {"a": rng.integers(0, 255, (n, n), np.uint8), "b": rng.integers(-127, 127, (n, n), np.int8)}
        out[name] = round(2 * n**3 * rate(lambda: session.run(None, feed), seconds) / 1e9, 1)
    return out


def gflop(model_path: Path, shape: tuple[int, ...]) -> float:
    """Multiply-adds x 2 of the model's Conv and Gemm/MatMul nodes for one input of `shape`."""
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(model_path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, size in zip(dims, shape):
        dim.ClearField("dim_param")
        dim.dim_value = size
    model = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input)}
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        out = shapes.get(node.output[0])
        if not out or node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        w = weights.get(node.input[1])
        if w is None:
            continue
        per_output = int(np.prod(w[1:])) if node.op_type == "Conv" else w[0]
        total += int(np.prod(out)) * per_output
    return 2 * total / 1e9


def rate(call, seconds: float) -> float:
    call()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done < 3:
        call()
        done += 1
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--data", type=Path, default=LFW, help="a folder per sitter (default: lfw-mini)")
    parser.add_argument("--no-speed", action="store_true", help="the accuracy guard only")
    args = parser.parse_args()
    if not args.data.is_dir() or not MODELS.is_dir():
        sys.exit(f"needs the shared models in {MODELS} and {args.data}")
    with tempfile.TemporaryDirectory(prefix="int8-bench-") as tmp:
        fp32, int8, pictures = pipelines(Path(tmp), args.data)
        started = time.perf_counter()
        int8.info()  # calibrates both models on the collection's first pictures
        calibration_s = time.perf_counter() - started
        records = {path.name: json.loads(path.read_text()) for path in (Path(tmp) / "data" / "weights" / "derived")
                   .glob("*.int8.json")}
        names = [str(p.relative_to(args.data)) for p in pictures]
        labels = np.asarray([p.parent.name for p in pictures])
        crops = {"fp32": largest_faces(fp32, pictures), "int8": largest_faces(int8, pictures)}
        enc = {"fp32": fp32.encoders[0], "int8": int8.encoders[0]}
        vecs = {(d, e): vectors(enc[e], crops[d]) for d in crops for e in enc}
        rows = [{"detector": d, "recogniser": e, "faces": int(sum(c is not None for c in crops[d])),
                 **guard(vecs[(d, e)], labels, names, args.data)} for d, e in vecs]
        base = rows[0]
        for row in rows:
            row["within_guard"] = bool(abs(row["eer_pct"] - base["eer_pct"]) <= GUARD_POINTS and
                                       abs(row["tar_at_far_0.1_pct"] - base["tar_at_far_0.1_pct"]) <= GUARD_POINTS)
        cosines = {}
        for d in crops:
            both = [i for i, c in enumerate(crops[d]) if c is not None]
            cos = (vecs[(d, "fp32")][both] * vecs[(d, "int8")][both]).sum(1)
            cosines[f"{d} detection"] = {"mean": round(float(cos.mean()), 5), "min": round(float(cos.min()), 5),
                                         "p01": round(float(np.percentile(cos, 1)), 5)}
        both = [i for i in range(len(pictures)) if crops["fp32"][i] is not None and crops["int8"][i] is not None]
        whole = (vecs[("fp32", "fp32")][both] * vecs[("int8", "int8")][both]).sum(1)
        cosines["fp32 pipeline against int8 pipeline"] = {"mean": round(float(whole.mean()), 5),
                                                          "min": round(float(whole.min()), 5),
                                                          "p01": round(float(np.percentile(whole, 1)), 5)}
        roof = {} if args.no_speed else gemm_rates(args.seconds)
        face_batch = {b: np.stack([c for c in crops["fp32"] if c is not None][:b]) for b in (1, 32)}
        rec_gflop = gflop(MODELS / "mobilefacenet.onnx", (1, 3, 112, 112))
        det_gflop = gflop(MODELS / "scrfd_500m.onnx", (1, 3, 640, 640))
        speed = []
        for precision, pipeline in () if args.no_speed else (("fp32", fp32), ("int8", int8)):
            encoder = pipeline.encoders[0]
            for batch, faces in face_batch.items():
                per_s = batch * rate(lambda: encoder.encode(faces), args.seconds)
                speed.append({"model": "MobileFaceNet", "precision": precision, "batch": batch,
                              "per_s": round(per_s, 1), "gflops": round(per_s * rec_gflop, 1),
                              "of_roofline": round(per_s * rec_gflop / roof[precision], 3)})
            scrfd = pipeline.detector.model
            blob = np.zeros((1, 3, 640, 640), np.float32)
            per_s = rate(lambda: scrfd.session.run(None, {scrfd.input_name: blob}), args.seconds)
            speed.append({"model": "SCRFD-500M at 640", "precision": precision, "batch": 1, "per_s": round(per_s, 1),
                          "gflops": round(per_s * det_gflop, 1), "of_roofline": round(per_s * det_gflop / roof[precision], 3)})
    report = {"machine": {"cpu": cpu_name(), "bf16_cpu": cpu_has_bf16()}, "data": str(args.data), "calibration_s": round(calibration_s, 1),
              "calibration_records": records, "guard_points": GUARD_POINTS, "rows": rows, "cosines": cosines,
              "roofline_gops": roof, "gflop": {"MobileFaceNet": round(rec_gflop, 3), "SCRFD-500M at 640": round(det_gflop, 3)},
              "speed": speed}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{cpu_name()} (bf16: {cpu_has_bf16()}); calibration {calibration_s:.1f} s")
    for name, record in records.items():
        print(f"  {name[:12]}… measured {record.get('measured')}")
    print(f"{'detector':<9} {'recogniser':<11} {'faces':>5} {'EER %':>6} {'TAR@0.1%':>9} {'TAR@1%':>7} {'pairs %':>8} guard")
    for r in rows:
        print(f"{r['detector']:<9} {r['recogniser']:<11} {r['faces']:>5} {r['eer_pct']:>6.2f} "
              f"{r['tar_at_far_0.1_pct']:>9.2f} {r['tar_at_far_1_pct']:>7.2f} {r['pairs_accuracy_pct']:>8.2f} "
              f"{'within' if r['within_guard'] else 'OUTSIDE'}")
    for name, c in cosines.items():
        print(f"cosine fp32 vs int8, {name}: mean {c['mean']:.4f}, 1st percentile {c['p01']:.4f}, min {c['min']:.4f}")
    if args.no_speed:
        print(f"-> {args.out}")
        return
    print(f"roofline: fp32 {roof['fp32']} GFLOP/s, int8 {roof['int8']} GOP/s (onnxruntime, 1024^3)")
    print(f"{'model':<18} {'prec':<5} {'batch':>5} {'per s':>8} {'GOP/s':>7} {'of roofline':>12}")
    for s in speed:
        print(f"{s['model']:<18} {s['precision']:<5} {s['batch']:>5} {s['per_s']:>8.1f} {s['gflops']:>7.1f} "
              f"{s['of_roofline']:>11.0%}")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
