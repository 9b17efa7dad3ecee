"""Enquiry throughput: N images searched one at a time (`gallery search IMAGE` per file, as before)
against the same images as one batched enquiry (`gallery search DIR --out ...`: one model call for
the faces of `batch_size` images), in images/s, on this machine's CPU.

Profiles:
- base-shape: SCRFD-500M + CLIP ViT-B/16 + IResNet100, randomly initialised (speed does not depend
  on weight values), over a synthetic 10,000-face collection (benchmarks/query.py's);
- shared-onnx: SCRFD-500M + MobileFaceNet from ../shared/models over lfw-mini indexed for real.
Queries: lfw-mini photographs.

    python benchmarks/enquiry.py [--images 64]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import open_service, prepare  # noqa: E402
from query import base_shape_settings, fill  # noqa: E402

from db.engine import open_database  # noqa: E402
from gallery.config.device import cpu_name  # noqa: E402
from gallery.reports.enquiry import run_enquiry  # noqa: E402
from gallery.faces.pipeline import FacePipeline  # noqa: E402
from gallery.search.service import SearchService  # noqa: E402

SHARED = ROOT.parent / "shared"
LFW = SHARED / "data" / "lfw-mini"
RESULTS = Path(__file__).parent / "results" / "enquiry.json"



def base_shape(work: Path) -> SearchService:
    settings = base_shape_settings(work)
    pipeline = FacePipeline(settings)
    database = open_database(settings.database_url)
    fill(database, pipeline, 10_000, np.random.default_rng(0))
    return SearchService(pipeline, database, settings.index_dir)


def shared_onnx(work: Path) -> SearchService:
    profile, _env = prepare(work)  # lfw-mini indexed by `gallery index`, as benchmarks/load.py does
    return open_service(profile, work / "data")


def measure(name: str, service: SearchService, images: list[Path], folder: Path, batch: int) -> dict:
    service.search(images[0])  # models loaded, index opened
    started = time.perf_counter()
    for image in images:
        service.search(image, candidates=10)
    single = len(images) / (time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as workdir:
        enquiry = run_enquiry(service, [folder], Path(workdir), top_k=10, batch=batch)
    assert enquiry.counts()["faces_searched"] == len(images)
    return {"profile": name, "images": len(images), "batch": batch, "one_at_a_time_images_per_s": round(single, 2),
            "enquiry_images_per_s": round(enquiry.images_per_s, 2),
            "speed_up": round(enquiry.images_per_s / single, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    if not LFW.exists():
        sys.exit(f"{LFW} is absent (see ../shared/README.md)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="gallery-enquiry-bench-") as tmp:
        work = Path(tmp)
        folder = work / "enquiry"
        folder.mkdir()
        images = []
        for source in sorted(LFW.glob("*/*.jpg"))[:args.images]:
            images.append(folder / source.name)
            shutil.copy(source, images[-1])
        for name, build in (("shared-onnx", shared_onnx), ("base-shape", base_shape)):
            (work / name).mkdir()
            rows.append(measure(name, build(work / name), images, folder, args.batch))
            r = rows[-1]
            print(f"{r['profile']:<12} {r['images']} images: one at a time {r['one_at_a_time_images_per_s']:.2f}/s, "
                  f"enquiry (batch {r['batch']}) {r['enquiry_images_per_s']:.2f}/s, x{r['speed_up']}", flush=True)
    out = {"cpu": cpu_name(), "cores": os.cpu_count(), "rows": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"CPU: {out['cpu']} ({out['cores']} cores); written {RESULTS}")


if __name__ == "__main__":
    main()
