"""A curator's decisions on whether two artworks are the same image (replicas, copies, the same
painting photographed twice).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replica_decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("artwork_a", sa.Integer, sa.ForeignKey("artworks.id"), nullable=False),
        sa.Column("artwork_b", sa.Integer, sa.ForeignKey("artworks.id"), nullable=False),
        sa.Column("same", sa.Boolean, nullable=False),
        sa.Column("who", sa.String(200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index("ix_replica_decisions_pair", "replica_decisions", ["artwork_a", "artwork_b"])


def downgrade() -> None:
    op.drop_index("ix_replica_decisions_pair", "replica_decisions")
    op.drop_table("replica_decisions")
