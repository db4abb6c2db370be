"""professionals' web sign-in

Revision ID: d0e1f200000a
Revises: c9d0e1000009
Create Date: 2026-11-23 17:06:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carnet.db

revision: str = "d0e1f200000a"
down_revision: str | None = "c9d0e1000009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pro_invitations",
        sa.Column("id", carnet.db.BigId, autoincrement=True, nullable=False),
        sa.Column("professional_id", sa.Integer(), nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["professional_id"],
            ["professionals.id"],
            name=op.f("fk_pro_invitations_professional_id_professionals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pro_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_pro_invitations_token_hash")),
    )
    op.create_index(
        op.f("ix_pro_invitations_professional_id"), "pro_invitations", ["professional_id"]
    )
    op.create_table(
        "pro_passkeys",
        sa.Column("id", carnet.db.BigId, autoincrement=True, nullable=False),
        sa.Column("professional_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(length=1023), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=1023), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["professional_id"],
            ["professionals.id"],
            name=op.f("fk_pro_passkeys_professional_id_professionals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pro_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_pro_passkeys_credential_id")),
    )
    op.create_index(op.f("ix_pro_passkeys_professional_id"), "pro_passkeys", ["professional_id"])
    op.create_table(
        "pro_used_nonces",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("expires_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_pro_used_nonces")),
    )
    op.create_index(op.f("ix_pro_used_nonces_expires_at"), "pro_used_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pro_used_nonces_expires_at"), table_name="pro_used_nonces")
    op.drop_table("pro_used_nonces")
    op.drop_index(op.f("ix_pro_passkeys_professional_id"), table_name="pro_passkeys")
    op.drop_table("pro_passkeys")
    op.drop_index(op.f("ix_pro_invitations_professional_id"), table_name="pro_invitations")
    op.drop_table("pro_invitations")
