"""medical profile (FHIR resources)

Revision ID: b8c9d0000008
Revises: a7b8c9000007
Create Date: 2026-11-23 17:04:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carnet.db

revision: str = "b8c9d0000008"
down_revision: str | None = "a7b8c9000007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _big_id() -> sa.types.TypeEngine[int]:
    return (
        sa.BigInteger().with_variant(sa.BIGINT(), "postgresql").with_variant(sa.INTEGER(), "sqlite")
    )


def upgrade() -> None:
    op.create_table(
        "profile_resources",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("public_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("resource_json", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("code_system", sa.String(length=128), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("effective_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_resources")),
        sa.UniqueConstraint("public_id", "version", name="uq_profile_resources_public_id_version"),
    )
    with op.batch_alter_table("profile_resources", schema=None) as batch_op:
        batch_op.create_index(
            "ix_profile_resources_person_type",
            ["person_id", "resource_type", "is_current"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("profile_resources", schema=None) as batch_op:
        batch_op.drop_index("ix_profile_resources_person_type")
    op.drop_table("profile_resources")
