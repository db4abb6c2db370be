"""access history: the professional's RPPS, and an index for the filter by kind of actor

Revision ID: f2a3b400000c
Revises: e1f2a300000b
Create Date: 2026-11-23 17:08:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f2a3b400000c"
down_revision: str | None = "e1f2a300000b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("professional_rpps", sa.String(length=11), nullable=True))
        batch_op.create_index(
            "ix_access_history_person_kind_id", ["person_id", "actor_kind", "id"], unique=False
        )
    # Rows written before this revision: the RPPS the directory gives the recorded professional
    # (a one-time backfill; from now on the access service records it with each access).
    op.execute(
        "UPDATE access_history SET professional_rpps = (SELECT professionals.rpps FROM "
        "professionals WHERE professionals.id = access_history.professional_id) "
        "WHERE professional_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("access_history", schema=None) as batch_op:
        batch_op.drop_index("ix_access_history_person_kind_id")
        batch_op.drop_column("professional_rpps")
