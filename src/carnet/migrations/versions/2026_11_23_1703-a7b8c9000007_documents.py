"""DMP documents (metadata, versions, keys)

Revision ID: a7b8c9000007
Revises: f6a7b8000006
Create Date: 2026-11-23 17:03:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carnet.db

revision: str = "a7b8c9000007"
down_revision: str | None = "f6a7b8000006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "space_data_keys",
        sa.Column("person_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(length=40), nullable=False),
        sa.Column("master_key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_space_data_keys_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_space_data_keys")),
    )
    op.create_table(
        "documents",
        sa.Column(
            "id",
            sa.BigInteger()
            .with_variant(sa.BIGINT(), "postgresql")
            .with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("set_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("class_code", sa.String(length=8), nullable=False),
        sa.Column("type_code", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("act_date", sa.Date(), nullable=True),
        sa.Column("author_professional_id", sa.BigInteger(), nullable=True),
        sa.Column("author_person_id", sa.BigInteger(), nullable=True),
        sa.Column("author_label", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("blob_key", sa.String(length=128), nullable=False),
        sa.Column("visibility", sa.SmallInteger(), nullable=False),
        sa.Column("patient_visible_from", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("announcement_notified_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('current', 'superseded', 'deleted')", name=op.f("ck_documents_status")
        ),
        sa.CheckConstraint(
            "visibility >= 0 AND visibility <= 7", name=op.f("ck_documents_visibility")
        ),
        sa.CheckConstraint(
            "author_professional_id IS NOT NULL OR author_person_id IS NOT NULL",
            name=op.f("ck_documents_author"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_documents_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("public_id", name=op.f("uq_documents_public_id")),
    )
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_documents_person_status_created",
            ["person_id", "status", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index("ix_documents_set_version", ["set_id", "version"], unique=True)
        batch_op.create_index(
            "ix_documents_announcement",
            ["announcement_notified_at", "patient_visible_from"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index("ix_documents_announcement")
        batch_op.drop_index("ix_documents_set_version")
        batch_op.drop_index("ix_documents_person_status_created")
    op.drop_table("documents")
    op.drop_table("space_data_keys")
