"""The FAISS index of an embedding set, checked against the database, which holds the truth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gallery.index.choice import IndexRule
from gallery.index.opening import OpenedIndex, open_index

from db.collection import set_face_ids, set_vectors, vectors_of
from db.engine import Database
from db.schema import EmbeddingSet


@dataclass(frozen=True)
class DatabaseTruth:
    """The active faces of one embedding set and their vectors, read from the database."""

    database: Database
    set_id: int
    dim: int

    def ids(self) -> np.ndarray:
        with self.database.session() as session:
            return set_face_ids(session, self.set_id)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        with self.database.session() as session:
            return set_vectors(session, self.set_id, self.dim)

    def vectors_of(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self.database.session() as session:
            return vectors_of(session, self.set_id, self.dim, ids)


def index_folder(index_dir: Path, embedding_set: EmbeddingSet) -> Path:
    return Path(index_dir) / embedding_set.key


def open_set_index(database: Database, embedding_set: EmbeddingSet, index_dir: Path, factory: str = "auto",
                   use_gpu: bool | None = None, rule: IndexRule | None = None, verify: bool = False) -> OpenedIndex:
    """Open the set's index; one that lags behind the database is caught up, one that disagrees
    otherwise is rebuilt from its vectors. `verify`: hash the stored vectors even when their files
    are those the last save wrote."""
    truth = DatabaseTruth(database, embedding_set.id, embedding_set.dim)
    return open_index(index_folder(index_dir, embedding_set), embedding_set.key, embedding_set.dim, factory,
                      use_gpu, truth, rule, verify)
