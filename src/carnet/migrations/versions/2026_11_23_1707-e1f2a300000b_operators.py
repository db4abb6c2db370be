"""back-office operators

Revision ID: e1f2a300000b
Revises: d0e1f200000a
Create Date: 2026-11-23 17:07:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carnet.db

revision: str = "e1f2a300000b"
down_revision: str | None = "d0e1f200000a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _big_id() -> sa.types.TypeEngine[int]:
    return (
        sa.BigInteger().with_variant(sa.BIGINT(), "postgresql").with_variant(sa.INTEGER(), "sqlite")
    )


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('support', 'cards', 'audit', 'admin')", name=op.f("ck_operators_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("email", name=op.f("uq_operators_email")),
    )
    op.create_table(
        "operator_passkeys",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(length=1023), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=1023), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_passkeys_operator_id_operators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_operator_passkeys_credential_id")),
    )
    op.create_index(op.f("ix_operator_passkeys_operator_id"), "operator_passkeys", ["operator_id"])
    op.create_table(
        "operator_invitations",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_invitations_operator_id_operators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_operator_invitations_token_hash")),
    )
    op.create_index(
        op.f("ix_operator_invitations_operator_id"), "operator_invitations", ["operator_id"]
    )
    op.create_table(
        "operator_used_nonces",
        sa.Column("nonce", sa.LargeBinary(length=12), nullable=False),
        sa.Column("expires_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_operator_used_nonces")),
    )
    op.create_index(
        op.f("ix_operator_used_nonces_expires_at"), "operator_used_nonces", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_operator_used_nonces_expires_at"), table_name="operator_used_nonces")
    op.drop_table("operator_used_nonces")
    op.drop_index(op.f("ix_operator_invitations_operator_id"), table_name="operator_invitations")
    op.drop_table("operator_invitations")
    op.drop_index(op.f("ix_operator_passkeys_operator_id"), table_name="operator_passkeys")
    op.drop_table("operator_passkeys")
    op.drop_table("operators")
