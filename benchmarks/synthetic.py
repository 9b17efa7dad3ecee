"""Synthetic collections shaped like face embeddings, for the search and query benchmarks."""

from __future__ import annotations

import numpy as np


class Synthetic:
    """Unit vectors shaped like face embeddings, generated in chunks (1M x 1536 floats would not
    fit twice in memory): sitters of about 4 faces (same-sitter cosine about 0.5), sitters
    grouped into look-alike families, so a query's neighbours beyond its own sitter are
    structured rather than random ties."""

    def __init__(self, n: int, dim: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.n, self.dim, self.seed = n, dim, seed
        families = rng.standard_normal((max(4, n // 400), dim), dtype=np.float32)
        sitters = max(8, n // 4)
        self.centres = families[rng.integers(0, len(families), sitters)]
        self.centres += 0.9 * rng.standard_normal(self.centres.shape, dtype=np.float32)
        self.queries = self.draw(rng, rng.integers(0, sitters, 200))

    def draw(self, rng, labels) -> np.ndarray:
        block = self.centres[labels] + rng.standard_normal((len(labels), self.dim), dtype=np.float32)
        return block / np.linalg.norm(block, axis=1, keepdims=True)

    def chunks(self, size: int = 50_000):
        rng = np.random.default_rng(self.seed + 1)
        for start in range(0, self.n, size):
            count = min(size, self.n - start)
            yield np.arange(start, start + count), self.draw(rng, rng.integers(0, len(self.centres), count))
