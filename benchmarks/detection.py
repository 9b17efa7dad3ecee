"""Detection at every size: the whole-image pass alone against the multi-scale scheme (whole pass
plus tiles, gallery.detection), with the shared SCRFD-500M.

- Small faces: lfw-mini photographs shrunk so that the face has 15 px between the eyes, pasted at
  a random place of a textured canvas of 2048, 3000 x 4000 and 8000 x 6000 pixels; found = a
  detection covering the pasted face.
- Close-ups: lfw-mini photographs cut to the face's middle (forehead above the brows and chin cut).
- Photographs: lfw-mini as it is (faces found; the tiles never run on 250-pixel images).
Time per image for both schemes.

    python benchmarks/detection.py [--count 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gallery.device import cpu_name  # noqa: E402

LFW = ROOT.parent / "shared" / "data" / "lfw-mini"
RESULTS = Path(__file__).parent / "results" / "detection.json"
SIZES = ((2048, 2048), (3000, 4000), (8000, 6000))


def main() -> None:
    from PIL import Image

    from gallery.detection import detect_faces
    from gallery.settings import load_settings
    from gallery.pipeline import FacePipeline
    from tests.test_detection_scales import _found, _pasted

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20, help="images per set")
    args = parser.parse_args()
    settings = load_settings(ROOT / "profiles" / "shared-onnx.toml", {"HOME": "/tmp", "HF_HUB_OFFLINE": "1"})
    pipeline = FacePipeline(settings)
    detector, spec = pipeline.detector, pipeline.profile.detector
    schemes = {"whole image": replace(spec, min_face=0), "multi-scale": spec}
    photos = sorted(LFW.glob("*/*.jpg"))
    picked = photos[:: max(1, len(photos) // args.count)][: args.count]
    sets = {f"15 px IOD in {w}x{h}": [(lambda p=p, i=i, w=w, h=h: _pasted(p, (w, h), 15, i)) for i, p in
                                      enumerate(picked)] for w, h in SIZES}
    sets["close-ups (cut forehead and chin)"] = [
        (lambda p=p: (np.ascontiguousarray(np.asarray(Image.open(p).convert("RGB"))[90:180, 65:185]), None))
        for p in picked]
    sets["lfw-mini photographs"] = [(lambda p=p: (np.asarray(Image.open(p).convert("RGB")), None)) for p in picked]
    rows = []
    for name, makers in sets.items():
        images = [make() for make in makers]
        row = {"set": name, "images": len(images)}
        for scheme, chosen in schemes.items():
            found, seconds = 0, 0.0
            for rgb, centre in images:
                started = time.perf_counter()
                faces = detect_faces(detector, rgb, chosen, settings.detect_max_side)
                seconds += time.perf_counter() - started
                found += _found(faces, centre) if centre else bool(faces)
            row[f"{scheme}: found"] = found
            row[f"{scheme}: s/image"] = round(seconds / len(images), 3)
        rows.append(row)
    print(f"CPU: {cpu_name()}; detector SCRFD-500M, min_face {spec.min_face}")
    header = list(rows[0])
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu": cpu_name(), "min_face": spec.min_face, "rows": rows}, indent=2))
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
