"""What the collection holds: counts, embedding sets with the health of their indexes, errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from db.collection import collection_counts, embedding_sets, ingest_errors
from db.engine import Database, open_database
from db.schema import EmbeddingSet
from db.vectors import open_set_index
from gallery.curation.dossier import implausible_identifications
from gallery.config.settings import Settings
from gallery.index.choice import IndexRule
from gallery.index.store import VectorIndexError


@dataclass(frozen=True)
class CollectionStatus:
    database: str
    counts: dict
    embedding_sets: list[dict]
    errors: list[dict]
    implausible: list[dict]  # identifications whose work's date is implausible for the sitter

    def to_json(self) -> dict:
        return {"database": self.database, **self.counts, "embedding_sets": self.embedding_sets,
                "error_list": self.errors, "implausible_dates": self.implausible}


def collection_status(settings: Settings, database: Database | None = None, error_limit: int = 50,
                      verify: bool = False) -> CollectionStatus:
    """Counts and index health. Opening each set's index checks it against the database and
    rebuilds it when they disagree, so the health reported is what search will find. `verify`:
    every index's stored vectors are hashed against its manifest, even files unchanged since
    their save (which an open otherwise trusts)."""
    database = database or open_database(settings.database_url)
    with database.session() as session:
        counts = collection_counts(session)
        sets = embedding_sets(session)
        rows = {s.id: session.get(EmbeddingSet, s.id) for s in sets}
        errors = [{"path": e.path, "stage": e.stage, "message": e.message, "at": e.at.isoformat()}
                  for e in ingest_errors(session, error_limit)]
    active = max((s.id for s in sets if s.profile == settings.profile.name), default=None)
    described = []
    for summary in sets:
        try:
            opened = open_set_index(database, rows[summary.id], settings.index_dir, settings.index_factory,
                                    rule=IndexRule.of(settings), verify=verify)
            health, detail = opened.health, opened.detail
            choice = opened.index.choice
            index = choice.describe() if choice else opened.index.factory
        except VectorIndexError as err:
            health, detail, choice, index = "unusable", str(err), None, ""
        described.append({"key": summary.key, "profile": summary.profile, "dim": summary.dim, "faces": summary.faces,
                          "created_at": summary.created_at.isoformat(), "active": summary.id == active,
                          "index_health": health, "index_detail": detail, "index": index,
                          "index_choice": asdict(choice) if choice else None})
    implausible = implausible_identifications(database, settings.posthumous_years)
    return CollectionStatus(database.label, counts, described, errors, implausible)
