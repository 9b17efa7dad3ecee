"""Replicas: artworks that are the same image (one painting photographed twice, a print and its
copy, a studio replica, a re-encoded or cropped scan).

The rule, for two faces in different artworks:
1. their fused vectors score at least `replica_score` (setting, default 0.95): the same image
   re-encoded, resized or cropped scores 0.956-0.999 with the shared models on lfw-mini, while
   two different photographs of one person score at most 0.913 (median 0.66);
2. their stored face thumbnails agree as pictures: the normalised cross-correlation of the
   32x32 grey thumbnails is at least `PIXELS` (0.5; 0.58-0.99 for the same image, and it rules
   out a vector coincidence between crops that look nothing alike).
Artworks are replicas when one of their face pairs is; groups are transitive. A curator's decision
on a pair of artworks (db.replicas) overrides the rule both ways and is recorded like any other.

Search shows one entry per group ("and N replicas"), and a sitter's second-best evidence is the
best face of another group, never a replica of the best.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

PIXELS = 0.5


def thumbnail_signature(jpeg: bytes | None) -> np.ndarray | None:
    """The thumbnail as a zero-mean, unit-norm 32x32 grey vector (None without a thumbnail)."""
    if not jpeg:
        return None
    with Image.open(io.BytesIO(jpeg)) as image:
        grey = np.asarray(image.convert("L").resize((32, 32), Image.BILINEAR), np.float32).ravel()
    grey = grey - grey.mean()
    norm = float(np.linalg.norm(grey))
    return grey / norm if norm > 0 else None


@dataclass
class ReplicaRule:
    replica_score: float = 0.95

    def same_image(self, score: float, signature_a, signature_b) -> bool:
        if score < self.replica_score or signature_a is None or signature_b is None:
            return False
        return float(signature_a @ signature_b) >= PIXELS


def group_faces(artwork_ids: list[int], vectors: np.ndarray, signatures: Callable[[list[int]], list],
                decisions: dict[tuple[int, int], bool], rule: ReplicaRule) -> list[list[int]]:
    """Positions grouped by image, in input order (each group led by its first member): faces of
    artworks a curator joined, or that the rule finds the same, never two a curator split."""
    count = len(artwork_ids)
    scores = vectors @ vectors.T if count else np.zeros((0, 0))
    close = sorted(((float(scores[i, j]), i, j) for i in range(count) for j in range(i + 1, count)
                    if artwork_ids[i] != artwork_ids[j] and scores[i, j] >= rule.replica_score), reverse=True)
    needed = sorted({p for _, i, j in close for p in (i, j)})
    signature = dict(zip(needed, signatures(needed))) if needed else {}
    joined = [(i, j) for i in range(count) for j in range(i + 1, count)
              if decisions.get(_pair(artwork_ids[i], artwork_ids[j])) is True]
    joined += [(i, j) for score, i, j in close if decisions.get(_pair(artwork_ids[i], artwork_ids[j])) is None
               and rule.same_image(score, signature[i], signature[j])]
    split = {pair for pair, same in decisions.items() if not same}
    groups = _merge(range(count), joined, lambda i, j: _pair(artwork_ids[i], artwork_ids[j]) in split)
    return sorted((sorted(g) for g in groups), key=lambda members: members[0])


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _merge(items, links, apart: Callable[[int, int], bool]) -> list[set[int]]:
    """Groups from links taken in order (the strongest first); a link that would put two items
    that must stay apart in one group is skipped."""
    group = {item: {item} for item in items}
    for a, b in links:
        if group[a] is group[b]:
            continue
        if any(apart(x, y) for x in group[a] for y in group[b]):
            continue
        merged = group[a] | group[b]
        for member in merged:
            group[member] = merged
    unique = {id(g): g for g in group.values()}
    return list(unique.values())


@dataclass(frozen=True)
class ReplicaGroup:
    artworks: list[dict]  # id, path, title, date; the lowest id first
    decided: bool  # a curator recorded at least one pair of it

    def to_json(self) -> dict:
        return {"artworks": self.artworks, "decided": self.decided}


def collection_replicas(service, neighbours: int = 10, chunk: int = 1024) -> list[ReplicaGroup]:
    """Every group of artworks of the collection that are the same image (the rule above, over each
    face's nearest faces, with the curator's decisions applied)."""
    from sqlalchemy import select

    from db.collection import face_thumbnails
    from db.replicas import replica_decisions
    from db.review import artworks_of_faces
    from db.schema import Artwork

    index = service.index()
    rule = service.replica_rule
    ids = index.ids
    with service.database.session() as session:
        artwork_of = artworks_of_faces(session)
        decisions = replica_decisions(session)
    close: list[tuple[int, int, float]] = []
    for start in range(0, len(ids), chunk):
        block = ids[start:start + chunk]
        scores, found = index.search(index.vectors_for(block), neighbours + 1)
        for face, row_scores, row_ids in zip(block, scores, found):
            for score, other in zip(row_scores, row_ids):
                a, b = artwork_of.get(int(face)), artwork_of.get(int(other))
                if other > face and score >= rule.replica_score and None not in (a, b) and a != b:
                    close.append((int(face), int(other), float(score)))
    with service.database.session() as session:
        thumbs = face_thumbnails(session, {f for pair in close for f in pair[:2]})
    signature = {face: thumbnail_signature(data) for face, data in thumbs.items()}
    detected = [_pair(artwork_of[a], artwork_of[b]) for a, b, score in sorted(close, key=lambda c: -c[2])
                if rule.same_image(score, signature.get(a), signature.get(b))]
    links = [p for p, same in decisions.items() if same] + [p for p in detected if p not in decisions]
    split = {p for p, same in decisions.items() if not same}
    groups = [g for g in _merge({a for p in links for a in p}, links, lambda a, b: _pair(a, b) in split)
              if len(g) > 1]
    groups.sort(key=min)
    with service.database.session() as session:
        rows = {r.id: r for r in session.execute(select(Artwork.id, Artwork.path, Artwork.title, Artwork.date)
                                                 .where(Artwork.id.in_({a for g in groups for a in g})))}
    return [ReplicaGroup([{"id": a, "path": rows[a].path, "title": rows[a].title, "date": rows[a].date}
                          for a in sorted(group)], any(p in decisions for p in _pairs(group)))
            for group in groups]


def _pairs(group: set[int]):
    members = sorted(group)
    return [(a, b) for i, a in enumerate(members) for b in members[i + 1:]]
