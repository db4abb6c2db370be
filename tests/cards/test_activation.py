"""Activation through the public API: identity check, e-mail code, proofing, device binding."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.audit.models import AuditEvent
from carnet.cards.models import Card, CardAccount, CardActivation, DeviceCredential
from carnet.cards.service import cards_service
from carnet.config import Settings
from carnet.db import Database, utcnow
from carnet.exceptions import AppError
from carnet.kit import card_qr
from carnet.mail.sink import MailSink
from carnet.wallet import Wallet, WalletError

from .conftest import SECRET, Activate, People, otp_from

START = "/api/v1/card/activations"


def _start(client: TestClient, person_nir: str, birth_date: str, email: str) -> dict[str, object]:
    response = client.post(
        START, json={"nir": person_nir, "birth_date": birth_date, "email": email}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _jwk_and_pin() -> dict[str, object]:
    from cryptography.hazmat.primitives.asymmetric import ec

    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    return {
        "kind": "wallet",
        "public_key": {"kty": "EC", "crv": "P-256", "x": b64(numbers.x), "y": b64(numbers.y)},
        "pin_key": base64.b64encode(bytes(range(32))).decode(),
    }


def test_full_activation_reads_the_code_from_the_mail_and_creates_a_card(
    app_client: TestClient, mail_sink: MailSink, people: People, db: Database, tmp_path: Path
) -> None:
    jeanne = people.jeanne
    email = People.email(jeanne)
    started = _start(app_client, jeanne.matricule, jeanne.birth_date, email)
    assert started["state"] == "email_sent"
    assert len(str(started["activation_id"])) >= 24  # random, unguessable
    message = mail_sink.wait_for(email)
    code = otp_from(mail_sink, email)
    assert "carte Vitale" in message.subject

    confirmed = app_client.post(
        f"{START}/{started['activation_id']}/email-confirmation", json={"code": code}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "proofed"
    assert confirmed.json()["proofing_method"] == "email+birth_date"

    done = app_client.post(f"{START}/{started['activation_id']}/device", json=_jwk_and_pin())
    assert done.status_code == 201, done.text
    body = done.json()
    assert body["status"] == "active"
    assert 0 < body["card_number"] < 2**31
    assert len(base64.urlsafe_b64decode(body["key_id"] + "==")) == 8
    assert body["holder"]["birth_name"] == "DUPONT"
    assert body["holder"]["first_names"] == ["JEANNE", "MARIE"]
    assert body["holder"]["matricule"] == jeanne.matricule

    with db.session() as s:
        activation = s.scalars(select(CardActivation)).one()
        assert activation.state == "completed"
        assert activation.otp_hash is None  # single use, and the code was never stored
        account = s.scalars(select(CardAccount)).one()
        assert (account.person_id, account.email) == (jeanne.id, email)
        assert account.confirmed_at is not None
        card = s.scalars(select(Card)).one()
        assert card.pin_key_enc is not None
        assert bytes(range(32)) not in card.pin_key_enc  # stored encrypted
        actions = set(
            s.scalars(select(AuditEvent.action).where(AuditEvent.person_id == jeanne.id)).all()
        )
    assert {
        "card.activation.start",
        "card.activation.email",
        "card.activation.proofed",
        "card.activate",
    } <= actions
    # The device cannot do a second binding with the same activation.
    again = app_client.post(f"{START}/{started['activation_id']}/device", json=_jwk_and_pin())
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "activation_wrong_state"


def test_unknown_person_and_wrong_birth_date_get_the_same_generic_answer(
    app_client: TestClient, people: People, mail_sink: MailSink
) -> None:
    from ..factories import make_nir

    unknown = make_nir("F", "1985-04-12", "75056", 999)
    wrong_date = app_client.post(
        START,
        json={"nir": people.jeanne.matricule, "birth_date": "1985-04-13", "email": "a@exemple.fr"},
    )
    nobody = app_client.post(
        START, json={"nir": unknown, "birth_date": "1985-04-12", "email": "a@exemple.fr"}
    )
    assert wrong_date.status_code == nobody.status_code == 400
    first, second = wrong_date.json()["error"], nobody.json()["error"]
    assert first["code"] == second["code"] == "identity_not_recognised"
    assert first["message"] == second["message"]
    assert mail_sink.messages() == []


def test_malformed_input_is_a_validation_error(app_client: TestClient, people: People) -> None:
    bad_email = app_client.post(
        START,
        json={"nir": people.jeanne.matricule, "birth_date": "1985-04-12", "email": "not-mail"},
    )
    assert bad_email.status_code == 422
    bad_nir = app_client.post(
        START, json={"nir": "123", "birth_date": "1985-04-12", "email": "a@exemple.fr"}
    )
    assert bad_nir.status_code == 422
    bad_date = app_client.post(
        START,
        json={"nir": people.jeanne.matricule, "birth_date": "12/04/1985", "email": "a@exemple.fr"},
    )
    assert bad_date.status_code == 422


def test_wrong_codes_are_counted_and_exhaust_the_activation(
    app_client: TestClient, mail_sink: MailSink, people: People, db: Database, settings: Settings
) -> None:
    email = People.email(people.jeanne)
    started = _start(app_client, people.jeanne.matricule, people.jeanne.birth_date, email)
    right = otp_from(mail_sink, email)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    url = f"{START}/{started['activation_id']}/email-confirmation"
    maximum = settings.card_otp_max_attempts
    for attempt in range(1, maximum):
        response = app_client.post(url, json={"code": wrong})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "wrong_otp"
        assert response.json()["error"]["details"][0]["attempts_left"] == maximum - attempt
    last = app_client.post(url, json={"code": wrong})
    assert last.json()["error"]["details"][0]["attempts_left"] == 0
    # The count survived the failed requests: even the right code is now refused.
    after = app_client.post(url, json={"code": right})
    assert after.status_code == 409
    assert after.json()["error"]["code"] == "activation_wrong_state"
    assert app_client.get(f"{START}/{started['activation_id']}").json()["state"] == "failed"
    with db.session() as s:
        failures = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "card.activation.otp_failed")
        )
    assert failures == maximum


def test_an_expired_code_and_an_expired_activation_are_refused(
    app_client: TestClient, mail_sink: MailSink, people: People, db: Database, settings: Settings
) -> None:
    email = People.email(people.jeanne)
    started = _start(app_client, people.jeanne.matricule, people.jeanne.birth_date, email)
    code = otp_from(mail_sink, email)
    activation_id = str(started["activation_id"])
    later = utcnow() + timedelta(seconds=settings.card_otp_ttl_seconds + 1)
    with pytest.raises(AppError) as refused, db.session() as s:
        cards_service.confirm_email(s, settings, activation_id, code, later)
    assert refused.value.code == "otp_expired"
    much_later = utcnow() + timedelta(seconds=settings.card_activation_ttl_seconds + 1)
    with pytest.raises(AppError) as refused, db.session() as s:
        cards_service.confirm_email(s, settings, activation_id, code, much_later)
    assert refused.value.code == "activation_expired"
    with db.session() as s:
        assert cards_service.activation_status(s, activation_id, much_later).state == "expired"
    # Still fine now: the refusals above changed nothing.
    ok = app_client.post(f"{START}/{activation_id}/email-confirmation", json={"code": code})
    assert ok.status_code == 200


def test_device_before_email_confirmation_is_refused(
    app_client: TestClient, mail_sink: MailSink, people: People
) -> None:
    email = People.email(people.jeanne)
    started = _start(app_client, people.jeanne.matricule, people.jeanne.birth_date, email)
    response = app_client.post(f"{START}/{started['activation_id']}/device", json=_jwk_and_pin())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "activation_wrong_state"
    unknown = app_client.post(f"{START}/doesnotexist-123456/device", json=_jwk_and_pin())
    assert unknown.status_code == 404


def test_a_private_key_or_a_short_pin_key_is_refused(
    app_client: TestClient, mail_sink: MailSink, people: People
) -> None:
    email = People.email(people.jeanne)
    started = _start(app_client, people.jeanne.matricule, people.jeanne.birth_date, email)
    app_client.post(
        f"{START}/{started['activation_id']}/email-confirmation",
        json={"code": otp_from(mail_sink, email)},
    )
    body = _jwk_and_pin()
    with_private = {**body, "public_key": {**body["public_key"], "d": "AAAA"}}  # type: ignore[dict-item]
    response = app_client.post(f"{START}/{started['activation_id']}/device", json=with_private)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_public_key"
    off_curve = {**body, "public_key": {**body["public_key"], "y": body["public_key"]["x"]}}  # type: ignore[dict-item, index]
    response = app_client.post(f"{START}/{started['activation_id']}/device", json=off_curve)
    assert response.json()["error"]["code"] == "invalid_public_key"
    short = {**body, "pin_key": base64.b64encode(b"x" * 31).decode() + "===="}
    response = app_client.post(f"{START}/{started['activation_id']}/device", json=short)
    assert response.status_code == 422


def test_reactivation_revokes_the_old_card_and_its_codes_at_once(
    activate: Activate, people: People, db: Database, tmp_path: Path
) -> None:
    old_phone = activate(people.jeanne)
    old_code = old_phone.present(SECRET)  # made before the new activation, still fresh
    new_phone = activate(people.jeanne)
    assert new_phone.card_number != old_phone.card_number
    with db.session() as s:
        statuses = dict(s.execute(select(Card.number, Card.status)).all())
        devices = dict(s.execute(select(DeviceCredential.key_id, DeviceCredential.status)).all())
    assert statuses == {old_phone.card_number: "revoked", new_phone.card_number: "active"}
    assert devices[old_phone.key_id] == "revoked"
    now = utcnow()
    with pytest.raises(AppError) as refused, db.session() as s:
        cards_service.verify_card_code(s, old_code, now, card_qr.PURPOSE_PRESENTATION)
    assert refused.value.code == "card_revoked"
    with db.session() as s:
        presented = cards_service.verify_card_code(
            s, new_phone.present(SECRET), now, card_qr.PURPOSE_PRESENTATION
        )
    assert presented.holder_person_id == people.jeanne.id


def test_the_wallet_refuses_trivial_secret_codes(
    app_client: TestClient, mail_sink: MailSink, people: People, tmp_path: Path
) -> None:
    wallet = Wallet.open(tmp_path / "w")
    email = People.email(people.jeanne)
    wallet.start_activation(app_client, people.jeanne.matricule, people.jeanne.birth_date, email)
    wallet.confirm_email(app_client, otp_from(mail_sink, email))
    for weak in ("0000", "1234", "98765", "12", "123456789", "12a4"):
        with pytest.raises(WalletError) as refused:
            wallet.complete_activation(app_client, weak)
        assert refused.value.code == "weak_secret_code"
    assert wallet.complete_activation(app_client, SECRET)["status"] == "active"


def test_too_many_activations_per_hour_are_refused(
    app_client: TestClient, mail_sink: MailSink, people: People
) -> None:
    jeanne = people.jeanne
    for _ in range(5):
        _start(app_client, jeanne.matricule, jeanne.birth_date, People.email(jeanne))
    response = app_client.post(
        START,
        json={"nir": jeanne.matricule, "birth_date": jeanne.birth_date, "email": "x@exemple.fr"},
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_activations"
