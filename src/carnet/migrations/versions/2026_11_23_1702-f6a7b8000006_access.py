"""health-space access (grants, blocks, settings, relatives, matrix, history)

Revision ID: f6a7b8000006
Revises: e5f6a7000005
Create Date: 2026-11-23 17:02:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carnet.db

revision: str = "f6a7b8000006"
down_revision: str | None = "e5f6a7000005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _big_id() -> sa.types.TypeEngine[int]:
    return (
        sa.BigInteger().with_variant(sa.BIGINT(), "postgresql").with_variant(sa.INTEGER(), "sqlite")
    )


def upgrade() -> None:
    op.create_table(
        "access_aidants",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("delegate_person_id", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("delegate_name", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_aidants")),
    )
    with op.batch_alter_table("access_aidants", schema=None) as batch_op:
        batch_op.create_index("ix_access_aidants_delegate", ["delegate_person_id"], unique=False)
        batch_op.create_index("ix_access_aidants_person", ["person_id"], unique=False)

    op.create_table(
        "access_blocks",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("professional_id", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_blocks")),
        sa.UniqueConstraint(
            "person_id", "professional_id", name=op.f("uq_access_blocks_person_id")
        ),
    )
    op.create_table(
        "access_grants",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("professional_id", sa.BigInteger(), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("granted_by", sa.String(length=80), nullable=False),
        sa.Column("granted_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "basis IN ('consent', 'care', 'emergency', 'regulation')",
            name=op.f("ck_access_grants_basis"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_grants")),
    )
    with op.batch_alter_table("access_grants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_access_grants_person_professional", ["person_id", "professional_id"], unique=False
        )

    op.create_table(
        "access_history",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_person_id", sa.BigInteger(), nullable=True),
        sa.Column("professional_id", sa.BigInteger(), nullable=True),
        sa.Column("profession_code", sa.String(length=4), nullable=True),
        sa.Column("profession_label", sa.String(length=100), nullable=True),
        sa.Column("actor_label", sa.String(length=200), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("what", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("notified_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_history")),
    )
    with op.batch_alter_table("access_history", schema=None) as batch_op:
        batch_op.create_index("ix_access_history_person_at", ["person_id", "at"], unique=False)

    op.create_table(
        "access_matrix",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("profession_code", sa.String(length=4), nullable=False),
        sa.Column("specialty_code", sa.String(length=16), nullable=False),
        sa.Column("type_code", sa.String(length=64), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_matrix")),
        sa.UniqueConstraint(
            "profession_code",
            "specialty_code",
            "type_code",
            name=op.f("uq_access_matrix_profession_code"),
        ),
    )
    op.create_table(
        "access_settings",
        sa.Column("person_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("emergency_access_refused", sa.Boolean(), nullable=False),
        sa.Column("notify_by_email", sa.Boolean(), nullable=False),
        sa.Column("updated_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_access_settings")),
    )


def downgrade() -> None:
    op.drop_table("access_settings")
    op.drop_table("access_matrix")
    with op.batch_alter_table("access_history", schema=None) as batch_op:
        batch_op.drop_index("ix_access_history_person_at")

    op.drop_table("access_history")
    with op.batch_alter_table("access_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_access_grants_person_professional")

    op.drop_table("access_grants")
    op.drop_table("access_blocks")
    with op.batch_alter_table("access_aidants", schema=None) as batch_op:
        batch_op.drop_index("ix_access_aidants_person")
        batch_op.drop_index("ix_access_aidants_delegate")

    op.drop_table("access_aidants")
