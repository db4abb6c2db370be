"""digital cards: accounts, activations, cards, device credentials, used nonces, delegations

Revision ID: c3a4d5000003
Revises: b2e4f1000002
Create Date: 2026-11-23 14:02:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carnet.db

revision: str = "c3a4d5000003"
down_revision: str | None = "b2e4f1000002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "used_card_nonces",
        sa.Column("card_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=12), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("card_id", "nonce", name=op.f("pk_used_card_nonces")),
    )
    with op.batch_alter_table("used_card_nonces", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_used_card_nonces_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "card_accounts",
        sa.Column(
            "id",
            sa.BigInteger()
            .with_variant(sa.BIGINT(), "postgresql")
            .with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("confirmed_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_card_accounts_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_accounts")),
        sa.UniqueConstraint("person_id", name=op.f("uq_card_accounts_person_id")),
    )
    op.create_table(
        "card_delegations",
        sa.Column(
            "id",
            sa.BigInteger()
            .with_variant(sa.BIGINT(), "postgresql")
            .with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("beneficiary_person_id", sa.BigInteger(), nullable=False),
        sa.Column("delegate_person_id", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_card_delegations_period")),
        sa.ForeignKeyConstraint(
            ["beneficiary_person_id"],
            ["persons.id"],
            name=op.f("fk_card_delegations_beneficiary_person_id_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["delegate_person_id"],
            ["persons.id"],
            name=op.f("fk_card_delegations_delegate_person_id_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_card_delegations_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_delegations")),
    )
    with op.batch_alter_table("card_delegations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_card_delegations_delegate_person_id"),
            ["delegate_person_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_card_delegations_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "cards",
        sa.Column(
            "id",
            sa.BigInteger()
            .with_variant(sa.BIGINT(), "postgresql")
            .with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("pin_key_enc", sa.LargeBinary(length=60), nullable=True),
        sa.Column("failed_pin_attempts", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("suspended_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("locked_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'suspended', 'revoked', 'locked')", name=op.f("ck_cards_status")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_cards_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cards")),
        sa.UniqueConstraint("number", name=op.f("uq_cards_number")),
    )
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cards_person_id"), ["person_id"], unique=False)

    op.create_table(
        "card_activations",
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
        sa.Column("purpose", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("otp_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("otp_expires_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("otp_attempts", sa.SmallInteger(), nullable=False),
        sa.Column("proofing_method", sa.String(length=40), nullable=True),
        sa.Column("proofed_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("card_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('activate', 'suspend')", name=op.f("ck_card_activations_purpose")
        ),
        sa.CheckConstraint(
            "state IN ('started', 'email_sent', 'email_confirmed', 'proofed', 'completed', "
            "'expired', 'failed')",
            name=op.f("ck_card_activations_state"),
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_card_activations_card_id_cards")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_card_activations_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_activations")),
        sa.UniqueConstraint("public_id", name=op.f("uq_card_activations_public_id")),
    )
    with op.batch_alter_table("card_activations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_card_activations_person_created", ["person_id", "created_at"], unique=False
        )

    op.create_table(
        "card_device_credentials",
        sa.Column(
            "id",
            sa.BigInteger()
            .with_variant(sa.BIGINT(), "postgresql")
            .with_variant(sa.INTEGER(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("card_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key_id", sa.LargeBinary(length=8), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=512), nullable=False),
        sa.Column("webauthn_credential_id", sa.LargeBinary(length=1023), nullable=True),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", carnet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", carnet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('wallet', 'passkey')", name=op.f("ck_card_device_credentials_kind")
        ),
        sa.CheckConstraint(
            "status IN ('active', 'revoked')", name=op.f("ck_card_device_credentials_status")
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_card_device_credentials_card_id_cards")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_card_device_credentials_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_device_credentials")),
        sa.UniqueConstraint("key_id", name=op.f("uq_card_device_credentials_key_id")),
        sa.UniqueConstraint(
            "webauthn_credential_id", name=op.f("uq_card_device_credentials_webauthn_credential_id")
        ),
    )
    with op.batch_alter_table("card_device_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_card_device_credentials_card_id"), ["card_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_card_device_credentials_person_id"), ["person_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("card_device_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_device_credentials_person_id"))
        batch_op.drop_index(batch_op.f("ix_card_device_credentials_card_id"))

    op.drop_table("card_device_credentials")
    with op.batch_alter_table("card_activations", schema=None) as batch_op:
        batch_op.drop_index("ix_card_activations_person_created")

    op.drop_table("card_activations")
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cards_person_id"))

    op.drop_table("cards")
    with op.batch_alter_table("card_delegations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_delegations_person_id"))
        batch_op.drop_index(batch_op.f("ix_card_delegations_delegate_person_id"))

    op.drop_table("card_delegations")
    op.drop_table("card_accounts")
    with op.batch_alter_table("used_card_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_used_card_nonces_expires_at"))

    op.drop_table("used_card_nonces")
