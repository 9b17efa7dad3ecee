"""The record of changes to sitters (rename, edit, merge, delete) and a merged sitter's successor.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sitters") as batch:
        batch.add_column(sa.Column("merged_into_id", sa.Integer, nullable=True))
        batch.create_foreign_key("fk_sitters_merged_into", "sitters", ["merged_into_id"], ["id"])
    op.create_table(
        "sitter_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sitter_id", sa.Integer, nullable=True),
        sa.Column("sitter_name", sa.String(300), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("who", sa.String(200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sitter_events_sitter_id", "sitter_events", ["sitter_id"])


def downgrade() -> None:
    op.drop_index("ix_sitter_events_sitter_id", "sitter_events")
    op.drop_table("sitter_events")
    with op.batch_alter_table("sitters") as batch:
        batch.drop_constraint("fk_sitters_merged_into", type_="foreignkey")
        batch.drop_column("merged_into_id")
