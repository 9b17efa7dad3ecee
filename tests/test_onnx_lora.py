"""`gallery train onnx-lora`: the real MobileFaceNet converted, LoRA-adapted, merged and written
back to ONNX; trained for a few steps on lfw-mini sitters."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from gallery.core.errors import ConfigError, ModelError
from gallery.training.augment import AugmentSettings
from gallery.training.data import TrainingDataError
from gallery.training.loop import TrainConfig
from gallery.training.onnx_lora import EXPORT_TOLERANCE, OnnxLoraSettings
from tests.collections import copy_sitters

QUIET = AugmentSettings(degrees=2.0, blur=0.0)
# margin 1.0: the pretrained recogniser already separates these photographs by the default 0.2
CONFIG = TrainConfig(steps=4, p=3, k=2, lr=5e-3, margin=1.0, warmup=1, eval_every=2, patience=10, validation=0.34,
                     augment=QUIET)


@pytest.fixture(scope="module")
def converted(models_dir):
    from gallery.training.onnx_lora import convert

    return convert(models_dir / "mobilefacenet.onnx")


@pytest.fixture(scope="module")
def collection(lfw_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx-lora") / "collection"
    copy_sitters(lfw_dir, root, 6)  # 6 sitters x 4 portraits
    return root


def _crops(n: int = 4):
    return np.random.default_rng(1).uniform(0, 1, (n, 3, 112, 112)).astype(np.float32)


def test_conversion_gives_onnxruntime_vectors(converted, models_dir):
    from gallery.training.onnx_lora import adaptable_layers, check_against_onnx, target_layers

    assert converted.size == 112 and converted.batch_free  # the file's fixed batch of 1 was freed
    original = (models_dir / "mobilefacenet.onnx").read_bytes()  # the file itself, batch 1
    assert check_against_onnx(converted.net, None, original, 112, batch=3) < EXPORT_TOLERANCE
    layers = adaptable_layers(converted.net)
    dense, pointwise = target_layers(converted.net, "dense"), target_layers(converted.net, "pointwise")
    assert set(pointwise) < set(dense) < set(layers)
    assert not any(layers[name].startswith("depthwise") for name in dense)  # a depthwise kernel is not adapted
    assert all(layers[name].endswith("(1, 1)") for name in pointwise) and "conv3/Conv" in pointwise  # the embedding


@pytest.mark.parametrize("head", [False, True])
def test_merged_and_exported_model_gives_the_trained_vectors(converted, head):
    import onnxruntime as ort
    import torch

    from gallery.training.onnx_lora import OnnxLoraModel, write_merged

    torch.manual_seed(0)
    model = OnnxLoraModel(converted, OnnxLoraSettings(rank=4, head=head))
    images = torch.from_numpy(_crops())
    with torch.no_grad():
        base = model.embed(images).numpy()  # LoRA's B starts at zero: the base model
        for name, parameter in model.peft.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.02)
        if head:
            model.head.weight.add_(0.05 * torch.randn_like(model.head.weight))
        model.train_mode(False)
        trained = model.embed(images).numpy()
        x = model.network_input(images)
    assert np.abs(trained - base).max() > 1e-2  # the adapters change the vectors
    net, head_module = model.merge()
    with torch.no_grad():
        merged = torch.nn.functional.normalize(head_module(net(x).reshape(len(x), -1)), dim=1).numpy()
    assert np.abs(merged - trained).max() < 1e-5
    exported = write_merged(converted, net, head_module, model.targets)
    session = ort.InferenceSession(exported, providers=["CPUExecutionProvider"])
    raw = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    raw = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    assert np.abs(raw - trained).max() < EXPORT_TOLERANCE
    assert raw.shape == (4, 128)  # the head is square: the profile's vector size is kept


def test_settings_and_targets_refused_clearly(converted, tmp_path):
    from gallery.training.onnx_lora import convert, target_layers

    with pytest.raises(ConfigError, match="neither one of"):
        OnnxLoraSettings(targets="conv[")
    with pytest.raises(ConfigError, match="rank must be at least 1"):
        OnnxLoraSettings(rank=0)
    with pytest.raises(ConfigError, match="pick no convolution"):
        target_layers(converted.net, "no_such_layer")
    with pytest.raises(ModelError, match="not an ONNX model"):
        convert(tmp_path / "weights.pth")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot read"):
        convert(broken)


def _onnx_settings(onnx_profile, tmp_path):
    from gallery.config.settings import load_settings

    return load_settings(onnx_profile, {"HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"},
                         data_dir=str(tmp_path / "data"))


@pytest.mark.slow
def test_training_lowers_the_loss_writes_the_profile_and_resumes_exactly(collection, onnx_profile, models_dir,
                                                                          tmp_path):
    import onnxruntime as ort

    from gallery.config.settings import load_settings
    from gallery.training.onnx_recipe import train_onnx_lora
    from gallery.weights.hashing import sha256_path

    settings = _onnx_settings(onnx_profile, tmp_path)
    result, path = train_onnx_lora(settings, collection, tmp_path / "adapted", CONFIG)
    assert result.steps == 4 and [h["step"] for h in result.history] == [2, 4]
    assert np.mean(result.losses[-2:]) < np.mean(result.losses[:2]) - 0.01, result.losses  # the loss falls
    record = json.loads((tmp_path / "adapted" / "adaptation.json").read_text())
    assert record["sha256"] == sha256_path(path) != record["base_sha256"]
    assert record["base_sha256"] == sha256_path(models_dir / "mobilefacenet.onnx")
    assert len(record["data_sha256"]) == 64 and record["sitters_train"] == 4 and record["sitters_validation"] == 2
    assert record["export_check"]["largest_difference"] < EXPORT_TOLERANCE
    assert record["lora"] == {"rank": 8, "alpha": 16, "dropout": 0.0, "targets": "dense", "head": False}
    assert ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()[0].shape[1:] == \
        [3, 112, 112]

    adapted = load_settings(tmp_path / "adapted" / "profile.toml", {"HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"},
                            data_dir=str(tmp_path / "data"))
    (encoder,) = adapted.profile.encoders
    assert encoder.name == "mobilefacenet" and encoder.weights == str(path.resolve())
    assert adapted.profile.detector == settings.profile.detector and adapted.profile.name.endswith("-adapted")

    # resume: a run stopped at step 2 and continued gives the uninterrupted run's losses and weights
    first, _ = train_onnx_lora(settings, collection, tmp_path / "resumed", CONFIG, stop_at=2)
    assert first.steps == 2
    resumed, again = train_onnx_lora(settings, collection, tmp_path / "resumed", CONFIG)
    assert resumed.losses == pytest.approx(result.losses, abs=1e-5)
    assert (result.resumed_from, resumed.resumed_from) == (0, 2)  # faces/s counts this run's steps only
    a, b = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (path, again))
    x = _crops(1) * 2 - 1
    assert np.allclose(a.run(None, {a.get_inputs()[0].name: x})[0], b.run(None, {b.get_inputs()[0].name: x})[0],
                       atol=1e-4)


def test_bad_training_input_answered_clearly(collection, onnx_profile, tmp_path):
    from dataclasses import replace

    from gallery.config.profiles import EncoderSpec
    from gallery.training.onnx_recipe import train_onnx_lora

    settings = _onnx_settings(onnx_profile, tmp_path)
    one_sitter = tmp_path / "one"
    shutil.copytree(next(p for p in collection.iterdir() if p.is_dir()), one_sitter / "someone")
    with pytest.raises(TrainingDataError, match="at least 4 sitters with 2 or more faces.*name 1 sitter,"):
        train_onnx_lora(settings, one_sitter, tmp_path / "out", CONFIG)
    singles = tmp_path / "singles"
    for folder in sorted(p for p in collection.iterdir() if p.is_dir()):
        (singles / folder.name).mkdir(parents=True)
        shutil.copy(sorted(folder.iterdir())[0], singles / folder.name)
    with pytest.raises(TrainingDataError, match="name 6 sitters, 0 of them with 2 or more faces"):
        train_onnx_lora(settings, singles, tmp_path / "out", CONFIG)
    with pytest.raises(ConfigError, match="has no encoder 'clip'"):
        train_onnx_lora(settings, collection, tmp_path / "out", CONFIG, encoder="clip")
    clip = replace(settings, profile=replace(settings.profile, encoders=(
        *settings.profile.encoders, EncoderSpec("clip", "clip", None))))
    with pytest.raises(ConfigError, match="is a clip encoder, not an ONNX recogniser"):
        train_onnx_lora(clip, collection, tmp_path / "out", CONFIG, encoder="clip")
    no_onnx = replace(settings, profile=replace(settings.profile, encoders=(EncoderSpec("clip", "clip", None),)))
    with pytest.raises(ConfigError, match="has 0 ONNX recognisers"):
        train_onnx_lora(no_onnx, collection, tmp_path / "out", CONFIG)
    assert not (tmp_path / "out" / "recogniser.onnx").exists()


def test_cli_refuses_a_non_onnx_encoder_in_one_clear_line(gallery_cli, collection, tmp_path, models_dir):
    from tests.conftest import write_profile

    profile = write_profile(tmp_path / "p.toml", models_dir,
                            extra='\n[[encoders]]\nname = "clip"\nkind = "clip"\n'
                                  'weights = "clip-vit-b-16-openai"\nweight = 1.0\n')
    done = gallery_cli("train", "onnx-lora", "--config", profile, "--collection", collection, "--out",
                       tmp_path / "out", "--encoder", "clip", check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "is a clip encoder, not an ONNX recogniser" in done.stderr
    done = gallery_cli("train", "onnx-lora", "--config", profile, "--collection", collection, "--targets", "conv[",
                       "--out", tmp_path / "out", check=False)
    assert done.returncode != 0 and "neither one of" in done.stderr and "Traceback" not in done.stderr


def test_cli_lists_the_layers_targets_pick(gallery_cli, onnx_profile):
    done = gallery_cli("train", "onnx-lora", "--config", onnx_profile, "--list-layers", "--targets", "conv3")
    picked = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("*")]
    assert picked == ["conv3/Conv"] and "1 of 51 layers picked by --targets conv3" in done.stdout
    assert "depthwise 512->512 (7, 7)" in done.stdout


@pytest.mark.slow
def test_indexing_under_the_written_profile_builds_a_new_set_over_the_same_faces(gallery_cli, collection,
                                                                                onnx_profile, tmp_path):
    first = json.loads(gallery_cli("index", collection, "--config", onnx_profile, "--json").stdout)
    assert first["counts"]["new"] == 24 and first["counts"]["identifications_added"] == 24
    before = json.loads(gallery_cli("status", "--config", onnx_profile, "--json").stdout)
    done = gallery_cli("train", "onnx-lora", "--config", onnx_profile, "--collection", collection, "--out",
                       tmp_path / "adapted", "--steps", "2", "--p", "3", "--k", "2", "--eval-every", "1",
                       "--validation", "0.34")
    assert "2 steps" in done.stdout and "recogniser.onnx" in done.stdout
    profile = tmp_path / "adapted" / "profile.toml"
    second = json.loads(gallery_cli("index", collection, "--config", profile, "--json").stdout)
    counts = second["counts"]
    assert counts["embed"] == 24 and counts["faces_embedded"] == first["counts"]["faces_added"]
    assert counts.get("new", 0) == 0 and counts.get("faces_added", 0) == 0 and second["errors"] == []
    after = json.loads(gallery_cli("status", "--config", profile, "--json").stdout)
    assert (after["artworks"], after["faces"], after["sitters"], after["identified_faces"]) == \
        (before["artworks"], before["faces"], before["sitters"], before["identified_faces"])
    old, new = sorted(after["embedding_sets"], key=lambda s: s["active"])
    assert new["active"] and not old["active"] and new["faces"] == old["faces"] == before["faces"]
    assert new["key"] != old["key"]
