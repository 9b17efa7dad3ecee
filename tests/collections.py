"""Building small collections from lfw-mini for the tests."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_sitters(lfw: Path, target: Path, sitters: int, skip_first: bool = False) -> list[Path]:
    """Copy the first `sitters` identities (4 images each) into target/<name>/; returns held-out images."""
    held_out = []
    for folder in sorted(p for p in lfw.iterdir() if p.is_dir())[:sitters]:
        images = sorted(folder.glob("*.jpg"))
        if skip_first:
            held_out.append(images[0])
            images = images[1:]
        (target / folder.name).mkdir(parents=True, exist_ok=True)
        for image in images:
            shutil.copy(image, target / folder.name / image.name)
    return held_out


def build_curated(lfw: Path, target: Path, known: int, unknown: int, unknown_images: int = 4) -> None:
    """`known` identities with two portraits in their folder (labelled) and two more at the root
    (unlabelled), then `unknown` identities with `unknown_images` portraits each at the root,
    never labelled (1: people the collection meets once)."""
    target.mkdir(parents=True)
    folders = sorted(p for p in lfw.iterdir() if p.is_dir())
    for folder in folders[:known]:
        images = sorted(folder.glob("*.jpg"))
        (target / folder.name).mkdir()
        for image in images[:2]:
            shutil.copy(image, target / folder.name / image.name)
        for image in images[2:]:
            shutil.copy(image, target / image.name)
    for folder in folders[known:known + unknown]:
        for image in sorted(folder.glob("*.jpg"))[:unknown_images]:
            shutil.copy(image, target / image.name)


def build_dated(lfw: Path, root: Path, profile: Path, pipeline):
    """Four lfw-mini sitters (one portrait each held out) with life dates; sitter 0 has one portrait
    also as a re-encoded copy and a resized, cropped copy (replicas); artwork dates from a catalogue
    CSV, one of them implausible for its sitter. Returns (settings, held-out images, sitter names,
    sitter folders)."""
    import csv

    from PIL import Image

    from db.engine import open_database
    from db.sitters import SitterRecord, import_sitters
    from gallery.config.settings import load_settings
    from indexer.runner import index_collection

    collection = root / "collection"
    held_out = copy_sitters(lfw, collection, 4, skip_first=True)
    folders = sorted(p for p in collection.iterdir() if p.is_dir())
    first = sorted(folders[0].glob("*.jpg"))[0]
    image = Image.open(first).convert("RGB")
    image.save(folders[0] / "copy-reencoded.jpg", quality=60)
    width, height = image.size
    image.resize((int(width * 1.4), int(height * 1.4))).crop((20, 25, int(width * 1.4) - 15, int(height * 1.4) - 10)) \
        .save(folders[0] / "copy-resized-cropped.png")
    rows = [("file", "date")] + [(f"{folders[0].name}/{p.name}", d) for p, d in
                                 zip(sorted(folders[0].glob("*.jpg")), ("c. 1630", "1645", "1660-1665"))]
    rows.append((f"{folders[1].name}/{sorted(folders[1].glob('*.jpg'))[0].name}", "c. 1790"))  # long after death
    with open(root / "catalogue.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    settings = load_settings(profile, {"HOME": str(root)}, data_dir=str(root / "data"), workers=0)
    index_collection(settings, collection, root / "catalogue.csv", pipeline=pipeline)
    names = [f.name.replace("_", " ") for f in folders]
    database = open_database(settings.database_url)
    with database.session() as session:
        import_sitters(session, [SitterRecord(names[0], birth_year=1610, death_year=1680),
                                 SitterRecord(names[1], birth_year=1600, death_year=1650),
                                 SitterRecord(names[2], birth_year=1700, death_year=1760)])
    database.dispose()
    return settings, held_out, names, folders


def scan_of(photo: Path, size: tuple[int, int] = (4032, 3024), face_side: int = 1400,
            at: tuple[int, int] = (1300, 800)) -> bytes:
    """A photograph as a curator's 12-megapixel photograph of a work would hold it: enlarged to
    `face_side` and set at `at` into a textured ground of `size`, as a JPEG."""
    import io

    import numpy as np
    from PIL import Image

    ground = np.random.default_rng(0).integers(90, 150, (size[1], size[0], 3), dtype=np.uint8)
    scan = Image.fromarray(ground)
    scan.paste(Image.open(photo).convert("RGB").resize((face_side, face_side), Image.BICUBIC), at)
    buffer = io.BytesIO()
    scan.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()
