"""Training with randomly initialised networks on a few lfw-mini sitters, for a few steps."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from gallery.config.profiles import DetectorSpec, EncoderSpec, ProfileSpec
from gallery.config.settings import load_settings
from gallery.training.augment import AugmentSettings
from gallery.training.data import Faces, PkSampler, TrainingDataError, split
from gallery.training.loop import TrainConfig, batch_hard_triplet
from tests.collections import copy_sitters

pytestmark = pytest.mark.slow
QUIET = AugmentSettings(degrees=2.0, blur=0.0)


@pytest.fixture(scope="module")
def collection(lfw_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("train") / "collection"
    copy_sitters(lfw_dir, root, 6)  # 6 sitters x 4 portraits
    return root


def _settings(models_dir, tmp_path, **options):
    base = load_settings(None, {"HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}, data_dir=str(tmp_path / "data"))
    profile = ProfileSpec("random", DetectorSpec("scrfd", str(models_dir / "scrfd_500m.onnx")),
                          (EncoderSpec("clip", "clip", None), EncoderSpec("iresnet_base", "iresnet100", None,
                                                                           options=options)))
    return replace(base, profile=profile)


def test_batch_hard_triplet_and_pk_batches():
    import torch

    embeddings = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]]), dim=1)
    labels = torch.tensor([0, 0, 1, 1])
    assert float(batch_hard_triplet(embeddings, labels, 0.2)) == 0.0  # well separated
    assert float(batch_hard_triplet(embeddings, torch.tensor([0, 1, 0, 1]), 0.2)) > 0.5
    sampler = PkSampler(np.array(["a"] * 3 + ["b"] * 5 + ["c"] * 2 + ["d"]), p=2, k=4, seed=0)
    batch = sampler.batch()
    assert len(batch) == 8 and len({i // 100 for i in batch}) == 1  # indices into the label array


def test_split_is_sitter_disjoint_and_refuses_too_few(collection):
    labels = np.array([f"s{i // 4}" for i in range(40)])
    train, val = split(Faces(np.zeros((40, 2, 2, 3), np.uint8), labels), 0.2, 0)
    assert not set(train.labels) & set(val.labels) and len(set(val.labels)) == 2
    with pytest.raises(TrainingDataError, match="at least 4 sitters with 2 or more faces"):
        split(Faces(np.zeros((8, 2, 2, 3), np.uint8), labels[:8]), 0.5, 0)


def test_clip_lora_trains_saves_reloads_and_resumes(collection, models_dir, tmp_path):
    from gallery.faces.encoders.clip_encoder import ClipEncoder
    from gallery.config.device import Placement
    from gallery.training.recipes import train_clip_lora
    from gallery.weights.store import WeightStore

    settings = _settings(models_dir, tmp_path)
    config = TrainConfig(steps=4, p=3, k=2, lr=2e-3, warmup=1, eval_every=2, patience=10, validation=0.34,
                         augment=QUIET)
    result, folder = train_clip_lora(settings, collection, tmp_path / "adapter", config)
    assert result.steps == 4 and [h["step"] for h in result.history] == [2, 4]
    assert np.mean(result.losses[-2:]) < np.mean(result.losses[:2])  # the loss falls
    record = json.loads((folder / "adapter.json").read_text())["training"]
    assert record["sitters_train"] == 4 and record["sitters_validation"] == 2 and len(record["data_sha256"]) == 64

    # the saved adapter, loaded by the encoder, gives the trained model's own vectors
    import torch

    from gallery.faces.encoders.adapter import LoraSettings
    from gallery.faces.encoders.clip_encoder import build_clip_visual
    from gallery.training.data import faces_from_folder
    from gallery.training.loop import _to_tensor
    from gallery.training.models import ClipLoraModel
    from gallery.training.recipes import _Detector

    store = WeightStore(tmp_path / "weights", offline=True)
    encoder = ClipEncoder(EncoderSpec("clip", "clip", None, adapter=str(folder)), store, Placement("cpu", "fp32"))
    crops = faces_from_folder(_Detector(settings, store), collection, encoder.crop).crops[:4]
    trained = ClipLoraModel(build_clip_visual(None).float(), LoraSettings())
    trained.load_state(torch.load(folder / "training" / "checkpoint.pt", weights_only=False)["best_state"])
    trained.train_mode(False)
    with torch.no_grad():
        expected = trained.embed(_to_tensor(crops)).numpy()
    loaded = encoder.encode(crops)
    assert np.allclose(loaded, expected, atol=1e-4) and np.abs(loaded @ loaded.T - np.eye(4)).max() > 1e-3

    # resume: a run stopped at step 2 and continued gives the uninterrupted run's losses
    first, _ = train_clip_lora(settings, collection, tmp_path / "resumed", config, stop_at=2)
    assert first.steps == 2
    resumed, _ = train_clip_lora(settings, collection, tmp_path / "resumed", config)
    assert resumed.losses == pytest.approx(result.losses, abs=1e-5)


def test_iresnet_fine_tune_with_frozen_stages(collection, models_dir, tmp_path):
    import torch

    from gallery.faces.encoders.iresnet_io import load_state_dict_file
    from gallery.training.recipes import train_iresnet

    settings = _settings(models_dir, tmp_path, depth=18)
    config = TrainConfig(steps=4, p=3, k=2, lr=1e-3, warmup=1, eval_every=2, validation=0.34, augment=QUIET)
    result, path = train_iresnet(settings, collection, tmp_path / "out", config, init="random", frozen_stages=3)
    assert result.steps == 4 and path.name == "iresnet100-tuned.pth"
    tuned = load_state_dict_file(path, 18)
    torch.manual_seed(0)
    from gallery.faces.encoders.iresnet import IResNet

    start = IResNet(18)
    assert torch.equal(tuned.layer1[0].conv1.weight, start.layer1[0].conv1.weight)  # frozen
    assert not torch.equal(tuned.layer4[0].conv1.weight, start.layer4[0].conv1.weight)  # trained
    record = json.loads((path.parent / "iresnet100-tuned.json").read_text())
    assert record["frozen_stages"] == 3 and record["depth"] == 18 and record["base_weights"] is None


def test_train_command_writes_where_the_artface_profile_looks(gallery_cli, collection, onnx_profile, env, tmp_path):
    from gallery.weights.store import WeightStore

    done = gallery_cli("train", "iresnet", "--collection", collection, "--config", onnx_profile, "--init", "random",
                       "--frozen-stages", "4", "--steps", "2", "--p", "2", "--k", "2", "--eval-every", "1",
                       "--validation", "0.34")
    assert "2 steps" in done.stdout and "best validation EER" in done.stdout
    weights = tmp_path / "data" / "weights"
    resolved = WeightStore(weights, offline=True).resolve("iresnet100-tuned")
    assert resolved.path == (weights / "iresnet100-tuned.pth").resolve()
    assert json.loads((weights / "iresnet100-tuned.json").read_text())["steps"] == 2


def test_training_faces_from_the_database(indexed):
    from gallery.faces.align import ARCFACE_CROP
    from gallery.training.data import faces_from_database

    settings, _service, _held_out, database = indexed
    faces = faces_from_database(database, ARCFACE_CROP, settings.max_pixels)
    assert faces.crops.shape == (60, 112, 112, 3) and len(set(faces.labels)) == 20  # 20 sitters x 3 indexed
