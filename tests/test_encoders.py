"""Encoders with randomly initialised weights (plumbing) and the shared ONNX recogniser."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gallery.config.device import Placement
from gallery.faces.encoders.adapter import AdapterManifest, LoraSettings, attach_lora, make_head, save_adapter
from gallery.faces.encoders.clip_encoder import build_clip_visual
from gallery.faces.encoders.factory import build_encoder
from gallery.faces.encoders.iresnet import IResNet
from gallery.faces.encoders.iresnet_io import import_onnx, load_state_dict_file
from gallery.core.errors import ModelError
from gallery.config.profiles import EncoderSpec
from gallery.weights.store import WeightStore

FP32 = Placement("cpu", "fp32")


def _crops(n, size, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, size, size, 3), dtype=np.uint8)


@pytest.fixture()
def store(tmp_path):
    return WeightStore(tmp_path / "weights", offline=True)


@pytest.fixture(scope="module")
def clip_visual():
    return build_clip_visual(None).eval()


def test_clip_random_init_shapes_norm_and_determinism(store):
    encoder = build_encoder(EncoderSpec("clip", "clip", None), store, FP32, batch_size=2)
    crops = _crops(3, 224)
    a = encoder.encode(crops)
    assert a.shape == (3, 512) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    again = build_encoder(EncoderSpec("clip", "clip", None), store, FP32).encode(crops)
    assert np.allclose(a, again, atol=1e-5)  # same seed, same vectors, batching does not matter
    with pytest.raises(ModelError, match="224 x 224"):
        encoder.encode(_crops(1, 112))


def test_bf16_vectors_stay_close_to_fp32(store):
    crops = _crops(2, 224, seed=3)
    fp32 = build_encoder(EncoderSpec("clip", "clip", None), store, FP32).encode(crops)
    bf16 = build_encoder(EncoderSpec("clip", "clip", None), store, Placement("cpu", "bf16")).encode(crops)
    assert np.min(np.sum(fp32 * bf16, axis=1)) > 0.999


def test_lora_default_has_about_one_million_trainable_parameters(clip_visual):
    import copy

    settings = LoraSettings()
    peft_visual = attach_lora(copy.deepcopy(clip_visual), settings)
    lora = sum(p.numel() for n, p in peft_visual.named_parameters() if p.requires_grad)
    head = sum(p.numel() for p in make_head(512, settings).parameters())
    assert lora == 884_736  # rank 16 on in- and out-projection of 12 attention blocks
    assert 0.9e6 < lora + head < 1.3e6


def test_every_lora_module_trains(clip_visual):
    """All LoRA tensors change under training, out_proj's included (a LoRA on a bare out_proj never would)."""
    import copy

    torch.manual_seed(0)
    peft_visual = attach_lora(copy.deepcopy(clip_visual), LoraSettings(dropout=0.0)).train()
    params = {n: p for n, p in peft_visual.named_parameters() if p.requires_grad}
    assert any("out_proj.lora_A" in n for n in params) and any(n.endswith("attn.lora_A.default.weight") for n in params)
    before = {n: p.detach().clone() for n, p in params.items()}
    optimizer = torch.optim.SGD(params.values(), lr=0.5)
    x = torch.randn(2, 3, 224, 224)
    target = torch.randn(2, 512)
    for _ in range(2):  # B starts at zero: A only moves from the second step on
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(peft_visual(x), target).backward()
        optimizer.step()
    frozen = [n for n, p in params.items() if torch.equal(before[n], p.detach())]
    assert frozen == []


def test_adapter_save_then_load_gives_identical_vectors(clip_visual, tmp_path, store):
    import copy

    settings = LoraSettings(dropout=0.0)
    torch.manual_seed(1)
    peft_visual = attach_lora(copy.deepcopy(clip_visual), settings)
    for name, param in peft_visual.named_parameters():
        if "lora_B" in name:  # a trained adapter has non-zero B
            torch.nn.init.normal_(param, std=0.02)
    head = make_head(512, settings)
    folder = save_adapter(tmp_path / "adapter", peft_visual, head,
                          AdapterManifest("ViT-B-16", None, None, settings, embed_dim=512))
    crops = _crops(2, 224, seed=5)
    spec = EncoderSpec("clip_lora", "clip", None, adapter=str(folder))
    encoder = build_encoder(spec, store, FP32)
    loaded = encoder.encode(crops)
    with torch.no_grad():
        expected = head(peft_visual.eval()(encoder.to_tensor(crops)))
    expected = torch.nn.functional.normalize(expected, dim=1).numpy()
    assert np.allclose(loaded, expected, atol=1e-4)
    plain = build_encoder(EncoderSpec("clip", "clip", None), store, FP32).encode(crops)
    assert not np.allclose(plain, loaded, atol=1e-3)  # the adapter changes the vectors
    assert encoder.info().weights[str(folder)]  # the adapter's sha256 is recorded
    (folder / "head.safetensors").write_bytes(b"damaged")
    with pytest.raises(ModelError, match="corrupt"):
        build_encoder(spec, store, FP32).encode(crops)


