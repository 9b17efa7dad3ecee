"""Query latency end to end: uploaded bytes -> faces -> fused vector -> FAISS -> ranked sitters,
against collections of 10k and 100k indexed faces, on this machine's CPU.

Profile: the `base` profile's networks (SCRFD + CLIP ViT-B/16 + IResNet100), randomly initialised
(speed does not depend on weight values; the public weights cannot be downloaded here), with
SCRFD-500M from ../shared/models, on the device and in the precision `auto` picks (a CUDA GPU in
fp16 where torch sees one; else bf16 on CPUs with AVX512-BF16, fp32 otherwise); FAISS on the GPU
where it has GPU support and sees one.
The collection is synthetic: N faces of N/4 sitters, their vectors (shaped like face embeddings:
4 faces a sitter, sitters in look-alike families, benchmarks/synthetic.py), identifications and
thumbnails in a real SQLite database, with the query planner's statistics gathered as the indexer
does at the end of a run, searched through the real SearchService. Each query's time
is also split in two: the models (decoding, detection, alignment, the networks) and the search
(FAISS, the database reads, grouping and ranking), timed around the two steps `search` runs.

`--precisions auto,int8,fp32` measures each precision in turn against the same collection (filled
and indexed once). In int8 the detector and IResNet100 are calibrated on lfw-mini's pictures, standing
in for the collection's (the synthetic collection has none), and CLIP's linear layers run
dynamically in int8.

    python benchmarks/query.py [--sizes 10000,100000,1000000] [--queries 30] [--precisions auto,int8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.synthetic import Synthetic  # noqa: E402
from db.collection import embedding_set  # noqa: E402
from db.engine import open_database  # noqa: E402
from gallery.config.device import cpu_name  # noqa: E402
from db.schema import Artwork, Face, FaceVector, Identification, Sitter  # noqa: E402
from gallery.faces.pipeline import FacePipeline  # noqa: E402
from gallery.config.profiles import DetectorSpec, EncoderSpec, ProfileSpec  # noqa: E402
from gallery.search.service import SearchRequest, SearchService  # noqa: E402
from gallery.config.settings import load_settings  # noqa: E402
from gallery.index.placement import on_gpu  # noqa: E402

SHARED = ROOT.parent / "shared"
QUERY = SHARED / "data" / "lfw-mini" / "Al_Gore" / "Al_Gore_0002.jpg"
RESULTS = Path(__file__).parent / "results" / "query.json"


def base_shape_settings(data_dir: Path):
    settings = load_settings(None, {"HOME": str(data_dir), "HF_HUB_OFFLINE": "1"}, data_dir=str(data_dir))
    profile = ProfileSpec("base-shape", DetectorSpec("scrfd", str(SHARED / "models" / "scrfd_500m.onnx")),
                          (EncoderSpec("clip", "clip", None), EncoderSpec("iresnet_base", "iresnet100", None)))
    return replace(settings, profile=profile)


def fill(database, pipeline: FacePipeline, faces: int, rng) -> None:
    """N faces, 4 per sitter, each with a vector near its sitter's (sitters in look-alike families),
    an identification and a thumbnail; then the planner's statistics, as at the end of an indexing run."""
    info = pipeline.info()
    dim = info.fusion.dim
    with database.session() as session:
        eset = embedding_set(session, info.key, info.profile, dim, info.to_json())
        set_id = eset.id
    thumbnail = QUERY.read_bytes()[:6000]
    sitters = faces // 4
    shape = Synthetic(faces, dim)
    with database.engine.begin() as connection:
        connection.execute(Sitter.__table__.insert(), [
            {"id": i + 1, "name": f"Sitter {i:06d}", "alternative_names": [], "external_ids": {}} for i in range(sitters)])
        for start in range(0, faces, 20_000):
            ids = range(start + 1, min(faces, start + 20_000) + 1)
            vectors = shape.draw(rng, np.array([(i - 1) // 4 for i in ids]))
            connection.execute(Artwork.__table__.insert(), [
                {"id": i, "path": f"/synthetic/{i}.jpg", "collection": "/synthetic", "sha256": f"{i:064d}",
                 "status": "present", "title": f"Portrait {i}", "extras": {}} for i in ids])
            connection.execute(Face.__table__.insert(), [
                {"id": i, "artwork_id": i, "face_index": 0, "box": [0, 0, 10, 10], "landmarks": [[0, 0]] * 5,
                 "score": 0.9, "thumbnail": thumbnail, "active": True} for i in ids])
            connection.execute(FaceVector.__table__.insert(), [
                {"face_id": i, "set_id": set_id, "vector": v.astype(np.float16).tobytes()} for i, v in zip(ids, vectors)])
            connection.execute(Identification.__table__.insert(), [
                {"face_id": i, "sitter_id": (i - 1) // 4 + 1, "status": "confirmed", "source": "metadata"} for i in ids])
    database.refresh_statistics()


def measure(size: int, queries: int, precisions: list[str]) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="gallery-query-"))
    try:
        settings = base_shape_settings(work)
        database = open_database(settings.database_url)
        start = time.perf_counter()
        fill(database, FacePipeline(settings), size, np.random.default_rng(0))
        filled = time.perf_counter() - start
        pictures = sorted((SHARED / "data" / "lfw-mini").glob("*/*.jpg"))
        rows = []
        for precision in precisions:
            pipeline = FacePipeline(replace(settings, precision=precision), calibration=lambda: iter(pictures))
            rows.append(_queries(pipeline, database, settings, size, queries) | {"fill_s": round(filled, 1)})
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _queries(pipeline: FacePipeline, database, settings, size: int, queries: int) -> dict:
    service = SearchService(pipeline, database, settings.index_dir)
    data = QUERY.read_bytes()
    start = time.perf_counter()
    service.search(data, "query.jpg")  # opens (builds, for auto: chooses) the index, warms the models
    opened = time.perf_counter() - start
    latencies, models, searches = [], [], []
    request = SearchRequest(data, "query.jpg", candidates=10)
    for _ in range(queries):
        t = time.perf_counter()
        [processed] = service.prepare([request])  # the two steps of service.search, timed apart
        between = time.perf_counter()
        result = service.answer(request, processed, None)
        done = time.perf_counter()
        latencies.append(done - t)
        models.append(between - t)
        searches.append(done - between)
    assert not isinstance(result, Exception) and result.candidates, f"no candidate: {result}"
    return {"faces": size, "device": pipeline.placement.device, "precision": pipeline.placement.precision,
            "faiss": "gpu" if on_gpu(service.index().index) else "cpu", "queries": queries,
            "p50_s": round(float(np.percentile(latencies, 50)), 3),
            "p95_s": round(float(np.percentile(latencies, 95)), 3),
            "models_p50_s": round(float(np.percentile(models, 50)), 3),
            "search_p50_s": round(float(np.percentile(searches, 50)), 4),
            "search_p95_s": round(float(np.percentile(searches, 95)), 4),
            "first_search_s": round(opened, 1), "index": _index_chosen(settings),
            "int8": [e.name for e in pipeline.info().encoders if e.precision == "int8"]
            + (["detector"] if "int8_sha256" in pipeline.info().detector else [])}


def _index_chosen(settings) -> dict | None:
    """The index the collection got (the auto choice and its measured recall), from its manifest."""
    manifests = list(settings.index_dir.rglob("manifest.json"))
    return json.loads(manifests[0].read_text()).get("chosen") if manifests else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--precisions", default="auto", help="each measured on the same collection, e.g. auto,int8")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = [row for s in args.sizes.split(",") for row in measure(int(s), args.queries, args.precisions.split(","))]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"profile": "base-shape (SCRFD-500M + CLIP ViT-B/16 + IResNet100)",
                                    "cpu": cpu_name(), "rows": rows}, indent=2) + "\n")
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores")
    print(f"{'faces':>8} {'models on':>9} {'precision':>9} {'FAISS on':>8} {'p50 s':>7} {'p95 s':>7} "
          f"{'models p50 s':>12} {'search p50 s':>12} {'search p95 s':>12}  index; in int8")
    for r in rows:
        print(f"{r['faces']:>8} {r['device']:>9} {r['precision']:>9} {r['faiss']:>8} {r['p50_s']:>7.3f} "
              f"{r['p95_s']:>7.3f} {r['models_p50_s']:>12.3f} {r['search_p50_s']:>12.4f} {r['search_p95_s']:>12.4f}  "
              f"{(r['index'] or {}).get('factory')}; {', '.join(r['int8']) or '-'}")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
