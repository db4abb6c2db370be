"""Passkey cards (web app): WebAuthn registration and assertions with user verification, driven
by a software authenticator (soft_webauthn), and the platform-signed codes they unlock."""

from __future__ import annotations

import base64
import json
from struct import pack
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from fido2 import cbor
from fido2.utils import sha256
from soft_webauthn import SoftWebauthnDevice
from sqlalchemy import select

from carnet.audit.models import AuditEvent
from carnet.cards.models import Card, DeviceCredential
from carnet.cards.service import Beneficiary, cards_service, platform_qr_key
from carnet.config import Settings
from carnet.db import Database, utcnow
from carnet.exceptions import AppError
from carnet.kit import card_qr
from carnet.mail.sink import MailSink

from .conftest import Activate, People, otp_from

API = "/api/v1/card"
UV = 0x04  # "user verified" flag of authenticator data


class VerifyingAuthenticator(SoftWebauthnDevice):  # type: ignore[misc]
    """soft_webauthn's authenticator, which also verifies its user (PIN or biometrics): the
    library only sets "user present"."""

    def __init__(self, *, verifies_user: bool = True) -> None:
        super().__init__()
        self.verifies_user = verifies_user

    def create(self, options: dict[str, Any], origin: str) -> dict[str, Any]:
        created: dict[str, Any] = super().create(options, origin)
        if self.verifies_user:
            attestation = cbor.decode(created["response"]["attestationObject"])
            data = bytearray(attestation["authData"])
            data[32] |= UV
            attestation["authData"] = bytes(data)
            created["response"]["attestationObject"] = cbor.encode(attestation)
        return created

    def get(self, options: dict[str, Any], origin: str) -> dict[str, Any]:
        self.sign_count += 1
        client_data = json.dumps(
            {
                "type": "webauthn.get",
                "challenge": _b64(options["publicKey"]["challenge"]),
                "origin": origin,
            }
        ).encode()
        flags = 0x01 | (UV if self.verifies_user else 0)
        data = sha256(self.rp_id.encode()) + bytes([flags]) + pack(">I", self.sign_count)
        signature = self.private_key.sign(data + sha256(client_data), ec.ECDSA(hashes.SHA256()))
        return {
            "id": base64.urlsafe_b64encode(self.credential_id),
            "rawId": self.credential_id,
            "response": {
                "authenticatorData": data,
                "clientDataJSON": client_data,
                "signature": signature,
                "userHandle": self.user_handle,
            },
            "type": "public-key",
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def to_json(credential: dict[str, Any]) -> dict[str, Any]:
    """What a browser sends: the PublicKeyCredential with base64url binary fields."""
    return {
        "id": _b64(credential["rawId"]),
        "rawId": _b64(credential["rawId"]),
        "type": "public-key",
        "response": {k: _b64(v) for k, v in credential["response"].items() if v is not None},
    }


def creation(options: dict[str, Any]) -> dict[str, Any]:
    public_key = {
        **options,
        "challenge": _unb64(options["challenge"]),
        "user": {**options["user"], "id": _unb64(options["user"]["id"])},
    }
    return {"publicKey": public_key}


def request_options(options: dict[str, Any]) -> dict[str, Any]:
    return {"publicKey": {**options, "challenge": _unb64(options["challenge"])}}


def proofed_activation(client: TestClient, mail_sink: MailSink, person: Any) -> str:
    email = People.email(person)
    started = client.post(
        f"{API}/activations",
        json={"nir": person.matricule, "birth_date": person.birth_date, "email": email},
    ).json()
    confirmed = client.post(
        f"{API}/activations/{started['activation_id']}/email-confirmation",
        json={"code": otp_from(mail_sink, email)},
    )
    assert confirmed.json()["state"] == "proofed"
    return str(started["activation_id"])


def register(
    client: TestClient, settings: Settings, activation_id: str, device: VerifyingAuthenticator
) -> Any:
    options = client.post(f"{API}/activations/{activation_id}/passkey/options").json()
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["rp"]["id"] == settings.card_webauthn_rp_id
    created = device.create(creation(options), settings.card_webauthn_origin)
    return client.post(
        f"{API}/activations/{activation_id}/passkey", json={"credential": to_json(created)}
    )


def passkey_code(
    client: TestClient,
    settings: Settings,
    device: VerifyingAuthenticator,
    *,
    purpose: int = 1,
    delegation_id: int | None = None,
) -> Any:
    options = client.post(f"{API}/passkey/options").json()
    assert options["userVerification"] == "required"
    assertion = device.get(request_options(options), settings.card_webauthn_origin)
    body: dict[str, Any] = {"credential": to_json(assertion), "purpose": purpose}
    if delegation_id is not None:
        body["delegation_id"] = delegation_id
    return client.post(f"{API}/passkey/codes", json=body)


def test_a_passkey_card_presents_and_signs_in_with_platform_signed_codes(
    app_client: TestClient, mail_sink: MailSink, people: People, settings: Settings, db: Database
) -> None:
    device = VerifyingAuthenticator()
    activation_id = proofed_activation(app_client, mail_sink, people.jeanne)
    registered = register(app_client, settings, activation_id, device)
    assert registered.status_code == 201, registered.text
    card_number = registered.json()["card_number"]

    response = passkey_code(app_client, settings, device)
    assert response.status_code == 200, response.text
    code = response.json()["code"]
    parsed = card_qr.parse(code)
    assert parsed.token.pin_tag is None  # user verification replaced the secret code
    assert parsed.token.card_number == card_number
    with db.session() as s:
        presented = cards_service.verify_card_code(s, code, utcnow(), 1)
    assert presented.device_kind == "passkey"
    assert presented.beneficiaries == (
        Beneficiary(people.jeanne.id, "holder"),
        Beneficiary(people.lucas.id, "dependant"),
    )
    with pytest.raises(AppError) as replayed, db.session() as s:
        cards_service.verify_card_code(s, code, utcnow(), 1)
    assert replayed.value.code == "qr_replayed"

    session_code = passkey_code(app_client, settings, device, purpose=2).json()["code"]
    token = app_client.post(f"{API}/sessions", json={"code": session_code}).json()
    view = app_client.get(API, headers={"Authorization": f"Bearer {token['access_token']}"})
    assert view.json()["devices"][0]["kind"] == "passkey"
    with db.session() as s:
        stored = s.scalars(select(DeviceCredential)).one()
        assert stored.sign_count == 2
        assert stored.webauthn_credential_id == device.credential_id
        assert s.scalar(select(Card.pin_key_enc)) is None
        audited = s.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "card.passkey.code")
        ).all()
    assert len(audited) == 2


