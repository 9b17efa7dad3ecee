"""The collection's tables (SQLAlchemy 2.0 declarative). Alembic migrations in db/migrations
create and evolve them; `Base.metadata` is what those migrations are checked against.

Curated truth (sitters, faces, identifications) never depends on a model: vectors live in
`face_vectors`, one row per face per embedding set, so a new model adds a set and touches
nothing else. Identifications are append-only: the current state of a (face, sitter) pair is
its latest record.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint, and_, false)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

STATUSES = ("confirmed", "probable", "disputed", "rejected")
WITHDRAWN = "withdrawn"  # a decision taken back where the pair had no record before: as if none (db.decisions.take_back)
SOURCES = ("metadata", "curator", "model")
ARTWORK_STATES = ("present", "missing")
FACE_ORIGINS = ("detected", "drawn")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Sitter(Base):
    __tablename__ = "sitters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    alternative_names: Mapped[list] = mapped_column(JSON, default=list)
    birth_year: Mapped[int | None] = mapped_column(Integer)
    death_year: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    external_ids: Mapped[dict] = mapped_column(JSON, default=dict)  # e.g. {"wikidata": "Q5598"}
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # set when a curator merged this sitter into another (migration 0004): hidden from lists and
    # search, its identification records kept as history
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("sitters.id", name="fk_sitters_merged_into"))
    # the face shown for the sitter in lists, the dossier and reports (migration 0007); no foreign
    # key, so a face's history never blocks; a face no longer identified as the sitter is not shown
    portrait_face_id: Mapped[int | None] = mapped_column(Integer)
    # kept out of sitter lists and pickers (a bystander the museum does not name); changes no record
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SitterEvent(Base):
    """A change to a sitter: rename, edit, merge or delete, with who and when (migration 0004)."""

    __tablename__ = "sitter_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # rename | edit | merge | delete
    sitter_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no foreign key: deleted sitters too
    sitter_name: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict] = mapped_column(JSON)
    who: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Artwork(Base):
    __tablename__ = "artworks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(2000), unique=True)  # absolute, resolved
    collection: Mapped[str] = mapped_column(String(2000), index=True)  # the folder it was indexed from
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="present")  # present | missing
    title: Mapped[str | None] = mapped_column(String(1000))
    artist: Mapped[str | None] = mapped_column(String(500))
    date: Mapped[str | None] = mapped_column(String(100))  # as catalogued: "c. 1665", "1632-1635"
    year: Mapped[int | None] = mapped_column(Integer)
    accession_number: Mapped[str | None] = mapped_column(String(200))
    institution: Mapped[str | None] = mapped_column(String(500))
    medium: Mapped[str | None] = mapped_column(String(500))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    extras: Mapped[dict] = mapped_column(JSON, default=dict)  # any other catalogue column
    indexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    faces: Mapped[list["Face"]] = relationship(back_populates="artwork", order_by="Face.face_index")


class Face(Base):
    __tablename__ = "faces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artwork_id: Mapped[int] = mapped_column(ForeignKey("artworks.id"), index=True)
    face_index: Mapped[int] = mapped_column(Integer)  # 0 = largest face of the artwork
    box: Mapped[list] = mapped_column(JSON)  # [x1, y1, x2, y2] in artwork pixels
    landmarks: Mapped[list] = mapped_column(JSON)  # 5 x [x, y]
    score: Mapped[float] = mapped_column(Float)
    quality: Mapped[float | None] = mapped_column(Float)  # gallery.faces.quality, [0, 1] (migration 0006)
    thumbnail: Mapped[bytes | None] = mapped_column(LargeBinary)  # JPEG
    # False once the artwork file changed and was detected again; kept for its history
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    origin: Mapped[str] = mapped_column(String(16), default="detected", server_default="detected")  # FACE_ORIGINS
    # set when a curator said this is not a face (migration 0007): out of search, suggestions and
    # clusters; a face detected again at its place when the file changes is rejected again
    rejected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rejected_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    artwork: Mapped[Artwork] = relationship(back_populates="faces")


def serving():
    """The faces search, suggestions, clusters and evaluation work on: active (the artwork file's
    current detection) and not rejected by a curator."""
    return and_(Face.active.is_(True), Face.rejected_at.is_(None))


class Identification(Base):
    __tablename__ = "identifications"
    __table_args__ = (Index("ix_identifications_face_sitter", "face_id", "sitter_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id"), index=True)
    sitter_id: Mapped[int] = mapped_column(ForeignKey("sitters.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # confirmed | probable | disputed | rejected
    source: Mapped[str] = mapped_column(String(16))  # metadata | curator | model
    who: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    sitter: Mapped[Sitter] = relationship()


class ReplicaDecision(Base):
    """A curator's decision that two artworks are, or are not, the same image (migration 0005);
    append-only, the latest record of a pair (artwork_a < artwork_b) is the current one."""

    __tablename__ = "replica_decisions"
    __table_args__ = (Index("ix_replica_decisions_pair", "artwork_a", "artwork_b"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artwork_a: Mapped[int] = mapped_column(ForeignKey("artworks.id"))
    artwork_b: Mapped[int] = mapped_column(ForeignKey("artworks.id"))
    same: Mapped[bool] = mapped_column(Boolean)
    who: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class EmbeddingSet(Base):
    """One model version: the profile, its components and the sha256 of every weights file."""

    __tablename__ = "embedding_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # hash of components + weights + fusion
    profile: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    components: Mapped[dict] = mapped_column(JSON)  # ProfileInfo.to_json()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    calibration: Mapped[dict | None] = mapped_column(JSON)  # gallery.evaluation.calibration (migration 0003)


class FaceVector(Base):
    """The fused vector of one face under one embedding set (float16 bytes, L2-normalised)."""

    __tablename__ = "face_vectors"

    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id"), primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("embedding_sets.id"), primary_key=True, index=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class IndexRun(Base):
    """One `gallery index` run (added by migration 0002)."""

    __tablename__ = "index_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection: Mapped[str] = mapped_column(String(2000))
    set_id: Mapped[int] = mapped_column(ForeignKey("embedding_sets.id"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    counts: Mapped[dict] = mapped_column(JSON, default=dict)


class IngestError(Base):
    """A file that could not be indexed: outstanding until a later run reads it."""

    __tablename__ = "ingest_errors"
    __table_args__ = (UniqueConstraint("path", "stage", name="uq_ingest_errors_path_stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(2000), index=True)
    stage: Mapped[str] = mapped_column(String(32))  # metadata | read | detect | embed
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("index_runs.id"))  # added by migration 0002
