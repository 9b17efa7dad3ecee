"""int8 on CPUs: ONNX models quantized statically on the collection's own pictures, checked against
fp32 and cached with their checksum; IResNet100 the same way, written out as ONNX; CLIP's linear
layers quantized dynamically; `auto` runs an int8 form only where its check kept fp32's answers."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tests.invoke import run_cli


def _pipeline(onnx_settings, tmp_path, precision, calibration=None):
    from gallery.faces.pipeline import FacePipeline

    settings = dataclasses.replace(onnx_settings, precision=precision, weights_dir=tmp_path / "weights",
                                   data_dir=tmp_path / "data", int8_pictures=20)
    return FacePipeline(settings, calibration=calibration)


def _pictures(lfw_dir, count=40):
    found = sorted(lfw_dir.rglob("*.jpg"))
    return found[::len(found) // count][:count]


def test_int8_is_a_cpu_precision_and_auto_only_trusts_what_was_measured():
    from gallery.config.device import resolve_placement
    from gallery.core.errors import ConfigError

    asked = resolve_placement("cpu", "int8")
    assert asked.precision == "int8" and asked.onnx_int8(kept=False)  # asked for: runs whatever its check said
    auto = resolve_placement("cpu", "auto")
    assert auto.int8_where_measured and auto.onnx_int8(kept=True) and not auto.onnx_int8(kept=False)
    assert not resolve_placement("cpu", "fp32").onnx_int8(kept=True)
    with pytest.raises(ConfigError, match="int8_pictures must be at least"):
        from gallery.config.settings import load_settings

        load_settings(None, {"GALLERY_INT8_PICTURES": "3", "HF_HUB_OFFLINE": "1"})


def test_the_checks_tell_kept_from_lost():
    from gallery.faces.detection import DetectedFace
    from gallery.faces.quantize import detection_check, vector_check

    rng = np.random.default_rng(0)
    fp32 = rng.standard_normal((50, 128)).astype(np.float32)
    assert vector_check(fp32, fp32 + 0.01 * rng.standard_normal((50, 128)))["kept"]
    assert not vector_check(fp32, fp32 + 0.3 * rng.standard_normal((50, 128)))["kept"]

    points = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], np.float32)
    face = DetectedFace((10.0, 10.0, 110.0, 110.0), points, 0.9)
    moved = DetectedFace((10.0, 10.0, 110.0, 110.0), points + 3, 0.9)  # 3 % of the box
    assert detection_check([[face]], [[face]])["kept"]
    assert not detection_check([[face]], [[moved]])["kept"]
    assert not detection_check([[face]], [[]])["kept"]  # the face is lost


@pytest.mark.slow
def test_int8_is_calibrated_on_the_collection_checked_cached_and_reused(onnx_settings, lfw_dir, tmp_path,
                                                                       monkeypatch):
    from gallery.faces import int8 as int8_module

    pictures = _pictures(lfw_dir)
    fp32 = _pipeline(onnx_settings, tmp_path, "fp32")
    calibrated = []
    real = int8_module.calibrate
    monkeypatch.setattr("gallery.faces.pipeline.calibrate",
                        lambda *a, **k: calibrated.append(1) or real(*a, **k))
    int8 = _pipeline(onnx_settings, tmp_path, "int8", calibration=lambda: iter(pictures))
    info = int8.info()
    assert calibrated == [1]
    assert info.encoders[0].precision == "int8" and len(info.encoders[0].int8_sha256) == 64
    assert len(info.detector["int8_sha256"]) == 64
    assert info.key == fp32.info().key  # the same vectors' space: a collection need not be indexed again

    records = {p.name: json.loads(p.read_text()) for p in (tmp_path / "weights" / "derived").glob("*.int8.json")}
    assert len(records) == 2
    for record in records.values():
        assert record["measured"]["faces"] > 0 and "calibrated_on" in record["measured"]
    encoder_record = next(r for r in records.values() if "mean_cosine" in r["measured"])
    assert encoder_record["measured"]["kept"] and encoder_record["measured"]["mean_cosine"] >= 0.99

    image = fp32.load(pictures[3])
    faces = fp32.detect(image)
    crops = fp32.crops(image, faces[:1])
    close = float(fp32.embed_crops(crops)[0][0] @ int8.embed_crops(crops)[0][0])
    assert 0.97 <= close < 0.99999  # int8 really runs, and keeps the face

    again = _pipeline(onnx_settings, tmp_path, "int8")  # no pictures needed: the cached forms are opened
    assert again.info().encoders[0].int8_sha256 == info.encoders[0].int8_sha256
    assert calibrated == [1]  # nothing to calibrate

    auto = _pipeline(onnx_settings, tmp_path, "auto").info()  # what auto trusts: the recogniser, as measured
    detector_kept = next(r for r in records.values() if "found" in r["measured"])["measured"]["kept"]
    assert auto.encoders[0].precision == "int8"
    assert ("int8_sha256" in auto.detector) == detector_kept


def test_int8_without_pictures_to_calibrate_on_says_how(onnx_settings, tmp_path):
    from gallery.core.errors import ConfigError

    with pytest.raises(ConfigError, match="gallery weights quantize --pictures"):
        _pipeline(onnx_settings, tmp_path, "int8").info()
    assert not list((tmp_path / "weights").rglob("*.int8.onnx"))


@pytest.mark.slow
def test_weights_quantize_and_index_in_int8(onnx_profile, lfw_dir, tmp_path):
    common = ["--config", onnx_profile, "--data-dir", tmp_path / "data"]
    sample = tmp_path / "sample"
    for picture in _pictures(lfw_dir, 20):
        (sample / picture.parent.name).mkdir(parents=True, exist_ok=True)
        (sample / picture.parent.name / picture.name).write_bytes(picture.read_bytes())
    made = json.loads(run_cli("weights", "quantize", "--pictures", sample, "--json", *common).stdout)
    assert [m["model"] for m in made] == ["detector", "mobilefacenet"]
    assert all(m["file"] and m["faces"] > 0 for m in made)

    fresh = ["--config", onnx_profile, "--data-dir", tmp_path / "fresh"]  # calibrated on the files being indexed
    run_cli("index", sample, "--precision", "int8", *fresh)
    from db.engine import open_database
    from db.schema import Artwork, EmbeddingSet

    database = open_database(f"sqlite:///{tmp_path / 'fresh' / 'gallery.db'}")
    with database.session() as session:
        components = session.query(EmbeddingSet).one().components
        assert session.query(Artwork).count() == 20
    assert components["encoders"][0]["precision"] == "int8" and components["detector"]["int8_sha256"]
    assert len(list((tmp_path / "fresh" / "weights" / "derived").glob("*.int8.onnx"))) == 2

    refused = run_cli("weights", "quantize", "--pictures", tmp_path / "sample" / next(iter(
        p.name for p in sample.iterdir())), *common, ok=False)
    assert refused.exit_code == 1 and "int8 needs pictures" in refused.output


@pytest.mark.slow
def test_torch_encoders_run_their_linear_layers_in_int8():
    from gallery.config.device import resolve_placement
    from gallery.config.profiles import EncoderSpec
    from gallery.faces.encoders.factory import build_encoder
    from gallery.weights.store import WeightStore

    store = WeightStore(__import__("pathlib").Path("/nonexistent"), offline=True)
    crops = np.random.default_rng(0).integers(0, 255, (2, 224, 224, 3), np.uint8)
    fp32 = build_encoder(EncoderSpec("clip", "clip", None), store, resolve_placement("cpu", "fp32"))
    int8 = build_encoder(EncoderSpec("clip", "clip", None), store, resolve_placement("cpu", "int8"))
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    assert any(isinstance(m, DynamicLinear) for m in int8.module.modules())
    assert not any(isinstance(m, DynamicLinear) for m in fp32.module.modules())
    a, b = fp32.encode(crops), int8.encode(crops)
    assert int8.info().precision == "int8"
    assert (a * b).sum(1).min() > 0.99 and not np.allclose(a, b)


@pytest.mark.slow
def test_iresnet_runs_its_whole_network_in_int8(models_dir, lfw_dir, tmp_path, monkeypatch):
    """IResNet's convolutions, not only its last linear layer: the network written out as ONNX,
    calibrated, checked and cached like an ONNX recogniser; a later process opens only the int8 form."""
    import torch

    from gallery.config.settings import load_settings
    from gallery.faces.encoders.iresnet import IResNet
    from gallery.faces.pipeline import FacePipeline

    torch.manual_seed(3)
    torch.save(IResNet(18).state_dict(), tmp_path / "ir18.pth")
    profile = tmp_path / "ir.toml"
    profile.write_text(f'[detector]\nkind = "yunet"\nweights = "{models_dir / "face_detection_yunet_2023mar.onnx"}"\n'
                       f'\n[[encoders]]\nname = "ir"\nkind = "iresnet100"\nweights = "{tmp_path / "ir18.pth"}"\n'
                       'options = { depth = 18 }\n')
    settings = dataclasses.replace(load_settings(profile, {"HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}),
                                   weights_dir=tmp_path / "weights", data_dir=tmp_path / "data", int8_pictures=20)
    pictures = _pictures(lfw_dir)

    def pipeline(precision, calibration=None):
        return FacePipeline(dataclasses.replace(settings, precision=precision), calibration=calibration)

    fp32, int8 = pipeline("fp32"), pipeline("int8", lambda: iter(pictures))
    info = int8.info().encoders[0]
    assert info.precision == "int8" and len(info.int8_sha256) == 64
    assert fp32.info().encoders[0].precision == "fp32" and fp32.encoders[0].module is not None
    record_path = next((tmp_path / "weights" / "derived").glob("*.int8.json"))
    record = json.loads(record_path.read_text())
    assert record["source_sha256"] == fp32.info().encoders[0].weights[str(tmp_path / "ir18.pth")]
    assert record["measured"]["faces"] > 0 and record["measured"]["calibrated_on"]["faces"] > 0

    image = fp32.load(pictures[3])
    crops = fp32.crops(image, fp32.detect(image)[:1])
    close = float(fp32.embed_crops(crops)[0][0] @ int8.embed_crops(crops)[0][0])
    assert 0.97 <= close < 0.99999  # the int8 form really runs, and keeps the face

    again = pipeline("int8")  # no pictures: the cached form is opened, and no torch network built
    assert again.info().encoders[0].int8_sha256 == info.int8_sha256 and again.encoders[0].module is None

    def auto(kept: bool, bf16: bool) -> str:
        record["measured"]["kept"] = kept
        record_path.write_text(json.dumps(record))
        monkeypatch.setattr("gallery.config.device.cpu_has_bf16", lambda: bf16)
        return pipeline("auto").info().encoders[0].precision

    assert auto(kept=True, bf16=False) == "int8"
    assert auto(kept=False, bf16=False) == "fp32"  # only a form whose check kept fp32's answers
    assert auto(kept=True, bf16=True) == "bf16"  # where the CPU has bf16, bf16

    from gallery.admin.int8 import quantize_models

    made = quantize_models(settings, lfw_dir)  # `gallery weights quantize`: made afresh, from fp32
    assert [m.role for m in made] == ["ir"] and made[0].path == record_path.with_name(
        record_path.name.replace(".json", ".onnx")) and made[0].measured["faces"] > 0


def test_a_network_that_cannot_be_written_as_onnx_is_a_model_error():
    from gallery.core.errors import ModelError
    from gallery.faces.encoders.onnx_export import to_onnx

    with pytest.raises(ModelError, match="encoder 'odd'.*ONNX"):
        to_onnx(object(), 112, "encoder 'odd'")
