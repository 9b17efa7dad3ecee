"""The training loop both recipes share: P x K batches, batch-hard triplet loss, AdamW with
warm-up and cosine decay, validation EER every `eval_every` steps with early stopping, and a
checkpoint after each validation from which a rerun resumes exactly."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from gallery.evaluation.metrics import eer, pair_scores, roc
from gallery.training.augment import AugmentSettings, augment_batch, build
from gallery.training.data import Faces, PkSampler

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    p: int = 16  # sitters per batch
    k: int = 4  # faces per sitter
    lr: float = 1e-4
    weight_decay: float = 0.05
    warmup: int = 100
    margin: float = 0.2  # triplet margin on cosine distance
    eval_every: int = 100
    patience: int = 5  # validations without a better EER before stopping
    seed: int = 0
    validation: float = 0.2  # fraction of sitters held out
    augment: AugmentSettings = field(default_factory=AugmentSettings)


@dataclass
class Progress:
    step: int
    steps: int
    loss: float
    val_eer: float | None
    best_eer: float | None


@dataclass(frozen=True)
class TrainResult:
    steps: int
    best_step: int
    best_eer: float
    losses: list[float]
    history: list[dict]  # {"step", "val_eer"} per validation
    stopped_early: bool
    seconds: float  # of this run (a resumed run counts from where it resumed)
    resumed_from: int = 0  # the step this run started at: steps - resumed_from ran in `seconds`


class Trainable(Protocol):
    """What a recipe hands the loop."""

    def parameters(self) -> list: ...  # the trainable tensors
    def train_mode(self, on: bool) -> None: ...
    def embed(self, images) -> "object": ...  # N x 3 x S x S floats in [0, 1] -> N x D, L2-normalised
    def state(self) -> dict: ...  # trainable weights, for checkpoints and the best model
    def load_state(self, state: dict) -> None: ...
    def to(self, device: str) -> None: ...


def batch_hard_triplet(embeddings, labels, margin: float):
    """Mean over anchors of max(0, hardest positive distance - hardest negative distance + margin),
    with cosine distance 1 - cos on L2-normalised embeddings."""
    import torch

    distance = 1.0 - embeddings @ embeddings.T
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    hardest_positive = distance.masked_fill(~same | eye, -1.0).max(dim=1).values
    hardest_negative = distance.masked_fill(same, 4.0).min(dim=1).values
    return torch.relu(hardest_positive - hardest_negative + margin).mean()


def validation_eer(model: Trainable, faces: Faces, device: str = "cpu", batch: int = 32) -> float:
    import torch

    model.train_mode(False)
    with torch.no_grad(), _autocast(device):
        vectors = np.concatenate([model.embed(_to_tensor(faces.crops[i:i + batch]).to(device)).float().cpu().numpy()
                                  for i in range(0, len(faces.crops), batch)])
    genuine, impostor = pair_scores(vectors @ vectors.T, faces.labels)
    return eer(roc(genuine, impostor))


def _autocast(device: str):
    """Mixed precision (bf16) on a GPU; full precision on CPU, where training is for small runs."""
    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda")


def _to_tensor(crops: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float().div_(255.0)


def train(model: Trainable, train_faces: Faces, val_faces: Faces, config: TrainConfig, out: Path,
          on_progress: Callable[[Progress], None] | None = None, stop_at: int | None = None,
          device: str = "cpu") -> TrainResult:
    """Train (resuming from `out`'s checkpoint when there is one). `stop_at` ends this run after
    that step, with a checkpoint, as an interruption would."""
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model.to(device)
    _, label_ids = np.unique(train_faces.labels, return_inverse=True)
    sampler = PkSampler(train_faces.labels, config.p, config.k, config.seed)
    params = model.parameters()
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, config))
    transform = build(config.augment)
    state = {"step": 0, "losses": [], "history": [], "best_eer": math.inf, "best_step": 0, "best_state": None,
             "stale": 0}
    if (out / CHECKPOINT).exists():
        state = _resume(out / CHECKPOINT, model, optimizer, schedule, sampler)
    started, resumed_from = time.monotonic(), state["step"]
    last = min(config.steps, stop_at or config.steps)
    while state["step"] < last and state["stale"] < config.patience:
        model.train_mode(True)
        ids = sampler.batch()
        images = augment_batch(transform, _to_tensor(train_faces.crops[ids])).to(device)
        with _autocast(device):
            embeddings = model.embed(images)
        loss = batch_hard_triplet(embeddings.float(), torch.from_numpy(label_ids[ids]).to(device), config.margin)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        state["step"] += 1
        state["losses"].append(float(loss.detach()))
        val = None
        if state["step"] % config.eval_every == 0 or state["step"] in (config.steps, last):
            val = validation_eer(model, val_faces, device)
            state["history"].append({"step": state["step"], "val_eer": val})
            if val < state["best_eer"]:
                state.update(best_eer=val, best_step=state["step"], best_state=_copy(model.state()), stale=0)
            else:
                state["stale"] += 1
            _checkpoint(out / CHECKPOINT, state, model, optimizer, schedule, sampler)
        if on_progress:
            on_progress(Progress(state["step"], config.steps, state["losses"][-1], val,
                                 None if math.isinf(state["best_eer"]) else state["best_eer"]))
    if state["best_state"] is not None:
        model.load_state(state["best_state"])
    result = TrainResult(state["step"], state["best_step"], state["best_eer"], state["losses"], state["history"],
                         state["stale"] >= config.patience, time.monotonic() - started, resumed_from)
    (out / "training.json").write_text(json.dumps({**asdict(result), "config": asdict(config)}, indent=2) + "\n")
    return result


def _lr_factor(step: int, config: TrainConfig) -> float:
    if step < config.warmup:
        return (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _copy(state: dict) -> dict:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def _checkpoint(path: Path, state: dict, model, optimizer, schedule, sampler) -> None:
    import torch

    payload = {**state, "model": model.state(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
               "sampler": sampler.rng.bit_generator.state, "torch_rng": torch.get_rng_state()}
    tmp = path.with_name(path.name + ".partial")
    torch.save(payload, tmp)
    tmp.replace(path)


def _resume(path: Path, model, optimizer, schedule, sampler) -> dict:
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state(payload.pop("model"))
    optimizer.load_state_dict(payload.pop("optimizer"))
    schedule.load_state_dict(payload.pop("schedule"))
    sampler.rng.bit_generator.state = payload.pop("sampler")
    torch.set_rng_state(payload.pop("torch_rng"))
    return payload
