"""Face regions in image metadata (`gallery export xmp`, and `gallery index` reading them), on real
models and faces, checked with ExifTool as an independent reader: names, regions and EXIF
orientation as expected, pixel data untouched, and a round trip out and back in that changes
nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.invoke import run_cli as _cli


exiftool = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(exiftool is None, reason="ExifTool (Debian's libimage-exiftool-perl) is "
                                                              "not installed (scripts/install-test-services.sh)")




def _read(path: Path) -> dict:
    out = subprocess.run([exiftool, "-j", "-struct", "-n", "-XMP:all", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]


def _identifications(where, tmp_path, name="ids.json") -> dict[str, list[dict]]:
    _cli("export", "identifications", "-o", tmp_path / name, *where)
    rows = json.loads((tmp_path / name).read_text())["identifications"]
    by_file: dict[str, list[dict]] = {}
    for row in rows:
        by_file.setdefault(Path(row["path"]).name, []).append(row)
    return by_file


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture()
def labelled(tmp_path, lfw_dir, onnx_profile):
    """Three people, two photographs each in folders named after them (catalogue identifications),
    one of them stored turned a quarter (pixels rotated, EXIF orientation 6); a sitter with a
    Wikidata id."""
    folder = tmp_path / "collection"
    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[:3]
    for person in people:
        (folder / person.name).mkdir(parents=True)
        for image in sorted(person.glob("*.jpg"))[:2]:
            shutil.copy(image, folder / person.name / image.name)
    turned = sorted((folder / people[1].name).glob("*.jpg"))[0]
    picture = Image.open(turned)
    exif = picture.getexif()
    exif[0x0112] = 6  # displayed = stored turned 90 degrees clockwise
    picture.transpose(Image.Transpose.ROTATE_90).save(turned, exif=exif, quality=95)
    names = [p.name.replace("_", " ") for p in people]
    (tmp_path / "sitters.csv").write_text(f"name,wikidata\n{names[0]},Q501\n")
    where = ["--data-dir", tmp_path / "data", "--config", onnx_profile]
    _cli("sitters", "import", tmp_path / "sitters.csv", *where)
    _cli("index", folder, *where)
    return folder, where, names, turned


@needs_exiftool
def test_regions_out_read_by_exiftool_and_back_in(labelled, tmp_path, onnx_profile):
    folder, where, names, turned = labelled
    before = _identifications(where, tmp_path)

    result = _cli("export", "xmp", "-o", tmp_path / "sidecars", *where)
    assert "6 face region(s) written to 6 sidecar(s)" in result.output
    sidecars = sorted((tmp_path / "sidecars").rglob("*.xmp"))
    assert len(sidecars) == 6 and all(s.with_suffix(".jpg").name in before for s in sidecars)
    for sidecar in sidecars:
        tags = _read(sidecar)
        row = before[sidecar.with_suffix(".jpg").name][0]
        (region,) = tags["RegionInfo"]["RegionList"]
        assert region["Name"] == row["sitter"] and region["Type"] == "Face"
        (iptc,) = tags["ImageRegion"]
        person = iptc["PersonInImageWDetails"][0]
        assert person["PersonName"] == row["sitter"] and tags["PersonInImage"] == [row["sitter"]]
        assert (person.get("PersonId") == ["http://www.wikidata.org/entity/Q501"]) == (row["sitter"] == names[0])
        stored = Image.open(folder / Path(row["path"]).relative_to(folder))
        assert tags["RegionInfo"]["AppliedToDimensions"] == {"W": stored.size[0], "H": stored.size[1],
                                                            "Unit": "pixel"}
        area = region["Area"]  # centre and size, on the picture as stored
        boundary = iptc["RegionBoundary"]  # top-left and size
        assert boundary["RbX"] == pytest.approx(area["X"] - area["W"] / 2, abs=2e-6)
        assert boundary["RbY"] == pytest.approx(area["Y"] - area["H"] / 2, abs=2e-6)

    # the turned picture: the region, cut from the stored pixels and turned as EXIF says, is the
    # face the database holds on the displayed picture
    tags = _read(tmp_path / "sidecars" / turned.relative_to(folder).with_suffix(".xmp"))
    area = tags["RegionInfo"]["RegionList"][0]["Area"]
    stored = np.asarray(Image.open(turned).convert("L"), np.float32)
    height, width = stored.shape
    cut = stored[round((area["Y"] - area["H"] / 2) * height):round((area["Y"] + area["H"] / 2) * height),
                 round((area["X"] - area["W"] / 2) * width):round((area["X"] + area["W"] / 2) * width)]
    shown = np.rot90(cut, k=-1)  # 90 degrees clockwise
    display = np.asarray(Image.open(turned).convert("L").transpose(Image.Transpose.ROTATE_270), np.float32)
    x1, y1, x2, y2 = (round(v) for v in before[turned.name][0]["box"])
    assert shown.shape == pytest.approx(display[y1:y2, x1:x2].shape, abs=2)
    h, w = min(shown.shape[0], y2 - y1), min(shown.shape[1], x2 - x1)
    assert np.abs(shown[:h, :w] - display[y1:y1 + h, x1:x1 + w]).mean() < 3.0
    wrong = np.abs(np.rot90(cut, k=1)[:h, :w] - display[y1:y1 + h, x1:x1 + w]).mean() \
        if np.rot90(cut, k=1).shape[:2] >= (h, w) else 99.0
    assert wrong > 10.0  # the check can tell a wrong turn

    # into copies: the originals untouched, the copies' pixels identical, ExifTool reads the names
    originals = {p: p.read_bytes() for p in folder.rglob("*.jpg")}
    copies = tmp_path / "copies"
    _cli("export", "xmp", "-o", copies, "--embed", *where)
    assert {p: p.read_bytes() for p in folder.rglob("*.jpg")} == originals
    for original in originals:
        copy = copies / original.relative_to(folder)
        assert np.array_equal(np.asarray(Image.open(copy)), np.asarray(Image.open(original)))
        assert Image.open(copy).getexif().get(0x0112) == Image.open(original).getexif().get(0x0112)
        assert _read(copy)["RegionInfo"]["RegionList"][0]["Name"] == before[original.name][0]["sitter"]
    refused = _cli("export", "xmp", "-o", folder, "--embed", *where, ok=False)
    assert "over the originals" in refused.output

    # back in: the copies, flattened (no folder names the sitters), into a new collection
    flat = tmp_path / "flat"
    flat.mkdir()
    for copy in copies.rglob("*.jpg"):
        shutil.copy(copy, flat / copy.name)
    other = ["--data-dir", tmp_path / "data2", "--config", onnx_profile]
    summary = json.loads(_cli("index", flat, "--json", *other).stdout)
    assert summary["counts"]["identifications_from_regions"] == 6
    after = _identifications(other, tmp_path, "after.json")
    assert set(after) == set(before)
    for file, rows in before.items():
        (row,), (again,) = rows, after[file]
        assert (again["sitter"], again["status"], again["source"], again["origin"]) == \
            (row["sitter"], "confirmed", "metadata", "detected")
        assert _iou(again["box"], row["box"]) > 0.95
    _cli("index", flat, *other)  # again: nothing changes
    assert _identifications(other, tmp_path, "again.json") == after
    _cli("export", "xmp", "-o", tmp_path / "sidecars2", *other)
    for sidecar in sidecars:
        first, second = _read(sidecar), _read(tmp_path / "sidecars2" / sidecar.name)
        a, b = first["RegionInfo"]["RegionList"][0], second["RegionInfo"]["RegionList"][0]
        assert a["Name"] == b["Name"]
        assert [a["Area"][k] for k in "XYWH"] == pytest.approx([b["Area"][k] for k in "XYWH"], abs=0.01)


@needs_exiftool
def test_regions_without_a_detection_and_bad_regions(tmp_path, lfw_dir, onnx_profile, monkeypatch):
    """A region named in a sidecar written by ExifTool (IPTC only) where the detector finds no face
    becomes a hand-drawn face; regions that cannot be read are recorded, and the rest goes on."""
    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[:2]
    folder = tmp_path / "collection"
    folder.mkdir()
    face = Image.open(sorted(people[0].glob("*.jpg"))[0]).crop((70, 50, 180, 190)).resize((30, 36))
    canvas = Image.new("RGB", (3200, 2400), (128, 104, 84))
    canvas.paste(face, (1600, 1200))
    canvas.save(folder / "small.jpg", quality=95)
    shutil.copy(sorted(people[1].glob("*.jpg"))[0], folder / "portrait.jpg")
    boundary = "{RbShape=rectangle,RbUnit=relative,RbX=%f,RbY=%f,RbW=%f,RbH=%f}"
    subprocess.run([exiftool, "-q", "-o", str(folder / "small.xmp"),
                    "-XMP-iptcExt:ImageRegion=[{RegionBoundary=" + boundary % (1602 / 3200, 1202 / 2400, 26 / 3200,
                                                                                32 / 2400)
                    + ",PersonInImageWDetails=[{PersonName=Dame à la fraise}]}]"], check=True)
    subprocess.run([exiftool, "-q", "-o", str(folder / "portrait.xmp"),
                    "-XMP-iptcExt:ImageRegion=[{RegionBoundary=" + boundary % (1.2, 1.3, 0.2, 0.2)
                    + ",PersonInImageWDetails=[{PersonName=Nobody}]},{RegionBoundary={RbShape=circle,RbUnit=relative,"
                      "RbX=0.5,RbY=0.5,RbR=0.1},PersonInImageWDetails=[{PersonName=Round}]}]"], check=True)
    monkeypatch.setenv("GALLERY_REGION_STATUS", "probable")
    where = ["--data-dir", tmp_path / "data", "--config", onnx_profile]
    summary = json.loads(_cli("index", folder, "--json", *where).stdout)
    assert summary["counts"]["identifications_from_regions"] == 1
    rows = _identifications(where, tmp_path)
    (row,) = rows["small.jpg"]
    assert (row["sitter"], row["status"], row["source"], row["origin"]) == \
        ("Dame à la fraise", "probable", "metadata", "drawn")
    assert _iou(row["box"], (1602, 1202, 1628, 1234)) > 0.9
    assert "portrait.jpg" not in rows
    with closing(sqlite3.connect(tmp_path / "data" / "gallery.db")) as db:
        errors = [m for (m,) in db.execute("select message from ingest_errors where stage = 'regions'")]
    assert len(errors) == 1 and "outside the picture" in errors[0] and "circle" in errors[0]
    assert "portrait.xmp" in errors[0]
    monkeypatch.setenv("GALLERY_REGION_STATUS", "maybe")
    refused = _cli("status", *where, ok=False)
    assert "region_status must be one of confirmed, probable" in refused.output


def test_nothing_to_write_and_folder_works_without_a_web_address(tmp_path, lfw_dir, onnx_profile):
    folder = tmp_path / "collection"
    folder.mkdir()
    shutil.copy(sorted(sorted(p for p in lfw_dir.iterdir() if p.is_dir())[0].glob("*.jpg"))[0], folder / "a.jpg")
    where = ["--data-dir", tmp_path / "data", "--config", onnx_profile]
    _cli("index", folder, *where)
    refused = _cli("export", "xmp", "-o", tmp_path / "out", *where, ok=False)
    assert "no face region to write; nothing was written" in refused.output and not (tmp_path / "out").exists()
    # annotations of works from a folder need a web address; a urn: base is refused (IIIF ids are http(s))
    _cli("curate", 1, "confirmed", "--sitter", "Someone", *where)
    anno = tmp_path / "anno.json"
    assert "give --base https://" in _cli("export", "annotations", "-o", anno, *where, ok=False).output
    assert "must be an http(s) address" in _cli("export", "annotations", "-o", anno, "--base",
                                                "urn:portrait-gallery:annotations", *where, ok=False).output
    assert not anno.exists()
    _cli("export", "annotations", "-o", anno, "--base", "https://museum.example/anno", *where)
    page = json.loads((tmp_path / "anno-pages" / "00001.json").read_text())
    assert page["items"][0]["target"]["source"] == {"id": "https://museum.example/anno/images/a.jpg", "type": "Image"}


def test_orientation_turns_are_undone():
    from gallery.faces.regions import turn_box

    box = (0.1, 0.2, 0.3, 0.6)
    for orientation in range(1, 9):
        shown = turn_box(box, orientation, True)
        assert turn_box(shown, orientation, False) == pytest.approx(box)
        assert (shown != pytest.approx(box)) == (orientation != 1)
