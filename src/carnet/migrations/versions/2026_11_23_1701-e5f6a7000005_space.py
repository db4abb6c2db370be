"""health spaces (lifecycle)

Revision ID: e5f6a7000005
Revises: a4c5e6000004
Create Date: 2026-11-23 17:01:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carnet.db

revision: str = "e5f6a7000005"
down_revision: str | None = "a4c5e6000004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spaces",
        sa.Column(
            "id",
            sa.BigInteger()
            .with_variant(sa.BIGINT(), "postgresql")
            .with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=6), nullable=True),
        sa.Column("information_sent_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("objection_deadline", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_how", sa.String(length=14), nullable=True),
        sa.Column("objected_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("purge_after", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deletion_requested_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("purged_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'open', 'objected', 'closed', 'purged')",
            name=op.f("ck_spaces_state"),
        ),
        sa.CheckConstraint(
            "channel IS NULL OR channel IN ('email', 'letter')", name=op.f("ck_spaces_channel")
        ),
        sa.CheckConstraint(
            "opened_how IS NULL OR opened_how IN ('holder', 'representative', 'automatic')",
            name=op.f("ck_spaces_opened_how"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_spaces_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spaces")),
        sa.UniqueConstraint("person_id", name=op.f("uq_spaces_person_id")),
    )
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.create_index(
            "ix_spaces_state_deadline", ["state", "objection_deadline", "id"], unique=False
        )
        batch_op.create_index("ix_spaces_state_purge", ["state", "purge_after"], unique=False)

    op.create_table(
        "space_letters",
        sa.Column(
            "id",
            sa.BigInteger()
            .with_variant(sa.BIGINT(), "postgresql")
            .with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("recipient_person_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("exported_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_space_letters_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_space_letters")),
    )
    with op.batch_alter_table("space_letters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_space_letters_person_id"), ["person_id"], unique=False)
        batch_op.create_index("ix_space_letters_exported_at", ["exported_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("space_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_space_letters_exported_at")
        batch_op.drop_index(batch_op.f("ix_space_letters_person_id"))
    op.drop_table("space_letters")
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.drop_index("ix_spaces_state_purge")
        batch_op.drop_index("ix_spaces_state_deadline")
    op.drop_table("spaces")
