"""Face quality (gallery.faces.quality) on lfw-mini with the shared models: the median quality of 50
photographs as they are, blurred (Gaussian, radius 4), shrunk to 70 pixels, and shrunk to 70 pixels
then enlarged back to 250 (detail lost, size kept), against the quality floor.

    python benchmarks/quality.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gallery.config.device import cpu_name  # noqa: E402

LFW = ROOT.parent / "shared" / "data" / "lfw-mini"
RESULTS = Path(__file__).parent / "results" / "quality.json"


def main() -> None:
    from PIL import Image, ImageFilter

    from gallery.faces.images import LoadedImage
    from gallery.faces.pipeline import FacePipeline
    from gallery.config.settings import load_settings

    settings = load_settings(ROOT / "profiles" / "shared-onnx.toml", {"HOME": "/tmp", "HF_HUB_OFFLINE": "1"})
    pipeline = FacePipeline(settings)
    variants = {
        "as they are": lambda im: im,
        "blurred (radius 4)": lambda im: im.filter(ImageFilter.GaussianBlur(4)),
        "shrunk to 70 px": lambda im: im.resize((70, 70), Image.LANCZOS),
        "shrunk to 70 px and enlarged back": lambda im: im.resize((70, 70), Image.LANCZOS).resize(im.size, Image.LANCZOS),
    }
    photos = sorted(LFW.glob("*/*.jpg"))[::8][:50]
    qualities: dict[str, list[float]] = {name: [] for name in variants}
    for photo in photos:
        image = Image.open(photo).convert("RGB")
        for name, change in variants.items():
            loaded = LoadedImage(photo.name, np.ascontiguousarray(np.asarray(change(image))), "JPEG")
            cropped = pipeline.crop_image(loaded)
            if cropped.faces:
                [result] = list(pipeline.embed_cropped([cropped]))
                qualities[name].append(result.faces[0].quality)
    rows = [{"set": name, "faces": len(values), "median": round(float(np.median(values)), 2),
             "below_floor": sum(v < settings.quality_floor for v in values)} for name, values in qualities.items()]
    print(f"CPU: {cpu_name()}; {len(photos)} lfw-mini photographs; quality floor {settings.quality_floor}")
    for row in rows:
        print(f"{row['set']:<36} faces {row['faces']:>3}  median {row['median']:.2f}  below the floor {row['below_floor']}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"floor": settings.quality_floor, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
