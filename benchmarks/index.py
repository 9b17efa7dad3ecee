"""Indexing and vector search: end-to-end indexing rate against the encoder-only rate, search
latency and IVF recall on synthetic vectors, and bytes per face.

1. End to end: `index_collection` on ../shared/data/lfw-mini (400 images) into a fresh database,
   per profile; against the encoders alone on the same aligned crops (faces/s). Profiles:
   - shared-onnx: SCRFD-500M + MobileFaceNet (real weights; detection-bound by design);
   - artface-shape: SCRFD-500M + CLIP ViT-B/16 + 2 x IResNet100, randomly initialised (the
     product's compute; speed does not depend on weight values).
2. Search: Flat and IVF over 10k / 100k / 1M synthetic clustered unit vectors (the artface
   fusion's 1536 dimensions), p50/p95 latency of one query, recall@10 of IVF against Flat.
3. Bytes per face: database and index folder on disk, and the index in memory: counted from the
   formats for every row; for the product's own indexes ("auto" and PQ) also measured, as the
   private memory of a fresh process that opens the saved index and runs the queries, with its
   float16 copy read in and memory-mapped (`index_map_bytes`).

    python benchmarks/index.py [--sizes 10000,100000,1000000] [--profiles shared-onnx,artface-shape]
                               [--indexes flat,ivf,auto,pq] [--gpu]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.memory import memory_bytes  # noqa: E402
from benchmarks.synthetic import Synthetic  # noqa: E402
from gallery.config.device import cpu_name  # noqa: E402
from gallery.config.profiles import DetectorSpec, EncoderSpec, ProfileSpec  # noqa: E402
from gallery.config.settings import load_settings  # noqa: E402

SHARED = ROOT.parent / "shared"
LFW = SHARED / "data" / "lfw-mini"
RESULTS = Path(__file__).parent / "results" / "index.json"
FUSED_DIM = 1536  # CLIP 512 + IResNet100 512 + 512


def _settings(profile_name: str, data_dir: Path):
    env = {"HOME": str(data_dir), "HF_HUB_OFFLINE": "1"}
    if profile_name == "shared-onnx":
        return load_settings(ROOT / "profiles" / "shared-onnx.toml", env, data_dir=str(data_dir))
    base = load_settings(None, env, data_dir=str(data_dir))
    profile = ProfileSpec("artface-shape", DetectorSpec("scrfd", str(SHARED / "models" / "scrfd_500m.onnx")),
                          (EncoderSpec("clip", "clip", None), EncoderSpec("iresnet_base", "iresnet100", None),
                           EncoderSpec("iresnet_tuned", "iresnet100", None)))
    return replace(base, profile=profile)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def end_to_end(profile_name: str, limit: int | None) -> dict:
    from gallery.faces.pipeline import FacePipeline
    from indexer.runner import index_collection

    work = Path(tempfile.mkdtemp(prefix="gallery-bench-"))
    try:
        collection = work / "collection"
        images = sorted(LFW.rglob("*.jpg"))[:limit]
        for image in images:
            (collection / image.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(image, collection / image.parent.name / image.name)
        settings = _settings(profile_name, work / "data")
        pipeline = FacePipeline(settings)
        pipeline.layout  # models loaded before timing, as in a long run
        start = time.perf_counter()
        summary = index_collection(settings, collection, pipeline=pipeline)
        seconds = time.perf_counter() - start
        faces = summary.counts["faces_added"]
        encoder_rate = _encoder_only(pipeline, collection, min(faces, 96))
        db_bytes = _folder_bytes(work / "data") - _folder_bytes(settings.index_dir)
        return {"profile": profile_name, "images": len(images), "faces": faces, "seconds": round(seconds, 2),
                "images_per_s": round(len(images) / seconds, 2), "faces_per_s": round(faces / seconds, 2),
                "encoder_only_faces_per_s": round(encoder_rate, 2),
                "end_to_end_fraction": round(faces / seconds / encoder_rate, 3),
                "precision": pipeline.placement.precision, "reader_processes": settings.reader_processes,
                "db_bytes_per_face": round(db_bytes / faces), "index_bytes_per_face":
                    round(_folder_bytes(settings.index_dir) / faces)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _encoder_only(pipeline, collection: Path, faces: int) -> float:
    """Faces/s through the encoders alone, on aligned crops of the collection's faces."""
    crops: list = []
    for path in sorted(collection.rglob("*.jpg")):
        cropped = pipeline.crop_image(pipeline.load(path))
        crops.append(cropped)
        if sum(len(c.faces) for c in crops) >= faces:
            break
    batch = pipeline.settings.batch_size
    stacked = {s: np.concatenate([c.crops[s] for c in crops]) for s in crops[0].crops}
    total = len(next(iter(stacked.values())))
    pipeline.embed_crops({s: v[:batch] for s, v in stacked.items()})  # warm-up
    start = time.perf_counter()
    for i in range(0, total, batch):
        pipeline.embed_crops({s: v[i:i + batch] for s, v in stacked.items()})
    return total / (time.perf_counter() - start)


