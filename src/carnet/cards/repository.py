"""All SQL of the cards domain.

The code-verification path (``credential_for_key`` with the delegation, ``use_nonce``) runs prebuilt
Core statements on the session's connection and reads rows, not ORM objects: it is the hot path
of every card reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.cards.models import (
    Card,
    CardAccount,
    CardActivation,
    Delegation,
    DeviceCredential,
    UsedCardNonce,
)
from carnet.kit.daily_counts import DailyCounts, daily_counts

cards = cast(Table, Card.__table__)
devices = cast(Table, DeviceCredential.__table__)
nonces = cast(Table, UsedCardNonce.__table__)
delegations = cast(Table, Delegation.__table__)
activations = cast(Table, CardActivation.__table__)
# A row of any shape (the prebuilt statements select labelled columns).
Record = Row[*tuple[Any, ...]]

_CREDENTIAL_FOR_KEY = (
    select(
        devices.c.id.label("device_id"),
        devices.c.kind.label("device_kind"),
        devices.c.status.label("device_status"),
        devices.c.public_key,
        cards.c.id.label("card_id"),
        cards.c.number.label("card_number"),
        cards.c.person_id,
        cards.c.status.label("card_status"),
        cards.c.pin_key_enc,
        cards.c.failed_pin_attempts,
    )
    .join(cards, cards.c.id == devices.c.card_id)
    .where(devices.c.key_id == bindparam("p_key_id"))
)
# The same, with the delegation a code names (NULL columns when there is no such delegation).
_CREDENTIAL_AND_DELEGATION = _CREDENTIAL_FOR_KEY.add_columns(
    delegations.c.id.label("delegation_id"),
    delegations.c.person_id.label("delegation_person_id"),
    delegations.c.beneficiary_person_id.label("delegation_beneficiary_person_id"),
    delegations.c.delegate_person_id.label("delegation_delegate_person_id"),
    delegations.c.starts_at.label("delegation_starts_at"),
    delegations.c.ends_at.label("delegation_ends_at"),
    delegations.c.revoked_at.label("delegation_revoked_at"),
).outerjoin(delegations, delegations.c.id == bindparam("p_delegation_id"))

_RESET_PIN_FAILURES = (
    update(cards)
    .where(cards.c.id == bindparam("p_card_id"), cards.c.failed_pin_attempts > 0)
    .values(failed_pin_attempts=0)
)

# Remembering a nonce (SQLite, PostgreSQL). RETURNING, not rowcount: drivers do not all report
# a row count for this statement.
_USE_NONCE = (
    sqlite.insert(nonces).on_conflict_do_nothing().returning(nonces.c.card_id),
    postgresql.insert(nonces).on_conflict_do_nothing().returning(nonces.c.card_id),
)

_PURGE_CARD_NONCES = delete(nonces).where(
    nonces.c.card_id == bindparam("p_card_id"), nonces.c.expires_at < bindparam("p_now")
)


class CardRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- verification (hot path) -----------------------------------------------------------------

    def credential_for_key(self, key_id: bytes, delegation_id: int | None = None) -> Record | None:
        """The device credential named by a code, with its card, in one indexed probe; with
        ``delegation_id``, also that delegation's columns (``delegation_*``, NULL if unknown)."""
        connection = self.session.connection()
        if delegation_id is None:
            return connection.execute(_CREDENTIAL_FOR_KEY, {"p_key_id": key_id}).first()
        params = {"p_key_id": key_id, "p_delegation_id": delegation_id}
        return connection.execute(_CREDENTIAL_AND_DELEGATION, params).first()

    def reset_pin_failures(self, card_id: int) -> None:
        self.session.connection().execute(_RESET_PIN_FAILURES, {"p_card_id": card_id})

    def record_pin_failure(
        self, card_id: int, max_attempts: int, now: datetime
    ) -> tuple[int, str] | None:
        """Count one wrong secret code atomically; lock the card at ``max_attempts``.

        Returns the new count and status, or None when the card is no longer active (someone
        else locked, suspended or revoked it meanwhile).
        """
        attempts = cards.c.failed_pin_attempts + 1
        locks = attempts >= max_attempts
        row = (
            self.session.connection()
            .execute(
                update(cards)
                .where(cards.c.id == card_id, cards.c.status == "active")
                .values(
                    failed_pin_attempts=attempts,
                    status=case((locks, "locked"), else_=cards.c.status),
                    locked_at=case((locks, now), else_=cards.c.locked_at),
                    updated_at=now,
                )
                .returning(cards.c.failed_pin_attempts, cards.c.status)
            )
            .first()
        )
        return (int(row[0]), str(row[1])) if row is not None else None

    def use_nonce(self, card_id: int, person_id: int, nonce: bytes, expires_at: datetime) -> bool:
        """Remember a nonce; False when it was already used (a replay). Concurrent uses of one
        nonce serialise on the primary key: exactly one of them inserts."""
        values = {
            "card_id": card_id,
            "nonce": nonce,
            "person_id": person_id,
            "expires_at": expires_at,
        }
        connection = self.session.connection()
        stmt = _USE_NONCE[connection.dialect.name == "postgresql"]
        return connection.execute(stmt, values).first() is not None

    def purge_card_nonces(self, card_id: int, now: datetime) -> None:
        self.session.connection().execute(_PURGE_CARD_NONCES, {"p_card_id": card_id, "p_now": now})

    def purge_nonces(self, now: datetime) -> int:
        result = self.session.execute(delete(nonces).where(nonces.c.expires_at < now))
        return int(getattr(result, "rowcount", 0) or 0)

    # -- cards -----------------------------------------------------------------------------------

    def number_taken(self, number: int) -> bool:
        return (
            self.session.execute(select(cards.c.id).where(cards.c.number == number)).first()
            is not None
        )

    def add_card(self, card: Card) -> Card:
        self.session.add(card)
        self.session.flush()
        return card

    def get_card(self, card_id: int) -> Card | None:
        return self.session.get(Card, card_id)

    def current_card(self, person_id: int) -> Card | None:
        """The person's card that is not revoked (at most one), newest first to be safe."""
        return self.session.scalars(
            select(Card)
            .where(Card.person_id == person_id, Card.status != "revoked")
            .order_by(Card.id.desc())
        ).first()

    def cards_created(self, since: datetime) -> DailyCounts:
        """Cards made (each one a completed activation) per day since ``since``, and in all."""
        return daily_counts(self.session, cards.c.created_at, since)

    def cards_of_person(self, person_id: int) -> Sequence[Card]:
        return self.session.scalars(
            select(Card).where(Card.person_id == person_id).order_by(Card.id)
        ).all()

    def revoke_cards_of_person(self, person_id: int, now: datetime) -> list[int]:
        """Revoke every card of the person that is not revoked yet, and their devices."""
        revoked = [
            int(card_id)
            for card_id in self.session.scalars(
                update(cards)
                .where(cards.c.person_id == person_id, cards.c.status != "revoked")
                .values(status="revoked", revoked_at=now, updated_at=now)
                .returning(cards.c.id)
            ).all()
        ]
        if revoked:
            self.revoke_devices(revoked, now)
        return revoked

    def revoke_devices(self, card_ids: list[int], now: datetime) -> None:
        self.session.execute(
            update(devices)
            .where(devices.c.card_id.in_(card_ids), devices.c.status == "active")
            .values(status="revoked", revoked_at=now)
        )

    def set_status(self, card: Card, status: str, now: datetime) -> None:
        card.status = status
        card.updated_at = now
        if status == "suspended":
            card.suspended_at = now
        elif status == "revoked":
            card.revoked_at = now
        elif status == "active":
            card.suspended_at = None
        self.session.flush()

    def active_card_of(self, person_id: int) -> Record | None:
        return self.session.execute(
            select(cards.c.id, cards.c.number).where(
                cards.c.person_id == person_id, cards.c.status == "active"
            )
        ).first()

    # -- device credentials ----------------------------------------------------------------------

    def key_id_taken(self, key_id: bytes) -> bool:
        return (
            self.session.execute(select(devices.c.id).where(devices.c.key_id == key_id)).first()
            is not None
        )

    def add_device(self, device: DeviceCredential) -> DeviceCredential:
        self.session.add(device)
        self.session.flush()
        return device

    def devices_of_card(self, card_id: int) -> Sequence[DeviceCredential]:
        return self.session.scalars(
            select(DeviceCredential)
            .where(DeviceCredential.card_id == card_id)
            .order_by(DeviceCredential.id)
        ).all()

    def device_by_webauthn_id(self, credential_id: bytes) -> DeviceCredential | None:
        return self.session.scalars(
            select(DeviceCredential).where(DeviceCredential.webauthn_credential_id == credential_id)
        ).first()

    # -- accounts --------------------------------------------------------------------------------

    def account_for_update(self, person_id: int) -> CardAccount | None:
        return self.session.scalars(
            select(CardAccount).where(CardAccount.person_id == person_id).with_for_update()
        ).first()

    def account(self, person_id: int) -> CardAccount | None:
        return self.session.scalars(
            select(CardAccount).where(CardAccount.person_id == person_id)
        ).first()

    def confirmed_emails(self, person_ids: Sequence[int]) -> dict[int, str]:
        if not person_ids:
            return {}
        rows = self.session.execute(
            select(CardAccount.person_id, CardAccount.email).where(
                CardAccount.person_id.in_(list(person_ids)), CardAccount.confirmed_at.is_not(None)
            )
        ).all()
        return {int(row.person_id): str(row.email) for row in rows}

    def add_account(self, account: CardAccount) -> CardAccount:
        """Insert the person's account, or lock and return the one a concurrent activation of
        the same person committed first (the insert waits for it, then hits the unique key)."""
        try:
            with self.session.begin_nested():
                self.session.add(account)
                self.session.flush()
        except IntegrityError:
            existing = self.account_for_update(account.person_id)
            if existing is None:  # not the person key: a real error
                raise
            return existing
        return account

    # -- activations -----------------------------------------------------------------------------

    def add_activation(self, activation: CardActivation) -> CardActivation:
        self.session.add(activation)
        self.session.flush()
        return activation

    def activation(self, public_id: str, *, for_update: bool = False) -> CardActivation | None:
        stmt = select(CardActivation).where(CardActivation.public_id == public_id)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.scalars(stmt).first()

    def count_recent_activations(self, person_id: int, since: datetime) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(activations)
                .where(activations.c.person_id == person_id, activations.c.created_at >= since)
            )
            or 0
        )

    def record_otp_failure(self, activation_id: int, max_attempts: int) -> tuple[int, str] | None:
        """Count one wrong e-mail code atomically; the activation fails at ``max_attempts``."""
        attempts = activations.c.otp_attempts + 1
        row = self.session.execute(
            update(activations)
            .where(activations.c.id == activation_id, activations.c.state == "email_sent")
            .values(
                otp_attempts=attempts,
                state=case((attempts >= max_attempts, "failed"), else_=activations.c.state),
            )
            .returning(activations.c.otp_attempts, activations.c.state)
        ).first()
        return (int(row[0]), str(row[1])) if row is not None else None

    def set_activation_state(self, activation_id: int, state: str) -> None:
        self.session.execute(
            update(activations).where(activations.c.id == activation_id).values(state=state)
        )

    # -- delegations -----------------------------------------------------------------------------

    def add_delegation(self, delegation: Delegation) -> Delegation:
        self.session.add(delegation)
        self.session.flush()
        return delegation

    def get_delegation(self, delegation_id: int) -> Delegation | None:
        return self.session.get(Delegation, delegation_id)

    def delegations_of(self, person_id: int) -> Sequence[Delegation]:
        """Delegations the person granted or received, newest first."""
        return self.session.scalars(
            select(Delegation)
            .where(
                or_(Delegation.person_id == person_id, Delegation.delegate_person_id == person_id)
            )
            .order_by(Delegation.id.desc())
        ).all()
