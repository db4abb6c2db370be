"""scheduled job runs

Revision ID: c9d0e1000009
Revises: b8c9d0000008
Create Date: 2026-11-23 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carnet.db

revision: str = "c9d0e1000009"
down_revision: str | None = "b8c9d0000008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("lease_owner", sa.String(length=120), nullable=True),
        sa.Column("lease_until", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_started_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=7), nullable=True),
        sa.Column("last_detail", sa.Text(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "last_outcome IS NULL OR last_outcome IN ('success', 'failure')",
            name=op.f("ck_job_runs_outcome"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_runs")),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
