"""A curator's decisions on replicas: two artworks are, or are not, the same image. Append-only;
the latest record of a pair is the current one (db.schema.ReplicaDecision)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gallery.core.errors import GalleryError

from db.schema import Artwork, ReplicaDecision


class ReplicaError(GalleryError):
    """A replica decision that cannot be recorded."""


def replica_decisions(session: Session, artwork_ids=None) -> dict[tuple[int, int], bool]:
    """(smaller artwork id, larger) -> same image or not, the current decision of each pair."""
    latest = select(func.max(ReplicaDecision.id)).group_by(ReplicaDecision.artwork_a, ReplicaDecision.artwork_b)
    statement = select(ReplicaDecision).where(ReplicaDecision.id.in_(latest))
    if artwork_ids is not None:
        ids = [int(i) for i in artwork_ids]
        statement = statement.where(ReplicaDecision.artwork_a.in_(ids), ReplicaDecision.artwork_b.in_(ids))
    return {(d.artwork_a, d.artwork_b): d.same for d in session.scalars(statement)}


def decide_replicas(session: Session, first: int, second: int, same: bool, who: str | None,
                    note: str | None = None) -> ReplicaDecision:
    if first == second:
        raise ReplicaError("an artwork is always the same image as itself; name two different artworks")
    for artwork_id in (first, second):
        if session.get(Artwork, artwork_id) is None:
            raise ReplicaError(f"there is no artwork {artwork_id}")
    low, high = sorted((int(first), int(second)))
    if replica_decisions(session, [low, high]).get((low, high)) is same:
        raise ReplicaError(f"artworks {low} and {high} are already recorded as "
                           f"{'the same image' if same else 'different images'}; nothing was recorded")
    record = ReplicaDecision(artwork_a=low, artwork_b=high, same=same, who=who, note=note)
    session.add(record)
    session.flush()
    return record
