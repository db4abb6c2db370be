"""Delegations: the holder lets a trusted person with a card present hers or her child's."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from carnet.audit.models import AuditEvent
from carnet.cards.service import Beneficiary, PresentedCard, cards_service
from carnet.db import Database, utcnow
from carnet.exceptions import AppError
from carnet.kit import card_qr
from carnet.rights.models import Coverage
from carnet.wallet import Wallet, WalletError

from .conftest import SECRET, Activate, People

PRESENT = card_qr.PURPOSE_PRESENTATION


def verify(db: Database, text: str, now: datetime | None = None) -> PresentedCard:
    with db.session() as s:
        return cards_service.verify_card_code(s, text, now or utcnow(), PRESENT)


def refusal(db: Database, text: str, now: datetime | None = None) -> AppError:
    with pytest.raises(AppError) as refused:
        verify(db, text, now)
    return refused.value


def delegate(
    client: TestClient, wallet: Wallet, delegate_nir: str, beneficiary_nir: str, **extra: Any
) -> dict[str, Any]:
    return wallet.delegate(
        client,
        SECRET,
        delegate_nir=delegate_nir,
        beneficiary_nir=beneficiary_nir,
        ends_at=extra.pop("ends_at", utcnow() + timedelta(days=7)),
        **extra,
    )


def test_a_delegate_presents_only_the_delegated_beneficiary_with_their_own_card(
    app_client: TestClient, activate: Activate, people: People, db: Database
) -> None:
    jeanne, marc = activate(people.jeanne), activate(people.marc)
    given = delegate(app_client, jeanne, people.marc.matricule, people.lucas.matricule)
    assert given["state"] == "active"
    assert given["role"] == "given"
    assert given["delegate"]["matricule"] == people.marc.matricule
    assert given["beneficiary"]["first_names"] == ["LUCAS"]

    presented = verify(db, marc.present(SECRET, delegation_id=given["id"]))
    assert presented.delegation_id == given["id"]
    assert presented.holder_person_id == people.jeanne.id
    assert presented.presenter_person_id == people.marc.id
    assert presented.card_number == marc.card_number  # the delegate's own card signed it
    assert presented.beneficiaries == (Beneficiary(people.lucas.id, "dependant"),)
    # Without the delegation, Marc's code presents Marc.
    own = verify(db, marc.present(SECRET))
    assert own.beneficiaries == (Beneficiary(people.marc.id, "holder"),)

    received = marc.delegations(app_client, SECRET)
    assert [d["id"] for d in received["received"]] == [given["id"]]
    assert received["given"] == []
    assert received["received"][0]["grantor"]["matricule"] == people.jeanne.matricule
    assert [d["id"] for d in jeanne.delegations(app_client, SECRET)["given"]] == [given["id"]]
    with db.session() as s:
        audited = {
            (row.person_id, row.detail.split()[1])
            for row in s.execute(
                select(AuditEvent.person_id, AuditEvent.detail).where(
                    AuditEvent.action == "card.delegation.create"
                )
            )
        }
    assert audited == {
        (people.jeanne.id, "role=grantor"),
        (people.marc.id, "role=delegate"),
        (people.lucas.id, "role=beneficiary"),
    }


def test_the_holder_can_delegate_her_own_card(
    app_client: TestClient, activate: Activate, people: People, db: Database
) -> None:
    jeanne, marc = activate(people.jeanne), activate(people.marc)
    given = delegate(app_client, jeanne, people.marc.matricule, people.jeanne.matricule)
    presented = verify(db, marc.present(SECRET, delegation_id=given["id"]))
    assert presented.beneficiaries == (Beneficiary(people.jeanne.id, "holder"),)


def test_only_the_delegate_can_use_a_delegation(
    app_client: TestClient, activate: Activate, people: People, db: Database
) -> None:
    jeanne, paul = activate(people.jeanne), activate(people.paul)
    activate(people.marc)
    given = delegate(app_client, jeanne, people.marc.matricule, people.lucas.matricule)
    refused = refusal(db, paul.present(SECRET, delegation_id=given["id"]))
    assert (refused.code, refused.status_code) == ("delegation_not_yours", 403)
    assert refusal(db, paul.present(SECRET, delegation_id=999999)).code == "delegation_not_yours"
    # A delegation is for presenting to a professional, not for signing in as the holder.
    session_code = paul.present(SECRET, delegation_id=given["id"], purpose=2)
    response = app_client.post("/api/v1/card/sessions", json={"code": session_code})
    assert response.json()["error"]["code"] == "qr_wrong_purpose"


def test_revoked_and_expired_delegations_are_refused(
    app_client: TestClient, activate: Activate, people: People, db: Database
) -> None:
    jeanne, marc = activate(people.jeanne), activate(people.marc)
    ends = utcnow() + timedelta(days=2)
    given = delegate(
        app_client, jeanne, people.marc.matricule, people.lucas.matricule, ends_at=ends
    )
    later = ends + timedelta(seconds=1)
    expired = refusal(db, marc.present(SECRET, delegation_id=given["id"], now=later), later)
    assert expired.code == "delegation_expired"
    early = utcnow() + timedelta(days=1)
    assert verify(db, marc.present(SECRET, delegation_id=given["id"], now=early), early)

    revoked = jeanne.revoke_delegation(app_client, SECRET, given["id"])
    assert revoked["state"] == "revoked"
    refused = refusal(db, marc.present(SECRET, delegation_id=given["id"]))
    assert refused.code == "delegation_revoked"
    states = {d["id"]: d["state"] for d in marc.delegations(app_client, SECRET)["received"]}
    assert states == {given["id"]: "revoked"}
    with db.session() as s:
        revocations = s.scalars(
            select(AuditEvent.person_id).where(AuditEvent.action == "card.delegation.revoke")
        ).all()
    assert sorted(revocations) == sorted([people.jeanne.id, people.marc.id])


def test_a_delegate_may_give_up_and_strangers_cannot_touch_a_delegation(
    app_client: TestClient, activate: Activate, people: People
) -> None:
    jeanne, marc, paul = activate(people.jeanne), activate(people.marc), activate(people.paul)
    given = delegate(app_client, jeanne, people.marc.matricule, people.lucas.matricule)
    with pytest.raises(WalletError) as not_found:
        paul.revoke_delegation(app_client, SECRET, given["id"])
    assert (not_found.value.status, not_found.value.code) == (404, "delegation_not_found")
    assert marc.revoke_delegation(app_client, SECRET, given["id"])["state"] == "revoked"


def test_a_detached_child_can_no_longer_be_presented_by_the_delegate(
    app_client: TestClient, activate: Activate, people: People, db: Database
) -> None:
    jeanne, marc = activate(people.jeanne), activate(people.marc)
    given = delegate(app_client, jeanne, people.marc.matricule, people.lucas.matricule)
    with db.session() as s:
        s.execute(
            update(Coverage)
            .where(Coverage.person_id == people.lucas.id)
            .values(end_date=(utcnow() - timedelta(days=2)).date())
        )
    refused = refusal(db, marc.present(SECRET, delegation_id=given["id"]))
    assert refused.code == "delegation_expired"
    # And Jeanne's own code no longer carries him.
    assert verify(db, jeanne.present(SECRET)).beneficiaries == (
        Beneficiary(people.jeanne.id, "holder"),
    )


@pytest.mark.parametrize(
    ("who", "beneficiary", "ends_in", "code"),
    [
        ("paul", "lucas", timedelta(days=7), "delegate_without_active_card"),
        ("marc", "paul", timedelta(days=7), "not_your_beneficiary"),
        ("jeanne", "lucas", timedelta(days=7), "delegate_is_holder"),
        ("marc", "lucas", timedelta(days=400), "invalid_delegation_period"),
        ("marc", "lucas", timedelta(days=-1), "invalid_delegation_period"),
    ],
)
def test_delegations_are_checked_when_given(
    app_client: TestClient,
    activate: Activate,
    people: People,
    who: str,
    beneficiary: str,
    ends_in: timedelta,
    code: str,
) -> None:
    jeanne = activate(people.jeanne)
    activate(people.marc)  # Paul has no card
    with pytest.raises(WalletError) as refused:
        delegate(
            app_client,
            jeanne,
            getattr(people, who).matricule,
            getattr(people, beneficiary).matricule,
            ends_at=utcnow() + ends_in,
        )
    assert (refused.value.status, refused.value.code) == (422, code)


def test_a_delegate_whose_card_is_suspended_cannot_use_the_delegation(
    app_client: TestClient, activate: Activate, people: People, db: Database
) -> None:
    jeanne, marc = activate(people.jeanne), activate(people.marc)
    given = delegate(app_client, jeanne, people.marc.matricule, people.lucas.matricule)
    code = marc.present(SECRET, delegation_id=given["id"])
    marc.suspend(app_client, SECRET)
    assert refusal(db, code).code == "card_suspended"
