"""LoRA for any ONNX face recogniser (`gallery train onnx-lora`).

The recogniser's ONNX graph is brought into torch with onnx2torch (after its fixed batch of 1 is
freed where the graph allows, gallery.faces.onnx_runtime), checked against onnxruntime on the same
crops, and given LoRA adapters with peft. After training the adapters are merged into the weights
and the merged weights are written back into the recogniser's own ONNX graph (the same operators,
input and output; nothing is traced again), and the written model is checked against the torch
model on the same crops.

Choices (the ArtFace paper states none of them for a convolutional recogniser), all configurable:
- rank 8, alpha 16, no dropout: a small adapter (about 92 k weights on MobileFaceNet's 1.0 M)
  that a few hundred labelled faces can train without forgetting photographs;
- targets `dense`: every convolution that is not depthwise, and every linear layer. A depthwise
  kernel has one input channel, so a low-rank update of it is no smaller than the kernel itself;
  `pointwise` adapts only the 1 x 1 convolutions and linear layers; anything else is read as a
  regular expression over the layer names (`gallery train onnx-lora --list-layers`);
- no head by default: the merged recogniser gives vectors of the size it gave, so an adapted model
  drops into a profile where the base one was. `head = True` adds a square linear layer after the
  network, started at the identity, written into the ONNX graph as MatMul + Add.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gallery.core.errors import ConfigError, ModelError
from gallery.training.models import PeftHeadModel

TARGET_PRESETS = ("dense", "pointwise")
EXPORT_TOLERANCE = 1e-4  # largest difference between the torch and the ONNX model's vectors


@dataclass(frozen=True)
class OnnxLoraSettings:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    targets: str = "dense"  # a preset of TARGET_PRESETS or a regular expression over layer names
    head: bool = False  # an identity-initialised square linear layer after the network

    def __post_init__(self):
        if self.rank < 1:
            raise ConfigError(f"LoRA rank must be at least 1, got {self.rank}")
        if self.alpha < 1:
            raise ConfigError(f"LoRA alpha must be at least 1, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"LoRA dropout must be in [0, 1), got {self.dropout}")
        if self.targets not in TARGET_PRESETS:
            try:
                re.compile(self.targets)
            except re.error as err:
                raise ConfigError(f"LoRA targets: {self.targets!r} is neither one of {TARGET_PRESETS} "
                                  f"nor a regular expression ({err})") from None


def adaptable_layers(net) -> dict[str, str]:
    """Every convolution and linear layer of a converted network: name -> a short description."""
    import torch.nn as nn

    out = {}
    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d):
            kind = "depthwise" if module.groups > 1 and module.groups == module.in_channels else "conv"
            out[name] = f"{kind} {module.in_channels}->{module.out_channels} {tuple(module.kernel_size)}"
        elif isinstance(module, nn.Linear):
            out[name] = f"linear {module.in_features}->{module.out_features}"
    return out


def target_layers(net, targets: str) -> list[str]:
    """The layer names `targets` picks (see the module's notes); an error when it picks none."""
    import torch.nn as nn

    chosen = []
    for name, module in net.named_modules():
        if not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        dense = isinstance(module, nn.Linear) or module.groups == 1
        pointwise = isinstance(module, nn.Linear) or (module.groups == 1 and tuple(module.kernel_size) == (1, 1))
        if ((targets == "dense" and dense) or (targets == "pointwise" and pointwise)
                or (targets not in TARGET_PRESETS and dense and re.search(targets, name))):
            chosen.append(name)
    if not chosen:
        raise ConfigError(f"LoRA targets {targets!r} pick no convolution (not depthwise) or linear layer of this "
                          f"recogniser; its layers: {', '.join(list(adaptable_layers(net))[:12])}…")
    return chosen


@dataclass
class Converted:
    """A recogniser brought into torch: the module and the ONNX model it came from."""

    net: object  # torch.fx.GraphModule
    model: object  # onnx.ModelProto (batch freed where possible)
    size: int  # crop side
    batch_free: bool


def convert(path: Path, what: str = "recogniser") -> Converted:
    """The ONNX recogniser at `path` as a torch module, checked against onnxruntime."""
    import onnx

    from gallery.faces.onnx_runtime import batch_freed

    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ModelError(f"{what}: {path} is not an ONNX model (.onnx); onnx-lora adapts ONNX recognisers")
    try:
        freed = batch_freed(path)
        model = onnx.load_from_string(freed) if freed else onnx.load(str(path))
    except Exception as err:  # a damaged or foreign file: onnx raises its own types
        raise ModelError(f"{what}: cannot read {path} as an ONNX model: {err}") from None
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4 or dims[1].dim_value != 3 or not dims[2].dim_value or dims[2].dim_value != dims[3].dim_value:
        raise ModelError(f"{what}: expected an N x 3 x S x S input, {path} has "
                         f"{[d.dim_value or d.dim_param for d in dims]}")
    from onnx2torch import convert as onnx_to_torch

    try:
        net = onnx_to_torch(model)
    except Exception as err:  # an operator onnx2torch has no converter for
        raise ModelError(f"{what}: onnx2torch cannot convert {path}: {err}") from None
    converted = Converted(net.eval(), model, int(dims[2].dim_value), freed is not None)
    largest = check_against_onnx(converted.net, None, model.SerializeToString(), converted.size,
                                 batch=1 if freed is None else 3)
    if largest > EXPORT_TOLERANCE:
        raise ModelError(f"{what}: the torch conversion of {path} gives other vectors than onnxruntime "
                         f"(largest difference {largest:.2e}); it cannot be adapted this way")
    return converted


def check_against_onnx(net, head, onnx_bytes: bytes, size: int, batch: int = 3, crops=None) -> float:
    """The largest difference between the torch network's (and head's) raw outputs and the ONNX
    model's, on `crops` (N x 3 x S x S network inputs) or seeded random inputs."""
    import torch

    from gallery.faces.onnx_runtime import runtime

    ort = runtime()

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = crops if crops is not None else np.random.default_rng(0).uniform(-1, 1, (batch, 3, size, size))
    x = np.asarray(x, np.float32)
    fixed = session.get_inputs()[0].shape[0] == 1
    got = (np.concatenate([session.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))]) if fixed
           else session.run(None, {name: x})[0])
    with torch.no_grad():
        want = net(torch.from_numpy(x)).reshape(len(x), -1)
        if head is not None:
            want = head(want)
    return float(np.abs(got.reshape(len(x), -1) - want.numpy()).max())


