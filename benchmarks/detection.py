"""Detection at every size: the whole-image pass alone against the multi-scale scheme (whole pass
plus tiles, gallery.faces.detection), with the shared SCRFD-500M.

- Small faces: lfw-mini photographs shrunk so that the face has 15 px between the eyes, pasted at
  a random place of a textured canvas of 2048, 3000 x 4000 and 8000 x 6000 pixels; found = a
  detection covering the pasted face.
- Close-ups: lfw-mini photographs cut to the face's middle (forehead above the brows and chin cut).
- Photographs: lfw-mini as it is (faces found; the tiles never run on 250-pixel images).
Time per image for both schemes; and identified: the found face, aligned and embedded by
MobileFaceNet, has as nearest neighbour among all other lfw-mini photographs (largest face each)
one of the same sitter.

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

from gallery.config.device import cpu_name  # noqa: E402

LFW = ROOT.parent / "shared" / "data" / "lfw-mini"
RESULTS = Path(__file__).parent / "results" / "detection.json"
SIZES = ((2048, 2048), (3000, 4000), (8000, 6000))


def _embedded(pipeline, rgb, face) -> np.ndarray:
    from gallery.faces.align import align_face

    encoder = pipeline.encoders[0]
    vectors, _norms = encoder.embed(align_face(rgb, face.landmarks, encoder.crop)[None], False)
    return vectors[0]


def _gallery(pipeline, photos) -> tuple[list[Path], np.ndarray]:
    """The largest face of every lfw-mini photograph, embedded."""
    paths, vectors = [], []
    for photo in photos:
        image = pipeline.load(photo)
        faces = pipeline.detect(image)
        if faces:
            paths.append(photo)
            vectors.append(_embedded(pipeline, image.rgb, faces[0]))
    return paths, np.stack(vectors)


def _identified(pipeline, rgb, face, photo, paths, vectors) -> bool:
    """The face's nearest other photograph is of the same sitter."""
    scores = vectors @ _embedded(pipeline, rgb, face)
    for position in np.argsort(-scores):
        if paths[position] != photo:
            return paths[position].parent == photo.parent
    return False


def main() -> None:
    from PIL import Image

    from gallery.faces.detection import detect_faces
    from gallery.config.settings import load_settings
    from gallery.faces.pipeline import FacePipeline
    from tests.test_detection_scales import _pasted

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20, help="images per set")
    args = parser.parse_args()
    settings = load_settings(ROOT / "profiles" / "shared-onnx.toml", {"HOME": "/tmp", "HF_HUB_OFFLINE": "1"})
    pipeline = FacePipeline(settings)
    detector, spec = pipeline.detector, pipeline.profile.detector
    schemes = {"whole image": replace(spec, min_face=0), "multi-scale": spec}
    photos = sorted(LFW.glob("*/*.jpg"))
    gallery_paths, gallery_vectors = _gallery(pipeline, photos)
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
            found, identified, seconds = 0, 0, 0.0
            for photo, (rgb, centre) in zip(picked, images):
                started = time.perf_counter()
                faces = detect_faces(detector, rgb, chosen, settings.detect_max_side)
                seconds += time.perf_counter() - started
                if centre:
                    faces = [f for f in faces if f.box[0] < centre[0] < f.box[2] and f.box[1] < centre[1] < f.box[3]]
                if faces:
                    found += 1
                    identified += _identified(pipeline, rgb, faces[0], photo, gallery_paths, gallery_vectors)
            row[f"{scheme}: found"] = found
            row[f"{scheme}: identified"] = identified
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
