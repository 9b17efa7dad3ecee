"""The real pipeline through the real CLI: shared SCRFD / YuNet + MobileFaceNet on real faces."""

from __future__ import annotations

import csv
import json
import resource
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import write_profile


def _pair_accuracy(npz_path: Path, lfw: Path) -> tuple[float, int]:
    data = np.load(npz_path)
    vectors = {}
    for path, index, vector in zip(data["paths"], data["face_index"], data["vectors"]):
        if index == 0:  # the largest face
            vectors[Path(str(path)).relative_to(lfw).as_posix()] = vector
    scores, same = [], []
    with open(lfw / "pairs.csv") as handle:
        for row in csv.DictReader(handle):
            scores.append(float(vectors[row["image_a"]] @ vectors[row["image_b"]]))
            same.append(row["same"] == "1")
    scores, same = np.array(scores), np.array(same)
    best = max(((scores >= t) == same).mean() for t in np.unique(scores))
    return float(best), len(scores)


@pytest.mark.slow
@pytest.mark.parametrize("detector", ["scrfd", "yunet"])
def test_embed_lfw_pairs_accuracy(gallery_cli, lfw_dir, models_dir, tmp_path, detector):
    profile = write_profile(tmp_path / f"{detector}.toml", models_dir, detector)
    out = tmp_path / "lfw.npz"
    proc = gallery_cli("embed", lfw_dir, "--config", profile, "--out", out)
    data = np.load(out)
    assert set(data.files) >= {"paths", "face_index", "boxes", "landmarks", "vectors", "component_mobilefacenet",
                               "no_face"}
    assert len(set(map(str, data["paths"]))) == 400 and len(data["no_face"]) == 0
    assert data["vectors"].shape[1] == 128 and data["landmarks"].shape[1:] == (5, 2)
    assert np.allclose(np.linalg.norm(data["vectors"], axis=1), 1.0, atol=1e-5)
    accuracy, pairs = _pair_accuracy(out, lfw_dir)
    assert pairs == 600
    assert accuracy >= 0.97, f"{detector}: pair accuracy {accuracy:.3f} (reference pipeline: 0.985)"
    assert "400 image(s)" in proc.stderr  # the summary; the progress bar is on stderr too


def test_faces_json_finds_every_face_of_a_group_photo(gallery_cli, onnx_profile, group_photo):
    faces = json.loads(gallery_cli("faces", group_photo, "--config", onnx_profile, "--json").stdout)
    assert len(faces) == 6
    for face in faces:
        assert set(face) == {"box", "landmarks", "score"} and len(face["landmarks"]) == 5 and face["score"] > 0.5
        x1, y1, x2, y2 = face["box"]
        eye_l, eye_r = face["landmarks"][0], face["landmarks"][1]
        assert x1 <= eye_l[0] < eye_r[0] <= x2 and y1 <= eye_l[1] <= y2  # left eye is image-left
    areas = [(f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]) for f in faces]
    assert areas == sorted(areas, reverse=True)


def test_face_cut_by_the_frame_edge_is_found(onnx_pipeline, lfw_dir):
    """A tight close-up: the crop keeps from mid-forehead to the chin, cheeks cut by the frame."""
    source = onnx_pipeline.load(next((lfw_dir / "George_Clooney").glob("*.jpg")))
    face = onnx_pipeline.detect(source)[0]
    x1, y1, x2, y2 = face.box
    width = x2 - x1
    tight = source.rgb[int(y1 + 0.15 * (y2 - y1)):int(y2), int(x1 + 0.08 * width):int(x2 - 0.08 * width)]
    from gallery.faces.images import LoadedImage

    found = onnx_pipeline.detect(LoadedImage("tight", np.ascontiguousarray(tight), "PNG"))
    assert len(found) == 1 and found[0].score > 0.5


def test_huge_scan_is_detected_downscaled_and_cropped_at_full_resolution(onnx_settings, lfw_dir, tmp_path):
    from dataclasses import replace

    from gallery.faces.pipeline import FacePipeline

    path = next((lfw_dir / "George_Clooney").glob("*.jpg"))
    big = Image.open(path).resize((1500, 1500), Image.LANCZOS)
    big.save(tmp_path / "scan.png")
    whole_only = replace(onnx_settings.profile.detector, min_face=0)  # the downscaled whole-image pass alone
    small_pipeline = FacePipeline(
        replace(onnx_settings, detect_max_side=250, profile=replace(onnx_settings.profile, detector=whole_only))
    )
    at_250 = small_pipeline.detect(small_pipeline.load(path))[0]
    at_1500 = small_pipeline.detect(small_pipeline.load(tmp_path / "scan.png"))[0]
    assert np.allclose(at_1500.landmarks, at_250.landmarks * 6, atol=6)  # full-resolution coordinates


