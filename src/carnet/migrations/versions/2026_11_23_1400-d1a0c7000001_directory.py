"""directory of professionals

Revision ID: d1a0c7000001
Revises: 0cd0b7753f31
Create Date: 2026-11-23 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carnet.db

revision: str = "d1a0c7000001"
down_revision: str | None = "0cd0b7753f31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "professionals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=True),
        sa.Column("idnat_ps", sa.String(length=40), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name_key", sa.String(length=100), nullable=False),
        sa.Column("profession_code", sa.String(length=4), nullable=False),
        sa.Column("specialty_code", sa.String(length=10), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_professionals")),
        sa.UniqueConstraint("idnat_ps", name=op.f("uq_professionals_idnat_ps")),
        sa.UniqueConstraint("rpps", name=op.f("uq_professionals_rpps")),
    )
    with op.batch_alter_table("professionals", schema=None) as batch_op:
        batch_op.create_index("ix_professionals_family_name_key", ["family_name_key"], unique=False)

    op.create_table(
        "professional_practices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("professional_id", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.Column("structure_identifier", sa.String(length=20), nullable=False),
        sa.Column("structure_name", sa.String(length=200), nullable=False),
        sa.Column("commune", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["professional_id"],
            ["professionals.id"],
            name=op.f("fk_professional_practices_professional_id_professionals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["structure_id"],
            ["structures.id"],
            name=op.f("fk_professional_practices_structure_id_structures"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_professional_practices")),
        sa.UniqueConstraint(
            "professional_id",
            "structure_id",
            name=op.f("uq_professional_practices_professional_id"),
        ),
    )
    with op.batch_alter_table("professional_practices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_professional_practices_structure",
            ["structure_id", "professional_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_professional_practices_structure_identifier",
            ["structure_identifier"],
            unique=False,
        )

    # A software client bound to a professional (apCV): its tokens carry ``professional_id``.
    with op.batch_alter_table("oauth_clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("professional_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_oauth_clients_professional_id_professionals"),
            "professionals",
            ["professional_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("oauth_clients", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_oauth_clients_professional_id_professionals"), type_="foreignkey"
        )
        batch_op.drop_column("professional_id")

    with op.batch_alter_table("professional_practices", schema=None) as batch_op:
        batch_op.drop_index("ix_professional_practices_structure_identifier")
        batch_op.drop_index("ix_professional_practices_structure")

    op.drop_table("professional_practices")
    with op.batch_alter_table("professionals", schema=None) as batch_op:
        batch_op.drop_index("ix_professionals_family_name_key")

    op.drop_table("professionals")