def build_faiss(data: Synthetic, factory: str):
    """The index VectorIndex builds (face ids held as it holds them, inner product, trained on a
    sample, IVF nprobe), filled chunk by chunk."""
    import faiss

    from gallery.index.choice import IVF_NPROBE, TRAIN_SAMPLE
    from gallery.index.placement import with_face_ids

    index = with_face_ids(faiss.index_factory(data.dim, factory, faiss.METRIC_INNER_PRODUCT))
    chunks = data.chunks()
    ids, first = next(chunks)
    if not index.is_trained:
        sample = [first]
        while sum(len(s) for s in sample) < min(TRAIN_SAMPLE, data.n):
            more_ids, more = next(chunks)
            sample.append(more)
            ids = np.concatenate([ids, more_ids])
        index.train(np.concatenate(sample)[:TRAIN_SAMPLE])
        first = np.concatenate(sample)
        faiss.extract_index_ivf(index).nprobe = IVF_NPROBE
    index.add_with_ids(first, ids)
    for ids, block in chunks:
        index.add_with_ids(block, ids)
    return index


def build_vector_index(data: Synthetic, factory: str, gpu: bool = False):
    """A VectorIndex as the product builds it: "auto" (exact while small, else IVF tuned to its
    recall), or a PQ factory (the shortlist scored again exactly); on the GPU with `gpu` where
    FAISS has GPU support and sees one."""
    from gallery.index.vector_index import VectorIndex

    index = VectorIndex(data.dim, factory, use_gpu=gpu)
    for ids, block in data.chunks():
        index.add(ids, block)
    index.search(data.queries[:1], 10)  # chooses, trains (and tunes)
    return index


KINDS = ("flat", "ivf", "auto", "pq")  # Flat (the recall's reference: always run), IVF-Flat, auto, IVF-PQ


def search_rows(sizes: list[int], dim: int, kinds: tuple[str, ...] = KINDS, gpu: bool = False) -> list[dict]:
    """With `gpu`, every index is a VectorIndex placed on the GPU (FAISS's plain factories too)."""
    from gallery.index.placement import on_gpu

    rows = []
    for n in sizes:
        data = Synthetic(n, dim)
        queries = data.queries[: 200 if n <= 100_000 else 50]
        truth = None
        nlist = int(min(4096, max(64, 4 * np.sqrt(n))))
        plain = ("Flat", f"IVF{nlist},Flat")
        named = dict(zip(KINDS, (*plain, "auto", f"IVF{nlist},PQ{dim // 8}")))
        for factory in [named[k] for k in KINDS if k == "flat" or k in kinds]:
            start = time.perf_counter()
            index = build_faiss(data, factory) if factory in plain and not gpu else \
                build_vector_index(data, factory, gpu)
            build = time.perf_counter() - start
            device = "gpu" if on_gpu(getattr(index, "index", index)) else "cpu"
            if factory == "auto":
                nprobe = f" nprobe {index.choice.nprobe}" if index.choice.nprobe else ""
                factory = f"auto: {index.choice.factory}{nprobe}"
            index.search(queries[:3], 10)
            latencies, found = [], []
            for q in queries:
                t = time.perf_counter()
                _, ids = index.search(q[None], 10)
                latencies.append(time.perf_counter() - t)
                found.append(ids[0])
            truth = found if truth is None else truth
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))
            # in memory: FAISS's vectors (float32; float16 for SQfp16; PQ: a byte per sub-quantiser) and
            # ids (IVF lists hold ids too), plus the index's float16 copy
            faiss_bytes = dim // 8 if "PQ" in factory else 2 * dim if "SQfp16" in factory else 4 * dim
            memory = faiss_bytes + 8 + (8 if "IVF" in factory else 0) + 2 * dim + 8
            rows.append({"vectors": n, "factory": factory, "device": device, "build_s": round(build, 2),
                         "p50_ms": round(1000 * float(np.percentile(latencies, 50)), 3),
                         "p95_ms": round(1000 * float(np.percentile(latencies, 95)), 3),
                         "recall_at_10": round(recall, 4), "memory_bytes_per_face": memory,
                         "resident": None if factory in plain or device == "gpu" else _resident(index, queries)})
            del index
    return rows


