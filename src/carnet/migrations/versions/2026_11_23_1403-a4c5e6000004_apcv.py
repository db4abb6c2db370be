"""apcv contexts

Revision ID: a4c5e6000004
Revises: c3a4d5000003
Create Date: 2026-11-23 14:03:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carnet.db

revision: str = "a4c5e6000004"
down_revision: str | None = "c3a4d5000003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _big_id() -> sa.types.TypeEngine[int]:
    return (
        sa.BigInteger().with_variant(sa.BIGINT(), "postgresql").with_variant(sa.INTEGER(), "sqlite")
    )


def upgrade() -> None:
    op.create_table(
        "apcv_contexts",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=43), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("card_id", sa.BigInteger(), nullable=False),
        sa.Column("card_number", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("presenter_person_id", sa.BigInteger(), nullable=False),
        sa.Column("delegation_id", sa.BigInteger(), nullable=True),
        sa.Column("professional_id", sa.BigInteger(), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=True),
        sa.Column("structure_identifier", sa.String(length=20), nullable=True),
        sa.Column("beneficiaries", sa.JSON(), nullable=False),
        sa.Column("professional", sa.JSON(), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apcv_contexts")),
        sa.UniqueConstraint("public_id", name=op.f("uq_apcv_contexts_public_id")),
    )
    with op.batch_alter_table("apcv_contexts", schema=None) as batch_op:
        batch_op.create_index("ix_apcv_contexts_expires_at", ["expires_at"], unique=False)

    op.create_table(
        "card_readings",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("holder_person_id", sa.BigInteger(), nullable=False),
        sa.Column("presenter_person_id", sa.BigInteger(), nullable=False),
        sa.Column("delegation_id", sa.BigInteger(), nullable=True),
        sa.Column("card_id", sa.BigInteger(), nullable=False),
        sa.Column("context_id", sa.BigInteger(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("professional_id", sa.BigInteger(), nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=True),
        sa.Column("professional_last_name", sa.String(length=100), nullable=True),
        sa.Column("professional_first_name", sa.String(length=100), nullable=True),
        sa.Column("profession_code", sa.String(length=4), nullable=True),
        sa.Column("profession_label", sa.String(length=100), nullable=True),
        sa.Column("structure_name", sa.String(length=200), nullable=True),
        sa.Column("structure_identifier", sa.String(length=20), nullable=True),
        sa.Column("beneficiary_first_name", sa.String(length=100), nullable=True),
        sa.Column("beneficiary_last_name", sa.String(length=100), nullable=True),
        sa.Column("beneficiary_quality", sa.String(length=16), nullable=False),
        sa.Column("presenter_first_name", sa.String(length=100), nullable=True),
        sa.Column("presenter_last_name", sa.String(length=100), nullable=True),
        sa.Column("read_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_readings")),
    )
    with op.batch_alter_table("card_readings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_card_readings_holder_read", ["holder_person_id", "read_at"], unique=False
        )
        batch_op.create_index(
            "ix_card_readings_person_read", ["person_id", "read_at"], unique=False
        )
        batch_op.create_index(
            "ix_card_readings_presenter_read", ["presenter_person_id", "read_at"], unique=False
        )

    op.create_table(
        "apcv_signatures",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("context_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("professional_id", sa.BigInteger(), nullable=False),
        sa.Column("invoice_type", sa.String(length=3), nullable=False),
        sa.Column("invoice_hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=2000), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("signed_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apcv_signatures")),
    )
    with op.batch_alter_table("apcv_signatures", schema=None) as batch_op:
        batch_op.create_index("ix_apcv_signatures_context_id", ["context_id"], unique=False)
        batch_op.create_index(
            "ix_apcv_signatures_person_signed", ["person_id", "signed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("apcv_signatures", schema=None) as batch_op:
        batch_op.drop_index("ix_apcv_signatures_person_signed")
        batch_op.drop_index("ix_apcv_signatures_context_id")
    op.drop_table("apcv_signatures")

    with op.batch_alter_table("card_readings", schema=None) as batch_op:
        batch_op.drop_index("ix_card_readings_presenter_read")
        batch_op.drop_index("ix_card_readings_person_read")
        batch_op.drop_index("ix_card_readings_holder_read")
    op.drop_table("card_readings")

    with op.batch_alter_table("apcv_contexts", schema=None) as batch_op:
        batch_op.drop_index("ix_apcv_contexts_expires_at")
    op.drop_table("apcv_contexts")
