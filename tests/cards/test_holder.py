"""The holder session (a code with purpose 2) and the holder's routes; lost phone."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.audit.models import AuditEvent
from carnet.cards.models import Card
from carnet.cards.service import cards_service
from carnet.config import Settings
from carnet.db import Database, utcnow
from carnet.exceptions import AppError
from carnet.kit import card_qr
from carnet.mail.sink import MailSink
from carnet.wallet import Wallet, WalletError

from ..conftest import TokenFactory
from .conftest import OTHER_SECRET, SECRET, Activate, People, otp_from


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_holder_signs_in_with_the_card_and_sees_it(
    app_client: TestClient, activate: Activate, people: People, settings: Settings
) -> None:
    wallet = activate(people.jeanne)
    response = app_client.post(
        "/api/v1/card/sessions",
        json={"code": wallet.present(SECRET, purpose=card_qr.PURPOSE_SESSION)},
    )
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["scope"] == "holder"
    assert token["expires_in"] == settings.holder_token_ttl_seconds
    card = app_client.get("/api/v1/card", headers=_bearer(token["access_token"]))
    assert card.status_code == 200, card.text
    body = card.json()
    assert body["card_number"] == wallet.card_number
    assert body["status"] == "active"
    assert [d["kind"] for d in body["devices"]] == ["wallet"]
    beneficiaries = [
        (b["quality"], b["matricule"], b["first_names"]) for b in body["beneficiaries"]
    ]
    assert beneficiaries == [
        ("holder", people.jeanne.matricule, ["JEANNE", "MARIE"]),
        ("dependant", people.lucas.matricule, ["LUCAS"]),
    ]


def test_a_wrong_code_at_sign_in_is_counted_although_the_request_fails(
    app_client: TestClient, activate: Activate, people: People, db: Database
) -> None:
    wallet = activate(people.jeanne)
    for left in (2, 1):
        with_wrong = app_client.post(
            "/api/v1/card/sessions",
            json={"code": wallet.present(OTHER_SECRET, purpose=card_qr.PURPOSE_SESSION)},
        )
        assert with_wrong.status_code == 401
        assert with_wrong.json()["error"]["code"] == "wrong_secret_code"
        assert with_wrong.json()["error"]["details"][0]["attempts_left"] == left
    with db.session() as s:
        assert s.scalar(select(Card.failed_pin_attempts)) == 2
    wallet.session(app_client, SECRET)
    with db.session() as s:
        assert s.scalar(select(Card.failed_pin_attempts)) == 0
    replay = wallet.present(SECRET, purpose=card_qr.PURPOSE_SESSION)
    assert app_client.post("/api/v1/card/sessions", json={"code": replay}).status_code == 200
    again = app_client.post("/api/v1/card/sessions", json={"code": replay})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "qr_replayed"


def test_holder_and_client_tokens_stay_in_their_lanes(
    app_client: TestClient, activate: Activate, people: People, auth_headers: TokenFactory
) -> None:
    wallet = activate(people.jeanne)
    holder = _bearer(wallet.session(app_client, SECRET))
    client = auth_headers("ins.read", "audit.read", "rights.read", "apcv")
    search = {
        "birth_name": "DUPONT",
        "first_name": "JEANNE",
        "sex": "F",
        "birth_date": "1985-04-12",
    }
    assert app_client.post("/api/v1/ins/search", json=search, headers=holder).status_code == 403
    assert app_client.get("/fhir/AuditEvent", headers=holder).status_code == 403
    for method, path in (
        ("GET", "/api/v1/card"),
        ("POST", "/api/v1/card/suspend"),
        ("GET", "/api/v1/card/delegations"),
        ("DELETE", "/api/v1/card/delegations/1"),
    ):
        response = app_client.request(method, path, headers=client)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["code"] == "insufficient_scope"
        assert app_client.request(method, path).status_code == 401


def test_the_holder_suspends_the_card_and_its_codes_are_refused_at_once(
    app_client: TestClient, activate: Activate, people: People, db: Database
) -> None:
    wallet = activate(people.jeanne)
    token = wallet.session(app_client, SECRET)
    code = wallet.present(SECRET)
    suspended = app_client.post("/api/v1/card/suspend", headers=_bearer(token))
    assert suspended.json() == {"card_number": wallet.card_number, "status": "suspended"}
    # A token issued before still reads the card, but cannot act with it.
    assert app_client.get("/api/v1/card", headers=_bearer(token)).json()["status"] == "suspended"
    delegation = app_client.post(
        "/api/v1/card/delegations",
        json={
            "delegate_nir": people.marc.matricule,
            "beneficiary_nir": people.lucas.matricule,
            "ends_at": "2099-01-01T00:00:00Z",
        },
        headers=_bearer(token),
    )
    assert delegation.status_code == 403
    assert delegation.json()["error"]["code"] == "card_suspended"
    with pytest.raises(WalletError) as refused:
        Wallet.open(wallet.path).session(app_client, SECRET)
    assert (refused.value.code, refused.value.status) == ("card_suspended", 403)
    with pytest.raises(AppError) as rejected, db.session() as s:
        cards_service.verify_card_code(s, code, utcnow(), card_qr.PURPOSE_PRESENTATION)
    assert rejected.value.code == "card_suspended"
    with db.session() as s:
        audited = s.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.action == "card.suspend", AuditEvent.person_id == people.jeanne.id
            )
        ).all()
    assert audited == ["by the holder"]


def test_lost_phone_suspends_the_card_with_the_account_email(
    app_client: TestClient, activate: Activate, people: People, mail_sink: MailSink, db: Database
) -> None:
    wallet = activate(people.jeanne)
    jeanne = people.jeanne
    wrong_mail = app_client.post(
        "/api/v1/card/lost",
        json={"nir": jeanne.matricule, "birth_date": jeanne.birth_date, "email": "x@exemple.fr"},
    )
    assert wrong_mail.status_code == 400
    assert wrong_mail.json()["error"]["code"] == "identity_not_recognised"
    email = People.email(jeanne)
    started = Wallet.report_lost(app_client, jeanne.matricule, jeanne.birth_date, email.upper())
    assert started["purpose"] == "suspend"
    message = mail_sink.wait_for(email)
    assert "Suspension" in message.subject
    done = Wallet.confirm_lost(app_client, started["activation_id"], otp_from(mail_sink, email))
    assert done["state"] == "completed"
    with db.session() as s:
        assert s.scalar(select(Card.status).where(Card.number == wallet.card_number)) == (
            "suspended"
        )
        details = s.scalars(
            select(AuditEvent.action).where(AuditEvent.person_id == jeanne.id)
        ).all()
    assert {"card.lost.start", "card.suspend"} <= set(details)
    # The lost-phone code cannot complete an activation, and vice versa.
    device = app_client.post(f"/api/v1/card/activations/{started['activation_id']}/device", json={})
    assert device.status_code in (404, 422)
