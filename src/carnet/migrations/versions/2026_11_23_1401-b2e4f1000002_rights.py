"""insurance rights

Revision ID: b2e4f1000002
Revises: d1a0c7000001
Create Date: 2026-11-23 14:01:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carnet.db

revision: str = "b2e4f1000002"
down_revision: str | None = "d1a0c7000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rights_coverages",
        sa.Column(
            "id",
            sa.BigInteger()
            .with_variant(sa.BIGINT(), "postgresql")
            .with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("insured_person_id", sa.BigInteger(), nullable=False),
        sa.Column("quality", sa.String(length=2), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("regime", sa.String(length=2), nullable=False),
        sa.Column("fund", sa.String(length=3), nullable=False),
        sa.Column("centre", sa.String(length=4), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(quality = '00') = (insured_person_id = person_id)",
            name=op.f("ck_rights_coverages_attachment"),
        ),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name=op.f("ck_rights_coverages_period")
        ),
        sa.CheckConstraint("rank BETWEEN 1 AND 9", name=op.f("ck_rights_coverages_rank")),
        sa.ForeignKeyConstraint(
            ["insured_person_id"],
            ["persons.id"],
            name=op.f("fk_rights_coverages_insured_person_id_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_rights_coverages_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_coverages")),
        sa.UniqueConstraint(
            "person_id", "start_date", name=op.f("uq_rights_coverages_person_start")
        ),
    )
    with op.batch_alter_table("rights_coverages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rights_coverages_insured", ["insured_person_id", "start_date"], unique=False
        )

    op.create_table(
        "rights_situations",
        sa.Column(
            "id",
            sa.BigInteger()
            .with_variant(sa.BIGINT(), "postgresql")
            .with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("coverage_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=4), nullable=False),
        sa.Column("qualifier", sa.String(length=4), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name=op.f("ck_rights_situations_period")
        ),
        sa.ForeignKeyConstraint(
            ["coverage_id"],
            ["rights_coverages.id"],
            name=op.f("fk_rights_situations_coverage_id_rights_coverages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_situations")),
    )
    with op.batch_alter_table("rights_situations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rights_situations_coverage", ["coverage_id", "start_date"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rights_situations_person_id"), ["person_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rights_situations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rights_situations_person_id"))
        batch_op.drop_index("ix_rights_situations_coverage")

    op.drop_table("rights_situations")
    with op.batch_alter_table("rights_coverages", schema=None) as batch_op:
        batch_op.drop_index("ix_rights_coverages_insured")

    op.drop_table("rights_coverages")