def test_compare_same_and_different_sitters(gallery_cli, onnx_profile, lfw_dir):
    a, b = sorted((lfw_dir / "George_Clooney").glob("*.jpg"))[:2]
    other = sorted((lfw_dir / "Debbie_Reynolds").glob("*.jpg"))[0]
    same = json.loads(gallery_cli("compare", a, b, "--config", onnx_profile, "--json").stdout)
    diff = json.loads(gallery_cli("compare", a, other, "--config", onnx_profile, "--json").stdout)
    assert set(same) == {"score", "components", "face_a", "face_b", "threshold", "same_sitter", "verdict"}
    assert same["same_sitter"] and not diff["same_sitter"] and diff["verdict"].startswith("Not the same sitter")
    assert same["score"] > diff["score"] + 0.2
    assert same["components"]["mobilefacenet"] == pytest.approx(same["score"], abs=1e-5)  # one component
    bad = gallery_cli("compare", a, b, "--config", onnx_profile, "--face-b", "7", check=False)
    assert bad.returncode == 1 and "face 7 does not exist" in bad.stderr


def test_compare_carries_the_chosen_faces_crops(onnx_pipeline, group_photo, lfw_dir):
    """The crops the page shows are those of the faces compared, from each image's full resolution."""
    from gallery.faces.align import ARCFACE_CROP, align_face
    from gallery.faces.batch import compare_images

    portrait = sorted((lfw_dir / "George_Clooney").glob("*.jpg"))[0]
    result = compare_images(onnx_pipeline, group_photo, portrait, 2, 0)
    assert result.face_a.index == 2 and result.faces_a == 6 and result.faces_b == 1
    for image, chosen, crop in ((group_photo, result.face_a, result.crops[0]), (portrait, result.face_b,
                                                                              result.crops[1])):
        expected = align_face(onnx_pipeline.load(image).rgb, chosen.face.landmarks, ARCFACE_CROP)
        np.testing.assert_array_equal(crop, expected)


def test_embed_reports_bad_files_and_keeps_going(gallery_cli, onnx_profile, lfw_dir, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = next((lfw_dir / "George_Clooney").glob("*.jpg"))
    (folder / "good.jpg").write_bytes(good.read_bytes())
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image")
    (folder / "truncated.jpg").write_bytes(good.read_bytes()[:1500])
    Image.new("RGB", (200, 200), (90, 120, 200)).save(folder / "blank.png")
    out = tmp_path / "mixed.npz"
    proc = gallery_cli("embed", folder, "--config", onnx_profile, "--out", out)
    data = np.load(out)
    assert [Path(str(p)).name for p in data["paths"]] == ["good.jpg"]
    assert [Path(str(p)).name for p in data["no_face"]] == ["blank.png"]
    assert sorted(Path(str(p)).name for p in data["failed"]) == ["empty.jpg", "text.jpg", "truncated.jpg"]
    for name, reason in (("empty.jpg", "empty"), ("text.jpg", "not an image"), ("truncated.jpg", "truncated")):
        assert any(name in line and reason in line for line in proc.stderr.splitlines())


def test_profile_with_missing_weights_names_every_file_fast(gallery_cli, lfw_dir):
    image = next((lfw_dir / "George_Clooney").glob("*.jpg"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = gallery_cli("faces", image, "--profile", "artface", check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 1
    for expected in ("det_10g.onnx", "ViT-B-16.pt", "iresnet100-73e07ba7.pth", "artface-clip-lora",
                     "iresnet100-tuned", "gallery train clip-lora", "gallery weights import"):
        assert expected in proc.stderr, expected
    assert "Traceback" not in proc.stderr
    # CPU time, not wall time (a busy machine stretches the latter): interpreter start and imports
    # included; the weights check itself is instant and hashes or loads nothing
    assert (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) < 20


def test_every_command_has_help_with_an_example(gallery_cli):
    from gallery.cli import main

    def walk(group, prefix):
        for name, command in group.commands.items():
            yield prefix + [name], command
            if hasattr(command, "commands"):
                yield from walk(command, prefix + [name])

    from click.testing import CliRunner

    runner = CliRunner()
    for words, _command in walk(main, []):
        result = runner.invoke(main, [*words, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, words
