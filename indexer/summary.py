"""What an indexing run reports: its progress as it goes, and its summary at the end."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Progress:
    done: int
    total: int
    faces: int
    errors: int


@dataclass(frozen=True)
class IndexSummary:
    collection: str
    embedding_set: str
    profile: str
    files: int
    counts: dict
    errors: list[tuple[str, str]]  # (path or CSV line, message)
    index_health: str  # of the vector index when the run opened it
    index_detail: str
    seconds: float
    skipped: dict = field(default_factory=dict)  # files in the folder not read, by kind

    @property
    def images_per_s(self) -> float:
        processed = sum(self.counts.get(k, 0) for k in ("new", "changed", "embed"))
        return processed / self.seconds if self.seconds else 0.0

    @property
    def faces_per_s(self) -> float:
        faces = self.counts.get("faces_added", 0) + self.counts.get("faces_embedded", 0)
        return faces / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict:
        return {"collection": self.collection, "embedding_set": self.embedding_set, "profile": self.profile,
                "files": self.files, "counts": dict(self.counts), "skipped": dict(self.skipped),
                "errors": [{"where": w, "message": m} for w, m in self.errors],
                "index_health": self.index_health, "index_detail": self.index_detail,
                "seconds": round(self.seconds, 2), "images_per_s": round(self.images_per_s, 2),
                "faces_per_s": round(self.faces_per_s, 2)}
