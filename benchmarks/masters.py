"""Big masters: a 100-megapixel JPEG 2000 decoded whole against read through its resolution levels
(gallery.faces.levels), with the shared SCRFD-500M + MobileFaceNet profile.

The master is 12000 x 8400 pixels, a textured surround with four lfw-mini faces pasted at 1000
pixels, written once as lossy JPEG 2000 (OpenJPEG, 6 resolution levels, 1024-pixel tiles) and
cached. Each way is run in a fresh process of its own, so its peak memory (VmHWM) is its own:
- whole: decode the full picture (what the loader did before), detect on it downscaled to
  `detect_max_side`, crop the faces from the full picture;
- levels: `FacePipeline.load` decodes the coarsest level of at least `detect_max_side` a side, and
  a finer level only where a face needs it.
Printed and written: decode and total seconds, peak memory, faces found, and the cosine between the
two ways' vectors of each face.

    python benchmarks/masters.py [--repeats 3] [--cache /tmp/portrait-gallery-master.jp2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gallery.config.device import cpu_name  # noqa: E402

LFW = ROOT.parent / "shared" / "data" / "lfw-mini"
MODELS = ROOT.parent / "shared" / "models"
RESULTS = Path(__file__).parent / "results" / "masters.json"
SIZE = (12000, 8400)
FACE = 1000


def build_master(path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    small = rng.integers(90, 200, (SIZE[1] // 40, SIZE[0] // 40, 3), dtype=np.uint8)
    canvas = Image.fromarray(small).resize(SIZE, Image.BILINEAR)
    faces = sorted(LFW.rglob("*.jpg"))[:16:4]
    for number, face in enumerate(faces):
        picture = Image.open(face).convert("RGB").resize((FACE, FACE), Image.LANCZOS)
        canvas.paste(picture, (1000 + number * 2700, 2000 + (number % 2) * 3000))
    canvas.save(path, format="JPEG2000", irreversible=True, quality_mode="rates", quality_layers=[20],
                 num_resolutions=6, tile_size=(1024, 1024))


def child(way: str, path: str, profile: str) -> None:
    from benchmarks.memory import memory_bytes
    from gallery.config.settings import load_settings
    from gallery.faces.images import load_image
    from gallery.faces.pipeline import FacePipeline

    settings = load_settings(Path(profile), {"HOME": "/tmp"}, data_dir="/tmp/portrait-gallery-masters")
    pipeline = FacePipeline(settings)
    pipeline.encoders  # noqa: B018 (models loaded before the clock starts)
    pipeline.detector  # noqa: B018
    started = time.perf_counter()
    image = pipeline.load(path) if way == "levels" else load_image(path, settings.max_pixels)
    decoded = time.perf_counter() - started
    result = pipeline.process(image)
    total = time.perf_counter() - started
    print(json.dumps({"way": way, "decode_s": decoded, "total_s": total, "scale": image.scale,
                      "peak_mb": memory_bytes()["VmHWM"] / 2 ** 20,
                      "boxes": [list(map(float, f.face.box)) for f in result.faces],
                      "vectors": [f.vector.tolist() for f in result.faces]}))


def _profile() -> Path:
    path = Path("/tmp/portrait-gallery-masters-profile.toml")
    path.write_text(f'[detector]\nkind = "scrfd"\nweights = "{MODELS / "scrfd_500m.onnx"}"\n\n'
                    f'[[encoders]]\nname = "mobilefacenet"\nkind = "onnx"\nweights = "{MODELS / "mobilefacenet.onnx"}"\n'
                    "weight = 1.0\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/portrait-gallery-master.jp2"))
    args = parser.parse_args()
    if not args.cache.exists():
        print(f"writing the 100-megapixel master to {args.cache} (once) ...", flush=True)
        build_master(args.cache)
    profile = _profile()
    runs = {way: [] for way in ("whole", "levels")}
    for _ in range(args.repeats):
        for way in runs:
            out = subprocess.run([sys.executable, __file__, "--child", way, str(args.cache), str(profile)],
                                 check=True, capture_output=True, text=True, cwd=ROOT).stdout
            runs[way].append(json.loads(out.strip().splitlines()[-1]))
    cosines = [float(np.dot(a, b)) for a, b in zip(runs["whole"][0]["vectors"], runs["levels"][0]["vectors"])]
    rows = [{"way": way, "decode s": round(float(np.median([r["decode_s"] for r in found])), 2),
             "total s": round(float(np.median([r["total_s"] for r in found])), 2),
             "peak MB": round(float(np.median([r["peak_mb"] for r in found]))),
             "decoded at": found[0]["scale"], "faces": len(found[0]["boxes"])} for way, found in runs.items()]
    print(f"CPU: {cpu_name()}; master {SIZE[0]} x {SIZE[1]} JPEG 2000 ({args.cache.stat().st_size / 1e6:.1f} MB), "
          f"median of {args.repeats}")
    header = list(rows[0])
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    print(f"cosine between the two ways' vectors of each face: {', '.join(f'{c:.4f}' for c in cosines)}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu": cpu_name(), "size": SIZE, "repeats": args.repeats, "rows": rows,
                                   "cosines": cosines}, indent=2))
    print(f"written {RESULTS}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
    else:
        main()