class OnnxLoraModel(PeftHeadModel):
    """A converted recogniser with LoRA adapters (and an optional head): what the loop trains."""

    def __init__(self, converted: Converted, settings: OnnxLoraSettings, mean: float = 127.5, std: float = 127.5,
                 bgr: bool = False):
        import torch
        import torch.nn as nn
        from peft import LoraConfig, get_peft_model

        self.settings, self.converted = settings, converted
        self.targets = target_layers(converted.net, settings.targets)
        config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                            target_modules=self.targets, bias="none")
        self.peft = get_peft_model(converted.net, config)
        self.dim = int(self._raw(torch.zeros(1, 3, converted.size, converted.size)).shape[1])
        self.head = nn.Linear(self.dim, self.dim) if settings.head else nn.Identity()
        if settings.head:
            with torch.no_grad():
                self.head.weight.copy_(torch.eye(self.dim))
                self.head.bias.zero_()
        self.mean, self.std, self.bgr = float(mean), float(std), bgr

    def _raw(self, x):
        import torch

        with torch.no_grad():
            return self.peft(x).reshape(len(x), -1)

    def train_mode(self, on: bool) -> None:
        """Training mode for the adapters; the recogniser's own normalisation layers stay as exported
        (their running statistics are part of the graph written back)."""
        import torch.nn as nn

        super().train_mode(on)
        for module in self.peft.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()

    def network_input(self, images):
        """N x 3 x S x S floats in [0, 1] (RGB) -> what the ONNX model takes."""
        x = images * 255.0
        if self.bgr:
            x = x.flip(1)
        return (x - self.mean) / self.std

    def embed(self, images):
        import torch.nn.functional as F

        return F.normalize(self.head(self.peft(self.network_input(images)).reshape(len(images), -1)), dim=1)

    def merge(self):
        """(network, head) with the adapters merged into the weights: plain torch modules. This ends
        training: the model has no adapters left afterwards."""
        return self.peft.merge_and_unload().eval(), self.head.eval()


def write_merged(converted: Converted, net, head, targets: list[str]) -> bytes:
    """The recogniser's own ONNX graph with the merged weights of `targets` written into it (and
    the head appended), as bytes."""
    import onnx
    import torch.nn as nn
    from onnx import helper, numpy_helper
    from onnx2torch.onnx_graph import OnnxGraph

    model = onnx.ModelProto()
    model.CopyFrom(converted.model)
    graph = model.graph
    initialisers = {i.name: i for i in graph.initializer}
    users: dict[str, int] = {}
    for node in graph.node:
        for value in node.input:
            users[value] = users.get(value, 0) + 1
    nodes = dict(OnnxGraph(graph).nodes.items())  # onnx2torch's names for the nodes: the modules' names
    for name in targets:
        module = net.get_submodule(name)
        node = nodes[name].proto
        slots = [(node.input[1], module.weight)]
        if module.bias is not None and len(node.input) > 2:
            slots.append((node.input[2], module.bias))
        for value, tensor in slots:
            if value not in initialisers:
                raise ModelError(f"layer {name}: its weights are computed in the graph, not stored; "
                                 f"it cannot be adapted (choose other --targets)")
            if users[value] > 1:
                raise ModelError(f"layer {name}: its weights are shared with another layer; "
                                 f"it cannot be adapted alone (choose other --targets)")
            old = numpy_helper.to_array(initialisers[value])
            new = tensor.detach().cpu().numpy().astype(old.dtype)
            if isinstance(module, nn.Linear) and node.op_type in ("Gemm", "MatMul") and new.shape != old.shape:
                new = new.T  # a (K x N) weight read as x @ W
            if new.shape != old.shape:
                raise ModelError(f"layer {name}: merged weights {new.shape} do not fit the graph's {old.shape}")
            initialisers[value].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(new), value))
    if isinstance(head, nn.Linear):
        out = graph.output[0]
        raw = out.name + "_before_head"
        for node in graph.node:
            node.output[:] = [raw if o == out.name else o for o in node.output]
        weight = head.weight.detach().cpu().numpy().T.astype(np.float32)
        bias = head.bias.detach().cpu().numpy().astype(np.float32)
        graph.initializer.extend([numpy_helper.from_array(weight, "adaptation_head_weight"),
                                  numpy_helper.from_array(bias, "adaptation_head_bias")])
        graph.node.extend([helper.make_node("Flatten", [raw], [raw + "_flat"]),
                           helper.make_node("MatMul", [raw + "_flat", "adaptation_head_weight"], [raw + "_mm"]),
                           helper.make_node("Add", [raw + "_mm", "adaptation_head_bias"], [out.name])])
    del graph.value_info[:]
    onnx.checker.check_model(model)
    return model.SerializeToString()
