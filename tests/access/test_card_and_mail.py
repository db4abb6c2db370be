# ruff: noqa: F811 - the apCV fixtures are imported by name, then requested as parameters
"""A card reading starts a care relationship; accesses are notified by e-mail (through the real
SMTP sink), always for emergency access. Cards are activated by the reference wallet."""

from __future__ import annotations

from fastapi.testclient import TestClient

from carnet.mail.sink import MailSink

from ..apcv.conftest import (  # noqa: F401 - fixtures
    CONTEXTS,
    RPPS_PHARMACIST,
    SECRET,
    Activate,
    Family,
    Professionals,
    activate,
    family,
    gp_headers,
    gp_ref,
    professionals,
    settings,
)
from ..conftest import HolderHeaders, TokenFactory

SPACES = "/api/v1/spaces"


def _open_space(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post(f"{SPACES}/me/opening", headers=headers)
    assert response.status_code == 200, response.text


def test_reading_the_card_starts_a_care_relationship(
    app_client: TestClient,
    family: Family,
    professionals: Professionals,
    gp_headers: dict[str, str],
    activate: Activate,
    holder_headers: HolderHeaders,
    auth_headers: TokenFactory,
) -> None:
    jeanne = holder_headers(family.jeanne.id)
    _open_space(app_client, jeanne)
    dmp = auth_headers("dmp", professional_id=professionals.gp_id)
    url = f"{SPACES}/{family.jeanne.id}/documents"
    response = app_client.get(url, headers=dmp)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_care_relationship"

    wallet = activate(family.jeanne)
    context = app_client.post(
        CONTEXTS, json={"qr": wallet.present(SECRET), "professional": gp_ref()}, headers=gp_headers
    )
    assert context.status_code == 201, context.text
    body = context.json()
    ref = next(b["ref"] for b in body["beneficiaries"] if b["first_name"] == "JEANNE")
    read = app_client.get(
        f"{CONTEXTS}/{body['context_id']}", params={"beneficiary": ref}, headers=gp_headers
    )
    assert read.status_code == 200, read.text

    assert app_client.get(url, headers=dmp).status_code == 200
    consents = app_client.get(f"{SPACES}/me/consents", headers=jeanne).json()
    assert [(g["basis"], g["reason"]) for g in consents] == [("care", "card_reading")]
    # Lucas was not read: no relationship with his space.
    assert app_client.get(f"{SPACES}/{family.lucas.id}/documents", headers=dmp).status_code in (
        403,
        404,
    )
    # The holder withdraws it.
    response = app_client.delete(f"{SPACES}/me/consents/{gp_ref()['rpps']}", headers=jeanne)
    assert response.status_code == 204
    assert app_client.get(url, headers=dmp).status_code == 403


def test_accesses_are_notified_when_asked_and_emergency_always(
    app_client: TestClient,
    family: Family,
    professionals: Professionals,
    activate: Activate,
    holder_headers: HolderHeaders,
    auth_headers: TokenFactory,
    mail_sink: MailSink,
) -> None:
    activate(family.jeanne)  # the card account holds Jeanne's confirmed e-mail
    email = Family.email(family.jeanne)
    before = len(mail_sink.messages())
    jeanne = holder_headers(family.jeanne.id)
    _open_space(app_client, jeanne)
    response = app_client.post(
        f"{SPACES}/me/consents", json={"rpps": gp_ref()["rpps"]}, headers=jeanne
    )
    assert response.status_code == 201
    gp = auth_headers("dmp", professional_id=professionals.gp_id)
    url = f"{SPACES}/{family.jeanne.id}/documents"
    assert app_client.get(url, headers=gp).status_code == 200
    assert len(mail_sink.messages()) == before  # not asked for

    response = app_client.put(
        f"{SPACES}/me/privacy",
        json={"emergency_access_refused": False, "notify_by_email": True},
        headers=jeanne,
    )
    assert response.status_code == 200
    assert app_client.get(url, headers=gp).status_code == 200
    message = mail_sink.wait_for(email)
    assert "Morel" in message.text
    assert "espace santé" in message.subject

    # Emergency access is notified even when notices are off, with its reason.
    response = app_client.put(
        f"{SPACES}/me/privacy",
        json={"emergency_access_refused": False, "notify_by_email": False},
        headers=jeanne,
    )
    assert response.status_code == 200
    pharmacist = auth_headers("dmp", professional_id=professionals.pharmacist_id)
    count = len(mail_sink.messages())
    response = app_client.post(
        f"{SPACES}/{family.jeanne.id}/emergency-access",
        json={"reason": "malaise en officine, patiente inconsciente"},
        headers=pharmacist,
    )
    assert response.status_code == 201, response.text
    assert response.json()["notified"] is True
    messages = mail_sink.messages()
    assert len(messages) == count + 1
    assert "malaise en officine" in messages[-1].text
    assert "urgence" in messages[-1].text
    history = app_client.get(f"{SPACES}/me/history", headers=jeanne).json()["items"]
    assert history[0]["actor_kind"] == "emergency"
    assert history[0]["notified"] is True
    assert RPPS_PHARMACIST in history[0]["who"]


def test_a_refused_access_is_never_notified(
    app_client: TestClient,
    family: Family,
    professionals: Professionals,
    activate: Activate,
    holder_headers: HolderHeaders,
    auth_headers: TokenFactory,
    mail_sink: MailSink,
) -> None:
    activate(family.jeanne)
    jeanne = holder_headers(family.jeanne.id)
    _open_space(app_client, jeanne)
    response = app_client.put(
        f"{SPACES}/me/privacy",
        json={"emergency_access_refused": True, "notify_by_email": True},
        headers=jeanne,
    )
    assert response.status_code == 200
    count = len(mail_sink.messages())
    pharmacist = auth_headers("dmp", professional_id=professionals.pharmacist_id)
    response = app_client.post(
        f"{SPACES}/{family.jeanne.id}/emergency-access",
        json={"reason": "malaise en officine, patiente inconsciente"},
        headers=pharmacist,
    )
    assert response.status_code == 403
    assert (
        app_client.get(f"{SPACES}/{family.jeanne.id}/documents", headers=pharmacist).status_code
        == 403
    )
    assert len(mail_sink.messages()) == count
    assert app_client.get(f"{SPACES}/me/history", headers=jeanne).json()["items"] == []
