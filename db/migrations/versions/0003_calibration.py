"""Calibration of an embedding set: score -> estimated false-match rate, from labelled sitters.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("embedding_sets") as batch:
        batch.add_column(sa.Column("calibration", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("embedding_sets") as batch:
        batch.drop_column("calibration")
