"""``cards_service.verify_card_code``: every refusal, in the documented order, and the durable
wrong-code count (committed although the caller's transaction rolls back)."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import timedelta

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.audit.models import AuditEvent
from carnet.cards.models import Card, UsedCardNonce
from carnet.cards.service import Beneficiary, PresentedCard, cards_service
from carnet.db import Database, utcnow
from carnet.exceptions import AppError
from carnet.kit import card_qr
from carnet.wallet import Wallet

from .conftest import OTHER_SECRET, SECRET, Activate, People

PRESENT = card_qr.PURPOSE_PRESENTATION


def verify(db: Database, text: str, *, purpose: int = PRESENT, now: object = None) -> PresentedCard:
    with db.session() as s:
        return cards_service.verify_card_code(s, text, now or utcnow(), purpose)  # type: ignore[arg-type]


def refusal(db: Database, text: str, *, purpose: int = PRESENT, now: object = None) -> AppError:
    with pytest.raises(AppError) as refused:
        verify(db, text, purpose=purpose, now=now)
    return refused.value


def device_key(wallet: Wallet) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(
        (wallet.path / "device-key.pem").read_bytes(), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def signed(
    wallet: Wallet,
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
    key_id: bytes | None = None,
    secret: str = SECRET,
    **changes: object,
) -> str:
    """A code made like the wallet does, with some fields changed, signed by ``key``."""
    assert wallet.card_number is not None
    assert wallet.key_id is not None
    now = int(utcnow().timestamp())
    token = card_qr.CardToken(
        card_number=wallet.card_number,
        issued_at=now,
        expires_at=now + 60,
        nonce=secrets.token_bytes(12),
    )
    token = replace(token, **changes)  # type: ignore[arg-type]
    salt = wallet.state["pin_salt"]
    pin_key = card_qr.pin_key_from_code(secret, card_qr_b64(salt))
    kid = key_id or wallet.key_id
    token = replace(token, pin_tag=card_qr.pin_tag(pin_key, kid, token))
    return card_qr.encode(token, kid, key or device_key(wallet))


def card_qr_b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def failed_attempts(db: Database, card_number: int) -> tuple[int, str]:
    with db.session() as s:
        row = s.execute(
            select(Card.failed_pin_attempts, Card.status).where(Card.number == card_number)
        ).one()
    return int(row[0]), str(row[1])


def test_a_good_code_presents_the_holder_and_her_dependants(
    activate: Activate, people: People, db: Database
) -> None:
    wallet = activate(people.jeanne)
    presented = verify(db, wallet.present(SECRET))
    assert presented.card_number == wallet.card_number
    assert presented.holder_person_id == presented.presenter_person_id == people.jeanne.id
    assert presented.delegation_id is None
    assert presented.beneficiaries == (
        Beneficiary(people.jeanne.id, "holder"),
        Beneficiary(people.lucas.id, "dependant"),
    )
    assert presented.device_kind == "wallet"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(UsedCardNonce)) == 1


def test_a_code_is_accepted_once(activate: Activate, people: People, db: Database) -> None:
    wallet = activate(people.jeanne)
    code = wallet.present(SECRET)
    verify(db, code)
    refused = refusal(db, code)
    assert (refused.code, refused.status_code) == ("qr_replayed", 409)


def test_times_are_checked(activate: Activate, people: People, db: Database) -> None:
    wallet = activate(people.jeanne)
    now = utcnow()
    old = wallet.present(SECRET, now=now - timedelta(seconds=121))
    assert refusal(db, old, now=now).code == "qr_expired"
    future = wallet.present(SECRET, now=now + timedelta(seconds=90))
    assert refusal(db, future, now=now).code == "qr_not_yet_valid"
    # A phone clock a little ahead is tolerated.
    assert verify(db, wallet.present(SECRET, now=now + timedelta(seconds=20)), now=now)
    too_long = wallet.present(SECRET, now=now, lifetime=121)
    assert refusal(db, too_long, now=now).code == "qr_lifetime_too_long"
    assert verify(db, wallet.present(SECRET, now=now, lifetime=120), now=now)


def test_malformed_foreign_tampered_and_mismatched_codes(
    activate: Activate, people: People, db: Database
) -> None:
    wallet = activate(people.jeanne)
    for text in ("", "hello", "CV1:", "CV1:%%%", wallet.present(SECRET)[:-10], "CV1:" + "A" * 700):
        refused = refusal(db, text)
        assert (refused.code, refused.status_code) == ("qr_malformed", 400), text

    stranger = ec.generate_private_key(ec.SECP256R1())
    foreign = signed(wallet, key=stranger, key_id=secrets.token_bytes(8))
    assert refusal(db, foreign).code == "qr_unknown_card"

    wrong_number = signed(wallet, card_number=(wallet.card_number or 0) + 1)
    assert refusal(db, wrong_number).code == "qr_unknown_card"

    # Tampered: the payload changed after signing (a longer validity), signature kept.
    outer = cbor2.loads(base45.b45decode(wallet.present(SECRET)[4:]))
    protected, unprotected, payload, signature = outer.value
    body = cbor2.loads(payload)
    body[4] += 3600
    forged = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(body), signature]))
    tampered = "CV1:" + base45.b45encode(forged).decode()
    assert refusal(db, tampered).code == "qr_invalid_signature"


def test_a_stranger_cannot_lock_the_card_with_forged_codes(
    activate: Activate, people: People, db: Database
) -> None:
    """The signature is checked before the secret code: forged codes naming the victim's key
    are refused without counting a wrong code."""
    wallet = activate(people.jeanne)
    stranger = ec.generate_private_key(ec.SECP256R1())
    for _ in range(5):
        forged = signed(wallet, key=stranger, secret="1357")
        assert refusal(db, forged).code == "qr_invalid_signature"
    assert failed_attempts(db, wallet.card_number or 0) == (0, "active")


def test_a_code_for_another_purpose_is_refused(
    activate: Activate, people: People, db: Database
) -> None:
    wallet = activate(people.jeanne)
    session_code = wallet.present(SECRET, purpose=card_qr.PURPOSE_SESSION)
    assert refusal(db, session_code).code == "qr_wrong_purpose"
    presentation = wallet.present(SECRET)
    assert refusal(db, presentation, purpose=card_qr.PURPOSE_SESSION).code == "qr_wrong_purpose"


def test_wrong_codes_are_counted_durably_lock_the_card_and_a_right_code_resets(
    activate: Activate, people: People, db: Database
) -> None:
    wallet = activate(people.jeanne)
    number = wallet.card_number or 0
    first = refusal(db, wallet.present(OTHER_SECRET))
    assert (first.code, first.status_code) == ("wrong_secret_code", 401)
    assert first.details[0]["attempts_left"] == 2
    # The caller's transaction rolled back, the count did not.
    assert failed_attempts(db, number) == (1, "active")
    second = refusal(db, wallet.present(OTHER_SECRET))
    assert second.details[0]["attempts_left"] == 1
    assert failed_attempts(db, number) == (2, "active")

    verify(db, wallet.present(SECRET))  # the right code resets the count
    assert failed_attempts(db, number) == (0, "active")

    for left in (2, 1):
        assert refusal(db, wallet.present(OTHER_SECRET)).details[0]["attempts_left"] == left
    third = refusal(db, wallet.present(OTHER_SECRET))
    assert third.code == "wrong_secret_code"
    assert third.details[0]["card_status"] == "locked"
    assert failed_attempts(db, number) == (3, "locked")
    # Locked: even the right code is refused; only a new activation helps.
    locked = refusal(db, wallet.present(SECRET))
    assert (locked.code, locked.status_code) == ("card_locked", 403)
    with db.session() as s:
        outcomes = s.scalars(
            select(AuditEvent.outcome)
            .where(AuditEvent.action == "card.pin_failed", AuditEvent.person_id == people.jeanne.id)
            .order_by(AuditEvent.id)
        ).all()
    assert outcomes == ["refused", "refused", "refused", "refused", "locked"]


def test_a_locked_card_is_replaced_by_a_new_activation(
    activate: Activate, people: People, db: Database
) -> None:
    wallet = activate(people.jeanne)
    for _ in range(3):
        refusal(db, wallet.present(OTHER_SECRET))
    assert refusal(db, wallet.present(SECRET)).code == "card_locked"
    activate(people.jeanne, wallet=wallet)
    assert verify(db, wallet.present(SECRET)).holder_person_id == people.jeanne.id


def test_counting_needs_the_caller_not_to_have_written_on_sqlite(
    activate: Activate, people: People, db: Database
) -> None:
    """The count runs in its own transaction. On PostgreSQL a caller that already wrote is fine;
    on SQLite (one writer) that would wait on the caller's own lock, so it fails at once."""
    wallet = activate(people.jeanne)
    code = wallet.present(OTHER_SECRET)

    def write_then_verify() -> None:
        with db.session() as s:
            s.add(
                AuditEvent(
                    chain=999,
                    seq=1,
                    recorded_at=utcnow(),
                    actor="t",
                    action="t",
                    outcome="t",
                    hash=b"",
                )
            )
            s.flush()
            cards_service.verify_card_code(s, code, utcnow(), PRESENT)

    with pytest.raises((AppError, RuntimeError)) as raised:
        write_then_verify()
    if db.dialect == "sqlite":
        assert isinstance(raised.value, RuntimeError)
        assert failed_attempts(db, wallet.card_number or 0) == (0, "active")
    else:
        assert getattr(raised.value, "code", None) == "wrong_secret_code"
        assert failed_attempts(db, wallet.card_number or 0) == (1, "active")


def test_suspended_and_revoked_cards_are_refused(
    activate: Activate, people: People, db: Database, app_client: TestClient
) -> None:
    wallet = activate(people.jeanne)
    wallet.suspend(app_client, SECRET)
    refused = refusal(db, wallet.present(SECRET))
    assert (refused.code, refused.status_code) == ("card_suspended", 403)
    with db.session() as s:
        cards_service.operator_set_status(s, people.jeanne.matricule, "revoke", utcnow())
    assert refusal(db, wallet.present(SECRET)).code == "card_revoked"
    # Nothing was counted for codes refused before the secret code is checked.
    assert failed_attempts(db, wallet.card_number or 0) == (0, "revoked")
