"""Index runs: when each `gallery index` ran, on what, with what result; errors point at their run.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "index_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("collection", sa.String(2000), nullable=False),
        sa.Column("set_id", sa.Integer, sa.ForeignKey("embedding_sets.id"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("counts", sa.JSON, nullable=False),
    )
    with op.batch_alter_table("ingest_errors") as batch:
        batch.add_column(sa.Column("run_id", sa.Integer, nullable=True))
        batch.create_foreign_key("fk_ingest_errors_run_id", "index_runs", ["run_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("ingest_errors") as batch:
        batch.drop_constraint("fk_ingest_errors_run_id", type_="foreignkey")
        batch.drop_column("run_id")
    op.drop_table("index_runs")
