"""Fusion of per-component face vectors into one.

Component i (L2-normalised e_i, weight w_i) enters the fused vector as
sqrt(w_i / sum(w)) * e_i, concatenated. Then fused_a . fused_b equals the
weighted mean of the components' cosines, the fused vector has unit norm,
and each component's cosine can be read back from two fused vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gallery.core.errors import ModelError


@dataclass(frozen=True)
class FusionLayout:
    names: tuple[str, ...]
    weights: tuple[float, ...]
    dims: tuple[int, ...]

    def __post_init__(self):
        if not (len(self.names) == len(self.weights) == len(self.dims)) or not self.names:
            raise ModelError("fusion layout needs one weight and one dimension per component")
        if any(w <= 0 for w in self.weights):
            raise ModelError(f"fusion weights must be > 0, got {self.weights}")

    @property
    def coefficients(self) -> np.ndarray:
        w = np.asarray(self.weights, dtype=np.float64)
        return np.sqrt(w / w.sum())

    @property
    def dim(self) -> int:
        return int(sum(self.dims))

    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name, dim in zip(self.names, self.dims):
            out[name] = slice(start, start + dim)
            start += dim
        return out

    def fuse(self, components: dict[str, np.ndarray]) -> np.ndarray:
        parts = []
        for name, dim, coef in zip(self.names, self.dims, self.coefficients):
            vectors = np.asarray(components[name], dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[1] != dim:
                raise ModelError(f"component '{name}' vectors have shape {vectors.shape}, expected N x {dim}")
            parts.append(vectors * np.float32(coef))
        return np.concatenate(parts, axis=1)

    def component_scores(self, fused_a: np.ndarray, fused_b: np.ndarray) -> dict[str, np.ndarray]:
        """Per-component cosines between rows of fused_a and fused_b (matching shapes or broadcast)."""
        out = {}
        for (name, part), coef in zip(self.slices().items(), self.coefficients):
            dots = np.sum(np.asarray(fused_a)[..., part] * np.asarray(fused_b)[..., part], axis=-1)
            out[name] = dots / np.float32(coef * coef)
        return out

    def to_json(self) -> dict:
        return {"components": [{"name": n, "weight": w, "dim": d} for n, w, d in zip(self.names, self.weights, self.dims)]}
