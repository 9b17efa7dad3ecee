"""What the curator still has to review, and the evidence the model may use to suggest it.

- A face *to review* is an active face with a vector in the embedding set and no standing
  identification from a curator or the catalogue (`curator` / `metadata` source, any status but
  `rejected`). A face whose only records are the model's stored `probable` suggestions, or
  rejections, is still to review.
- *Evidence* is what suggestions and clusters may lean on: the current, not rejected
  identifications of active faces from a curator or the catalogue. The model's own stored
  suggestions are never evidence, so a wrong suggestion cannot breed more of itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.identifications import current_identifications
from db.schema import Artwork, Face, FaceVector, serving

TRUSTED_SOURCES = ("curator", "metadata")


@dataclass(frozen=True)
class ReviewFace:
    face_id: int
    artwork_id: int
    face_index: int
    path: str
    title: str | None
    quality: float | None = None  # gallery.faces.quality; None for faces indexed before quality was measured


@dataclass(frozen=True)
class Evidence:
    """Current identifications, read once for a whole review."""

    labels: dict[int, list[tuple[int, str]]]  # face -> [(sitter id, status)] that may be used as evidence
    rejected: set[tuple[int, int]]  # (face, sitter) pairs whose current record is a rejection
    settled: set[int]  # faces with a standing curator or catalogue identification


def read_evidence(session: Session) -> Evidence:
    labels: dict[int, list[tuple[int, str]]] = {}
    rejected: set[tuple[int, int]] = set()
    settled: set[int] = set()
    for current in current_identifications(session):
        if current.status == "rejected":
            rejected.add((current.face_id, current.sitter_id))
        elif current.source in TRUSTED_SOURCES:
            labels.setdefault(current.face_id, []).append((current.sitter_id, current.status))
            settled.add(current.face_id)
    return Evidence(labels, rejected, settled)


def faces_to_review(session: Session, set_id: int, evidence: Evidence) -> list[ReviewFace]:
    """Active faces of the set's present artworks that no curator or catalogue has identified."""
    rows = session.execute(
        select(Face.id, Face.artwork_id, Face.face_index, Artwork.path, Artwork.title, Face.quality)
        .join(Artwork, Artwork.id == Face.artwork_id)
        .join(FaceVector, (FaceVector.face_id == Face.id) & (FaceVector.set_id == set_id))
        .where(serving(), Artwork.status == "present").order_by(Face.id))
    return [ReviewFace(r.id, r.artwork_id, r.face_index, r.path, r.title, r.quality) for r in rows
            if r.id not in evidence.settled]


def artworks_of_faces(session: Session) -> dict[int, int]:
    """Active face id -> its artwork id."""
    return dict(session.execute(select(Face.id, Face.artwork_id).where(serving())).all())
