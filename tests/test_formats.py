"""Every image a museum holds: JPEG 2000, HEIC and AVIF beside the older formats, big masters read
through their resolution levels, colour profiles turned into sRGB, and nothing skipped in silence."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gallery.core.errors import ImageLoadError
from gallery.faces.formats import FORMATS, SUPPORTED_LIST, register_plugins
from gallery.faces.images import load_image
from gallery.faces.levels import resolution_levels
from tests.icc import adobe_to_srgb, rgb_profile

CAP = 400_000_000
LOSSLESS = {"png": dict(format="PNG"), "tif": dict(format="TIFF", compression="tiff_lzw"), "bmp": dict(format="BMP"),
            "webp": dict(format="WEBP", lossless=True), "jp2": dict(format="JPEG2000", irreversible=False)}
LOSSY = {"jpg": dict(format="JPEG", quality=92), "j2k": dict(format="JPEG2000", irreversible=True,
                                                              quality_mode="rates", quality_layers=[12]),
         "heic": dict(format="HEIF", quality=90), "avif": dict(format="AVIF", quality=85),
         "lossy.webp": dict(format="WEBP", quality=90)}


def _save(image: Image.Image, path: Path, options: dict) -> Path:
    register_plugins()
    image.save(path, **options)
    return path


def _face(lfw_dir: Path) -> Image.Image:
    return Image.open(sorted(lfw_dir.rglob("*.jpg"))[0]).convert("RGB")


def test_every_format_is_listed_once_and_each_decodes_the_same_picture(lfw_dir, tmp_path):
    suffixes = [s for f in FORMATS for s in f.suffixes]
    assert len(suffixes) == len(set(suffixes))
    original = np.asarray(_face(lfw_dir)).astype(int)
    for name, options in {**LOSSLESS, **LOSSY}.items():
        loaded = load_image(_save(_face(lfw_dir), tmp_path / f"face.{name}", options), CAP)
        difference = np.abs(loaded.rgb.astype(int) - original)
        if name in LOSSLESS:
            assert difference.max() == 0, name
        else:
            assert difference.mean() < 6, name
    assert {".jp2", ".j2k", ".jpf", ".heic", ".heif", ".avif"} <= set(suffixes)


def test_a_format_not_read_is_refused_naming_the_readable_ones(tmp_path):
    path = tmp_path / "drawing.gif"
    Image.new("P", (20, 20)).save(path, format="GIF")
    with pytest.raises(ImageLoadError, match="format GIF is not supported; readable formats: JPEG, PNG"):
        load_image(path, CAP)
    assert "JPEG 2000" in SUPPORTED_LIST and "HEIC" in SUPPORTED_LIST and "AVIF" in SUPPORTED_LIST


def test_a_heic_file_without_its_plugin_names_the_package(monkeypatch):
    from gallery.faces import images

    monkeypatch.setattr(images, "register_plugins", lambda: False)
    head = io.BytesIO(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    assert "pip install pillow-heif" in images._unidentified(head)
    assert "pillow-heif" not in images._unidentified(io.BytesIO(b"GIF89a" + bytes(64)))


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "TIFF", "WEBP"])
def test_an_adobe_rgb_picture_is_turned_into_srgb(tmp_path, kind):
    profile = rgb_profile("Adobe RGB (1998) compatible")
    patches = [(200, 100, 50), (60, 160, 90), (128, 128, 128), (30, 60, 200)]
    picture = np.concatenate([np.full((16, 16, 3), p, np.uint8) for p in patches], axis=1)
    path = tmp_path / f"patches.{kind.lower()}"
    options = {"quality": 100} if kind in ("JPEG", "WEBP") else {}
    Image.fromarray(picture).save(path, format=kind, icc_profile=profile, **options)
    loaded = load_image(path, CAP)
    tolerance = 3 if kind in ("JPEG", "WEBP") else 1
    for number, patch in enumerate(patches):
        seen = loaded.rgb[8, 16 * number + 8].astype(int)
        assert np.abs(seen - np.array(adobe_to_srgb(patch))).max() <= tolerance, (kind, patch, seen)
    # the same pixels tagged sRGB (or untagged) are left as they are
    Image.fromarray(picture).save(tmp_path / "srgb.png", icc_profile=_srgb_profile())
    assert np.array_equal(load_image(tmp_path / "srgb.png", CAP).rgb, picture)


def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _master(lfw_dir: Path, side: int = 4096) -> Image.Image:
    """A big picture with a face 1/4 of its width, in a plain surround."""
    canvas = Image.new("RGB", (side, side * 3 // 4), (180, 170, 150))
    face = _face(lfw_dir).resize((side // 4, side // 4), Image.LANCZOS)
    canvas.paste(face, (side // 3, side // 6))
    return canvas


def test_a_jpeg_2000_master_is_decoded_at_the_level_asked_and_read_through_a_level_above_the_cap(lfw_dir, tmp_path):
    path = _save(_master(lfw_dir), tmp_path / "master.jp2", dict(format="JPEG2000", irreversible=True,
                                                                    quality_mode="rates", quality_layers=[30]))
    with Image.open(path) as img:
        levels = resolution_levels(img)
    assert [round(1 / level.scale) for level in levels] == [1, 2, 4, 8, 16, 32]  # OpenJPEG's 5 levels
    whole = load_image(path, CAP)
    assert whole.scale == 1.0 and whole.rgb.shape == (3072, 4096, 3)
    reduced = load_image(path, CAP, reduce_to=1000)
    assert reduced.scale == 0.25 and reduced.rgb.shape == (768, 1024, 3) and reduced.size == (4096, 3072)
    finer = reduced.finer(0.4)
    assert finer.scale == 0.5 and finer.size == (4096, 3072)
    # the level agrees with the whole picture reduced (what the detector would have seen)
    shrunk = np.asarray(Image.fromarray(whole.rgb).resize((1024, 768), Image.BOX)).astype(int)
    assert np.abs(shrunk - reduced.rgb.astype(int)).mean() < 3
    capped = load_image(path, 4_000_000)  # 12.6 MP whole: read through the 3.1 MP level
    assert capped.scale == 0.5 and capped.size == (4096, 3072)
    with pytest.raises(ImageLoadError, match="exceeds the cap"):
        load_image(_save(_master(lfw_dir), tmp_path / "master.png", dict(format="PNG")), 4_000_000)


def test_a_pyramidal_tiff_is_read_through_its_reduced_pages(lfw_dir, tmp_path):
    master = _master(lfw_dir, 2048)
    pages = [master.resize((master.width // 2 ** n, master.height // 2 ** n), Image.BOX) for n in (1, 2, 3)]
    path = tmp_path / "pyramid.tif"
    master.save(path, format="TIFF", save_all=True, append_images=pages, compression="tiff_deflate")
    with Image.open(path) as img:
        assert [level.scale for level in resolution_levels(img)] == [1.0, 0.5, 0.25, 0.125]
    reduced = load_image(path, CAP, reduce_to=500)
    assert reduced.scale == 0.25 and reduced.rgb.shape == (384, 512, 3) and reduced.size == (2048, 1536)
    assert np.array_equal(reduced.rgb, np.asarray(pages[1]))
    # a multi-page TIFF whose pages are other pictures (recto and verso) has no levels
    other = Image.new("RGB", (300, 800), (10, 20, 30))
    master.save(tmp_path / "recto-verso.tif", format="TIFF", save_all=True, append_images=[other])
    with Image.open(tmp_path / "recto-verso.tif") as img:
        assert len(resolution_levels(img)) == 1


@pytest.mark.slow
def test_a_master_read_through_a_level_gives_the_faces_of_the_whole_picture(lfw_dir, tmp_path, onnx_pipeline):
    path = _save(_master(lfw_dir, 6144), tmp_path / "master.jp2", dict(format="JPEG2000", irreversible=False))
    whole = onnx_pipeline.process(load_image(path, CAP))
    image = onnx_pipeline.load(path)  # at the level detection needs (detect_max_side 2048)
    assert image.scale == 0.5 and image.size == (6144, 4608)
    reduced = onnx_pipeline.process(image)
    assert reduced.size == whole.size and len(reduced.faces) == len(whole.faces) == 1
    assert np.abs(np.array(reduced.faces[0].face.box) - np.array(whole.faces[0].face.box)).max() < 6
    assert float(reduced.faces[0].vector @ whole.faces[0].vector) > 0.99
    # a face too small at the detection level is cropped from a finer one
    from gallery.faces.scaled import detailed_enough

    small_face = reduced.faces[0].face.__class__((0, 0, 60, 60), reduced.faces[0].face.landmarks, 0.9)
    assert detailed_enough(image, [small_face], 112).scale == 1.0


@pytest.mark.slow
def test_the_same_sitter_is_found_from_every_format(indexed, tmp_path):
    _settings, service, held_out, _database = indexed
    query = Image.open(held_out[0]).convert("RGB")
    sitter = held_out[0].parent.name.replace("_", " ")
    baseline = service.search(held_out[0])
    assert baseline.candidates[0].sitter == sitter
    for name, options in {**LOSSLESS, **LOSSY}.items():
        result = service.search(_save(query, tmp_path / f"query.{name}", options))
        assert result.candidates[0].sitter == sitter, name
        assert abs(result.candidates[0].score - baseline.candidates[0].score) < (1e-3 if name in LOSSLESS else 0.05)


@pytest.mark.slow
def test_a_folder_of_every_format_indexes_and_says_what_it_did_not_read(lfw_dir, onnx_profile, tmp_path):
    from db.collection import ingest_errors
    from db.engine import open_database
    from gallery.config.settings import load_settings
    from indexer.runner import index_collection

    folder = tmp_path / "collection"
    sitters = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[:2]
    written = []
    for number, (name, options) in enumerate({**LOSSLESS, **LOSSY}.items()):
        source = sorted(sitters[number % 2].glob("*.jpg"))[number // 2 % 4]
        target = folder / sitters[number % 2].name / f"{source.stem}.{name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        written.append(_save(Image.open(source).convert("RGB"), target, options))
    (folder / "notes.txt").write_text("provenance notes")
    (folder / "loan.docx").write_bytes(b"PK" + bytes(30))
    (folder / sitters[0].name / f"{written[0].stem}.xmp").write_text("<x:xmpmeta/>")
    (folder / ".DS_Store").write_bytes(b"\0" * 10)
    Image.new("RGB", (8, 8)).save(folder / "banner.gif")
    (folder / "scan.CR2").write_bytes(b"II*\x00" + bytes(100))
    settings = load_settings(onnx_profile, {"HOME": str(tmp_path)}, data_dir=str(tmp_path / "data"), workers=0)
    summary = index_collection(settings, folder)
    assert summary.files == len(written) and summary.counts["new"] == len(written)
    assert summary.counts.get("failed", 0) == 0 and summary.counts["faces_added"] >= len(written)
    assert summary.skipped == {"other": 1, "sidecar": 2, "hidden": 1, "unsupported image": 2}
    assert summary.counts["unsupported"] == 2
    with open_database(settings.database_url).session() as session:
        errors = {Path(e.path).name: e.message for e in ingest_errors(session)}
    assert set(errors) == {"banner.gif", "scan.CR2"}
    assert all("readable formats: JPEG" in message for message in errors.values())
    # the same folder again: the errors are the same two, not two more
    index_collection(settings, folder)
    with open_database(settings.database_url).session() as session:
        assert len(ingest_errors(session)) == 2


@pytest.mark.slow
def test_heic_and_jpeg_2000_in_an_enquiry_zip_and_added_to_the_collection(indexed, tmp_path):
    from gallery.reports.enquiry import run_enquiry
    from indexer.adding import add_image

    settings, service, held_out, database = indexed
    register_plugins()
    archive = tmp_path / "enquiry.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for number, (name, options) in enumerate([("heic", LOSSY["heic"]), ("jp2", LOSSLESS["jp2"]),
                                                  ("avif", LOSSY["avif"])]):
            buffer = io.BytesIO()
            Image.open(held_out[number]).convert("RGB").save(buffer, **options)
            bundle.writestr(f"phone/photo{number}.{name}", buffer.getvalue())
    enquiry = run_enquiry(service, [archive], tmp_path / "work")
    assert [o.problem for o in enquiry.outcomes] == [None, None, None]
    assert [o.results[0].candidates[0].sitter for o in enquiry.outcomes] == \
        [p.parent.name.replace("_", " ") for p in held_out[:3]]
    buffer = io.BytesIO()
    Image.open(held_out[3]).convert("RGB").save(buffer, **LOSSY["heic"])
    added = add_image(settings, service.pipeline, database, buffer.getvalue(), "saleroom.heic")
    assert added.path.endswith(".heic") and len(added.face_ids) == 1


@pytest.mark.slow
def test_a_scan_above_pillows_own_guard_is_read_under_the_cap(tmp_path):
    """Pillow refuses 89 megapixels and more on its own; the product's `max_pixels` (400 MP by
    default) is the limit, checked before decoding."""
    path = tmp_path / "scan.png"
    Image.new("L", (10_000, 9_500), 200).save(path, format="PNG")  # 95 MP
    loaded = load_image(path, CAP)
    assert loaded.size == (10_000, 9_500) and loaded.scale == 1.0 and int(loaded.rgb[5000, 5000, 0]) == 200
    with pytest.raises(ImageLoadError, match="exceeds the cap of 90,000,000"):
        load_image(path, 90_000_000)
