"""Hand-drawn and rejected faces, a sitter's chosen likeness and hidden sitters.

- faces.origin: "detected" (every face before this step) or "drawn" (a curator drew its box);
- faces.rejected_at / rejected_by: a curator said this is not a face; it leaves search,
  suggestions and clusters, and a re-detected face at the same place is rejected again;
- sitters.portrait_face_id: the face shown for the sitter in lists, the dossier and reports;
- sitters.hidden: kept out of lists (a bystander the museum does not name); no record changes.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("faces") as batch:
        batch.add_column(sa.Column("origin", sa.String(16), nullable=False, server_default="detected"))
        batch.add_column(sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("rejected_by", sa.String(200), nullable=True))
    with op.batch_alter_table("sitters") as batch:
        batch.add_column(sa.Column("portrait_face_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("sitters") as batch:
        batch.drop_column("hidden")
        batch.drop_column("portrait_face_id")
    with op.batch_alter_table("faces") as batch:
        batch.drop_column("rejected_by")
        batch.drop_column("rejected_at")
        batch.drop_column("origin")
