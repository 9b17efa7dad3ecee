"""The collection: sitters, artworks, faces, identifications, embedding sets, vectors, ingest errors.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sitters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(300), nullable=False, unique=True),
        sa.Column("alternative_names", sa.JSON, nullable=False),
        sa.Column("birth_year", sa.Integer),
        sa.Column("death_year", sa.Integer),
        sa.Column("notes", sa.Text),
        sa.Column("external_ids", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "artworks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.String(2000), nullable=False, unique=True),
        sa.Column("collection", sa.String(2000), nullable=False, index=True),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.String(1000)),
        sa.Column("artist", sa.String(500)),
        sa.Column("date", sa.String(100)),
        sa.Column("year", sa.Integer),
        sa.Column("accession_number", sa.String(200)),
        sa.Column("institution", sa.String(500)),
        sa.Column("medium", sa.String(500)),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("extras", sa.JSON, nullable=False),
        sa.Column("indexed_at", TZ, nullable=False),
    )
    op.create_table(
        "faces",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("artwork_id", sa.Integer, sa.ForeignKey("artworks.id"), nullable=False, index=True),
        sa.Column("face_index", sa.Integer, nullable=False),
        sa.Column("box", sa.JSON, nullable=False),
        sa.Column("landmarks", sa.JSON, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("thumbnail", sa.LargeBinary),
        sa.Column("active", sa.Boolean, nullable=False, index=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "identifications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("face_id", sa.Integer, sa.ForeignKey("faces.id"), nullable=False, index=True),
        sa.Column("sitter_id", sa.Integer, sa.ForeignKey("sitters.id"), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("who", sa.String(200)),
        sa.Column("at", TZ, nullable=False),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_identifications_face_sitter", "identifications", ["face_id", "sitter_id"])
    op.create_table(
        "embedding_sets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("profile", sa.String(200), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("components", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "face_vectors",
        sa.Column("face_id", sa.Integer, sa.ForeignKey("faces.id"), primary_key=True),
        sa.Column("set_id", sa.Integer, sa.ForeignKey("embedding_sets.id"), primary_key=True, index=True),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "ingest_errors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.String(2000), nullable=False, index=True),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.UniqueConstraint("path", "stage", name="uq_ingest_errors_path_stage"),
    )


def downgrade() -> None:
    for table in ("ingest_errors", "face_vectors", "embedding_sets", "identifications", "faces", "artworks",
                  "sitters"):
        op.drop_table(table)
