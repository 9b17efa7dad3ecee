"""Loading IResNet weights: torch state dicts and insightface ONNX files.

State dicts: insightface's arcface_torch `backbone.pth` (BN eps 1e-5, possibly
inside a training checkpoint or with a `module.` prefix) and the PyTorch port
whose release file is `iresnet100-73e07ba7.pth` (BN eps 2e-5).

ONNX: an insightface IResNet ONNX file (e.g. glintr100.onnx) is read node by
node in graph order and matched to the torch model's parameterised layers in
forward order. Exporters fold a BatchNorm that follows a convolution into the
convolution's weight and bias; such a BatchNorm is set to identity plus that
bias (mean 0, var 1-eps, scale 1), which reproduces the ONNX output exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from gallery.core.errors import ModelError
from gallery.faces.encoders.iresnet import DEPTHS, IResNet

# release files of the PyTorch port use BN eps 2e-5
PORT_FILES = ("iresnet34-5b0d0e90.pth", "iresnet50-7f187506.pth", "iresnet100-73e07ba7.pth")
_CONTAINER_KEYS = ("state_dict_backbone", "state_dict", "model", "backbone")
_PREFIXES = ("module.", "backbone.", "model.")


def bn_eps_for(path: Path) -> float:
    return 2e-5 if Path(path).name in PORT_FILES else 1e-5


def _unwrap(obj) -> dict[str, torch.Tensor]:
    for _ in range(3):
        if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            key = next((k for k in _CONTAINER_KEYS if k in obj), None)
            if key is None:
                break
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ModelError(f"expected a state dict, found {type(obj).__name__}")
    state = {}
    for key, value in obj.items():
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
        state[key] = value
    return state


def depth_of(state: dict[str, torch.Tensor]) -> int:
    counts = tuple(len({k.split(".")[1] for k in state if k.startswith(f"layer{i}.")}) for i in range(1, 5))
    for depth, blocks in DEPTHS.items():
        if blocks == counts:
            return depth
    raise ModelError(f"state dict has {counts} blocks per stage, which is no known IResNet depth")


def load_state_dict_file(path: Path, depth: int | None = None) -> IResNet:
    """Build an IResNet from a .pth file in either common layout."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelError(f"cannot read IResNet weights {path}: {err}") from err
    state = _unwrap(raw)
    depth = depth or depth_of(state)
    model = IResNet(depth, embedding_size=int(state["fc.weight"].shape[0]), bn_eps=bn_eps_for(path))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ModelError(
            f"{path} does not match IResNet{depth}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return model


# ---------------------------------------------------------------- ONNX import
_PARAM_OPS = ("Conv", "BatchNormalization", "PRelu", "Gemm", "MatMul")


def _onnx_units(path: Path) -> list[tuple[str, list[np.ndarray], str]]:
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path)).graph
    except Exception as err:
        raise ModelError(f"cannot read ONNX file {path}: {err}") from err
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:  # constants built from initialisers by simple ops
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type in ("Unsqueeze", "Reshape", "Identity", "Squeeze") and node.input[0] in consts:
            consts[node.output[0]] = consts[node.input[0]]
    producers = {out: node for node in graph.node for out in node.output}
    units = []
    for node in graph.node:
        if node.op_type not in _PARAM_OPS:
            continue
        params = [consts[name] for name in node.input[1:] if name in consts]
        if not params:
            continue
        if node.op_type == "MatMul":  # MatMul + Add(bias) = Linear
            add = next((n for n in graph.node if n.op_type == "Add" and node.output[0] in n.input), None)
            bias = [consts[i] for i in (add.input if add else []) if i in consts]
            params = [params[0].T] + bias
        if node.op_type == "Gemm":
            attrs = {a.name: a.i for a in node.attribute if a.name in ("transA", "transB")}
            if not attrs.get("transB", 0):
                params = [params[0].T] + params[1:]
        units.append((node.op_type, params, node.name or str(producers.get(node.input[0]))))
    return units


def _torch_units(model: nn.Module) -> list[nn.Module]:
    """Parameterised leaf modules in the order the forward pass runs them."""
    order: list[nn.Module] = []
    kinds = (nn.Conv2d, nn.BatchNorm2d, nn.BatchNorm1d, nn.PReLU, nn.Linear)
    hooks = [m.register_forward_hook(lambda mod, *_: order.append(mod)) for m in model.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(2, 3, 112, 112))
    finally:
        for hook in hooks:
            hook.remove()
    return order


def _set(param: torch.Tensor, value: np.ndarray, where: str) -> None:
    value = torch.from_numpy(np.array(value, copy=True)).to(param.dtype)
    if value.numel() != param.numel():
        raise ModelError(f"{where}: ONNX tensor has shape {tuple(value.shape)}, model expects {tuple(param.shape)}")
    param.data.copy_(value.reshape(param.shape))


def _identity_bn(bn: nn.Module, bias: np.ndarray, where: str) -> None:
    bn.weight.data.fill_(1.0)
    _set(bn.bias, bias, where)
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0 - bn.eps)


def import_onnx(path: Path, depth: int = 100) -> IResNet:
    """Build a torch IResNet with the weights of an insightface IResNet ONNX file."""
    units = _onnx_units(Path(path))
    model = IResNet(depth)
    targets = _torch_units(model)
    i = j = 0
    while i < len(targets):
        module = targets[i]
        where = f"{path} layer {i} ({type(module).__name__}, reading it as an IResNet{depth})"
        if j >= len(units):
            raise ModelError(f"{where}: the ONNX graph ran out of layers; is it an IResNet{depth}?")
        op, params, _ = units[j]
        expected = {nn.Conv2d: "Conv", nn.BatchNorm2d: "BatchNormalization", nn.BatchNorm1d: "BatchNormalization",
                    nn.PReLU: "PRelu", nn.Linear: ("Gemm", "MatMul")}[type(module)]
        if op not in (expected if isinstance(expected, tuple) else (expected,)):
            raise ModelError(f"{where}: expected ONNX {expected}, found {op}; is it an IResNet{depth}?")
        if isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
            for name, value in zip(("weight", "bias", "running_mean", "running_var"), params):
                _set(getattr(module, name), value, where)
            i += 1
        else:
            _set(module.weight, params[0], where)
            folded = len(params) > 1 and getattr(module, "bias", None) is None
            if getattr(module, "bias", None) is not None and len(params) > 1:
                _set(module.bias, params[1], where)
            i += 1
            if folded:
                if i >= len(targets) or not isinstance(targets[i], (nn.BatchNorm2d, nn.BatchNorm1d)):
                    raise ModelError(f"{where}: ONNX layer has a bias the model has nowhere to put")
                _identity_bn(targets[i], params[1], where)
                i += 1
        j += 1
    if j != len(units):
        raise ModelError(f"{path}: {len(units) - j} ONNX layers left over; is it an IResNet{depth}?")
    return model.eval()