def test_clip_weights_file_loads_and_torchscript_is_recognised(tmp_path, store):
    import open_clip

    from gallery.faces.encoders.clip_encoder import _is_torchscript

    torch.manual_seed(11)
    model = open_clip.create_model("ViT-B-16", pretrained=None, force_quick_gelu=True)
    torch.save(model.state_dict(), tmp_path / "open_clip_vit_b16.pt")
    crops = _crops(2, 224, seed=9)
    from_file = build_encoder(EncoderSpec("clip", "clip", str(tmp_path / "open_clip_vit_b16.pt")), store, FP32)
    got = from_file.encode(crops)
    with torch.no_grad():
        want = torch.nn.functional.normalize(model.visual.eval()(from_file.to_tensor(crops)), dim=1).numpy()
    assert np.allclose(got, want, atol=1e-4)
    assert not _is_torchscript(tmp_path / "open_clip_vit_b16.pt")
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), tmp_path / "scripted.pt")
    assert _is_torchscript(tmp_path / "scripted.pt")  # the OpenAI release file is such an archive


def test_iresnet100_random_init_shapes_and_norm(store):
    encoder = build_encoder(EncoderSpec("ir", "iresnet100", None), store, FP32, batch_size=4)
    vectors = encoder.encode(_crops(3, 112))
    assert vectors.shape == (3, 512) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert sum(p.numel() for p in encoder.module.parameters()) > 60_000_000  # IResNet100, not a small one


def _randomise_bn(model):
    gen = torch.Generator().manual_seed(7)
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
            module.running_mean.copy_(torch.rand(module.num_features, generator=gen) * 0.2 - 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
            module.bias.data.copy_(torch.rand(module.num_features, generator=gen) * 0.2 - 0.1)
    return model.eval()


def test_both_state_dict_layouts_load(tmp_path):
    torch.manual_seed(0)
    source = _randomise_bn(IResNet(18))
    x = torch.randn(2, 3, 112, 112)
    # arcface_torch training checkpoint: wrapped, DataParallel prefix
    wrapped = {"state_dict_backbone": {f"module.{k}": v for k, v in source.state_dict().items()}, "epoch": 3}
    torch.save(wrapped, tmp_path / "checkpoint_gpu_0.pt")
    loaded = load_state_dict_file(tmp_path / "checkpoint_gpu_0.pt").eval()
    assert loaded.depth == 18 and loaded.bn1.eps == 1e-5
    with torch.no_grad():
        assert torch.allclose(loaded(x), source(x), atol=1e-4)
    # the PyTorch port's release file name selects its BN eps
    torch.save(source.state_dict(), tmp_path / "iresnet100-73e07ba7.pth")
    assert load_state_dict_file(tmp_path / "iresnet100-73e07ba7.pth").bn1.eps == 2e-5
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "junk.pth")
    with pytest.raises(ModelError):
        load_state_dict_file(tmp_path / "junk.pth")


@pytest.mark.parametrize("depth", [18, 100])
def test_onnx_export_then_import_gives_the_same_outputs(tmp_path, depth):
    torch.manual_seed(depth)
    source = _randomise_bn(IResNet(depth))
    x = torch.randn(2, 3, 112, 112)
    path = tmp_path / f"ir{depth}.onnx"
    torch.onnx.export(source, x, str(path), dynamo=False, input_names=["input"], output_names=["embedding"],
                      dynamic_axes={"input": {0: "batch"}})
    imported = import_onnx(path, depth)
    with torch.no_grad():
        want, got = source(x), imported(x)
    relative = ((want - got).norm(dim=1) / want.norm(dim=1)).max().item()
    assert relative < 1e-4
    with pytest.raises(ModelError, match="IResNet"):
        import_onnx(path, 50 if depth == 100 else 34)


def test_onnx_recogniser_with_fixed_batch_of_one(models_dir, store):
    spec = EncoderSpec("mfn", "onnx", str(models_dir / "mobilefacenet.onnx"))
    encoder = build_encoder(spec, store, FP32)
    crops = _crops(3, 112)
    batch = encoder.encode(crops)
    assert batch.shape == (3, 128) and encoder.crop.size == 112
    single = np.concatenate([encoder.encode(crops[i:i + 1]) for i in range(3)])
    assert np.allclose(batch, single, atol=1e-6)
    assert encoder.info().weights[spec.weights].startswith("e72a5710")


@pytest.mark.parametrize("order", ["RGB", "BGR"])
def test_crops_are_scaled_and_normalised_per_channel_in_either_channel_order(store, order):
    from dataclasses import replace

    from gallery.weights.registry import CLIP_PREPROCESSING

    encoder = build_encoder(EncoderSpec("clip", "clip", None), store, Placement("cpu", "fp32"))
    encoder.preprocessing = replace(CLIP_PREPROCESSING, channel_order=order)
    crops = _crops(2, 8, seed=3)
    x = encoder.to_tensor(crops)
    pixels = crops[..., ::-1] if order == "BGR" else crops
    want = (pixels / 255.0 - np.array(CLIP_PREPROCESSING.mean)) / np.array(CLIP_PREPROCESSING.std)
    assert x.shape == (2, 3, 8, 8) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert np.allclose(x.numpy(), want.transpose(0, 3, 1, 2), atol=1e-6)