def test_user_verification_is_required(
    app_client: TestClient, mail_sink: MailSink, people: People, settings: Settings
) -> None:
    activation_id = proofed_activation(app_client, mail_sink, people.jeanne)
    refused = register(
        app_client, settings, activation_id, VerifyingAuthenticator(verifies_user=False)
    )
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "passkey_refused"

    device = VerifyingAuthenticator()
    assert register(app_client, settings, activation_id, device).status_code == 201
    device.verifies_user = False
    unverified = passkey_code(app_client, settings, device)
    assert unverified.status_code == 401
    assert unverified.json()["error"]["code"] == "passkey_refused"


def test_assertions_are_single_use_and_bound_to_the_platform(
    app_client: TestClient, mail_sink: MailSink, people: People, settings: Settings
) -> None:
    device = VerifyingAuthenticator()
    register(app_client, settings, proofed_activation(app_client, mail_sink, people.jeanne), device)
    options = app_client.post(f"{API}/passkey/options").json()
    assertion = to_json(device.get(request_options(options), settings.card_webauthn_origin))
    first = app_client.post(f"{API}/passkey/codes", json={"credential": assertion})
    assert first.status_code == 200
    again = app_client.post(f"{API}/passkey/codes", json={"credential": assertion})
    assert again.status_code in (401, 409)  # the sign count or the used challenge refuses it
    # A challenge the platform did not issue.
    forged = {**options, "challenge": _b64(b"\x00" * 32)}
    bogus = to_json(device.get(request_options(forged), settings.card_webauthn_origin))
    response = app_client.post(f"{API}/passkey/codes", json={"credential": bogus})
    assert response.json()["error"]["code"] == "passkey_challenge_invalid"
    # Another origin (a phishing site relaying the ceremony).
    phished = to_json(device.get(request_options(options), "https://carnet.example.net"))
    assert app_client.post(f"{API}/passkey/codes", json={"credential": phished}).status_code == 401
    # An unknown passkey.
    stranger = VerifyingAuthenticator()
    stranger.cred_init(settings.card_webauthn_rp_id, b"x" * 16)
    unknown = to_json(stranger.get(request_options(options), settings.card_webauthn_origin))
    response = app_client.post(f"{API}/passkey/codes", json={"credential": unknown})
    assert response.json()["error"]["code"] == "passkey_refused"


def test_a_suspended_passkey_card_gets_no_code_and_reactivation_replaces_it(
    app_client: TestClient,
    mail_sink: MailSink,
    people: People,
    settings: Settings,
    activate: Activate,
    db: Database,
) -> None:
    device = VerifyingAuthenticator()
    register(app_client, settings, proofed_activation(app_client, mail_sink, people.jeanne), device)
    with db.session() as s:
        cards_service.operator_set_status(s, people.jeanne.matricule, "suspend", utcnow())
    suspended = passkey_code(app_client, settings, device)
    assert suspended.json()["error"]["code"] == "card_suspended"
    # Moving to a wallet revokes the passkey card at once.
    wallet = activate(people.jeanne)
    revoked = passkey_code(app_client, settings, device)
    assert revoked.json()["error"]["code"] == "card_revoked"
    # The platform's key signs for passkey cards only: not a code naming a wallet's key.
    assert wallet.key_id is not None
    assert wallet.card_number is not None
    now = int(utcnow().timestamp())
    token = card_qr.CardToken(wallet.card_number, now, now + 60, b"n" * 12)
    forged = card_qr.encode(token, wallet.key_id, platform_qr_key(settings.secret_key))
    with pytest.raises(AppError) as refused, db.session() as s:
        cards_service.verify_card_code(s, forged, utcnow(), 1)
    assert refused.value.code == "qr_invalid_signature"