def _resident(index, queries: np.ndarray) -> dict:
    """Private memory per face of the saved index opened in a fresh process and searched, its
    float16 copy read in ("read_in") and memory-mapped ("mapped")."""
    folder = Path(tempfile.mkdtemp(prefix="gallery-index-"))
    try:
        index.save(folder, "benchmark")
        np.save(folder / "queries.npy", queries)
        measured = {}
        for name, map_bytes in (("read_in", 1 << 62), ("mapped", 0)):
            child = subprocess.run([sys.executable, __file__, "--resident", str(folder), index.factory, str(map_bytes)],
                                   capture_output=True, text=True, check=True)
            measured[name] = json.loads(child.stdout.splitlines()[-1])
        return measured
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def resident_child(folder: Path, factory: str, map_bytes: int) -> None:
    import faiss  # noqa: F401 (its libraries loaded before the baseline, so they are not counted)

    from gallery.index.choice import IndexRule
    from gallery.index.files import MANIFEST
    from gallery.index.opening import open_index

    dim = json.loads((folder / MANIFEST).read_text())["dim"]
    queries = np.load(folder / "queries.npy")
    before = memory_bytes()
    opened = open_index(folder, "benchmark", dim, factory, use_gpu=False, rule=IndexRule(map_bytes=map_bytes))
    assert opened.health == "consistent", opened.detail
    for query in queries:
        opened.index.search(query[None], 10)
    after, faces = memory_bytes(), len(opened.index)
    print(json.dumps({"anon_bytes_per_face": round((after["RssAnon"] - before["RssAnon"]) / faces),
                      "file_bytes_per_face": round((after["RssFile"] - before["RssFile"]) / faces)}))


def main() -> None:
    if sys.argv[1:2] == ["--resident"]:
        return resident_child(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--profiles", default="shared-onnx,artface-shape")
    parser.add_argument("--images", type=int, default=None, help="index only the first N images of lfw-mini")
    parser.add_argument("--dim", type=int, default=FUSED_DIM)
    parser.add_argument("--indexes", default=",".join(KINDS), help=f"of {', '.join(KINDS)} (flat always runs)")
    parser.add_argument("--gpu", action="store_true", help="search indexes on the GPU (faiss-gpu, a GPU seen)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not LFW.exists():
        sys.exit(f"{LFW} is absent (see ../shared/README.md)")
    e2e = [end_to_end(p, args.images) for p in args.profiles.split(",") if p]
    search = search_rows([int(s) for s in args.sizes.split(",") if s], args.dim, tuple(args.indexes.split(",")),
                         args.gpu)
    report = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count()}, "end_to_end": e2e, "search": search}
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'profile':<15} {'images':>6} {'faces':>6} {'img/s':>7} {'faces/s':>8} {'encoders only':>13} "
          f"{'e2e/enc':>8} {'DB B/face':>10} {'index B/face':>12}")
    for r in e2e:
        print(f"{r['profile']:<15} {r['images']:>6} {r['faces']:>6} {r['images_per_s']:>7.1f} {r['faces_per_s']:>8.1f} "
              f"{r['encoder_only_faces_per_s']:>13.1f} {r['end_to_end_fraction']:>8.0%} {r['db_bytes_per_face']:>10} "
              f"{r['index_bytes_per_face']:>12}")
    print(f"\n{'vectors':>9} {'index':<28} {'dev':>3} {'build s':>8} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>9} "
          f"{'mem B/face':>10} {'private B/face, read in / mapped':>33}")
    for r in search:
        measured = r["resident"] and f"{r['resident']['read_in']['anon_bytes_per_face']} / " \
                                     f"{r['resident']['mapped']['anon_bytes_per_face']}"
        print(f"{r['vectors']:>9} {r['factory']:<28} {r['device']:>3} {r['build_s']:>8.2f} {r['p50_ms']:>8.2f} "
              f"{r['p95_ms']:>8.2f} {r['recall_at_10']:>9.3f} {r['memory_bytes_per_face']:>10} {measured or '':>33}")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
