"""The holder's reading history, delegated presentations, and the audit trail of a reading."""

from __future__ import annotations

import io
import time
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete

from carnet.apcv.service import care_date
from carnet.audit import get_audit_service
from carnet.audit.service import AuditQuery
from carnet.db import Database
from carnet.rights.importer import HEADER as RIGHTS_HEADER
from carnet.rights.importer import import_rights
from carnet.rights.models import Coverage
from carnet.wallet import Wallet

from ..factories import add_person
from .conftest import (
    CONTEXTS,
    DELEGATE_SECRET,
    RPPS_GP,
    SECRET,
    Activate,
    Family,
    gp_ref,
    now,
)

READINGS = "/api/v1/card/readings"


def _holder(client: TestClient, wallet: Wallet, secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {wallet.session(client, secret)}"}


def _open(client: TestClient, headers: dict[str, str], qr: str) -> dict[str, Any]:
    response = client.post(CONTEXTS, json={"qr": qr, "professional": gp_ref()}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _read_all(client: TestClient, headers: dict[str, str], context: dict[str, Any]) -> None:
    for beneficiary in context["beneficiaries"]:
        response = client.get(
            f"{CONTEXTS}/{context['context_id']}",
            params={"beneficiary": beneficiary["ref"]},
            headers=headers,
        )
        assert response.status_code == 200, response.text


def _delegate(client: TestClient, grantor: Wallet, family: Family, *, seconds: int = 86400) -> int:
    body = grantor.delegate(
        client,
        SECRET,
        delegate_nir=family.marc.matricule,
        beneficiary_nir=family.lucas.matricule,
        ends_at=now() + timedelta(seconds=seconds),
    )
    return int(body["id"])


def test_the_holder_sees_readings_of_their_card_and_dependants(
    app_client: TestClient, gp_headers: dict[str, str], family: Family, activate: Activate
) -> None:
    jeanne = activate(family.jeanne)
    _read_all(app_client, gp_headers, _open(app_client, gp_headers, jeanne.present(SECRET)))

    page = app_client.get(READINGS, headers=_holder(app_client, jeanne))
    assert page.status_code == 200, page.text
    readings = page.json()["readings"]
    assert len(readings) == 2
    by_name = {r["beneficiary"]["first_name"]: r for r in readings}
    assert set(by_name) == {"JEANNE", "LUCAS"}
    mine, child = by_name["JEANNE"], by_name["LUCAS"]
    assert (mine["about_me"], mine["quality"], mine["role"]) == (True, "holder", "holder")
    assert (child["about_me"], child["quality"]) == (False, "dependant")
    assert child["beneficiary"]["last_name"] == "LEROY"
    assert mine["beneficiary"]["last_name"] == "LEROY"  # her used name
    assert child["professional"]["rpps"] == RPPS_GP
    assert child["professional"]["profession_label"] == "Médecin"
    assert child["delegated"] is False
    assert child["delegation"] is None
    assert readings[0]["id"] > readings[1]["id"]  # newest first

    # Paging: one at a time, with the cursor.
    first = app_client.get(READINGS, params={"limit": 1}, headers=_holder(app_client, jeanne))
    body = first.json()
    assert len(body["readings"]) == 1
    assert body["next_before"] == body["readings"][0]["id"]
    second = app_client.get(
        READINGS,
        params={"limit": 1, "before": body["next_before"]},
        headers=_holder(app_client, jeanne),
    ).json()
    assert [r["id"] for r in second["readings"]] == [readings[1]["id"]]
    assert second["next_before"] is None

    # Somebody else's history does not show Jeanne's readings.
    paul = activate(family.paul)
    assert app_client.get(READINGS, headers=_holder(app_client, paul)).json()["readings"] == []


def test_a_delegate_presents_the_child_and_the_holder_sees_it(
    app_client: TestClient, gp_headers: dict[str, str], family: Family, activate: Activate
) -> None:
    jeanne = activate(family.jeanne)
    marc = activate(family.marc, secret=DELEGATE_SECRET)
    delegation = _delegate(app_client, jeanne, family)

    context = _open(app_client, gp_headers, marc.present(DELEGATE_SECRET, delegation_id=delegation))
    assert context["delegated"] is True
    # Only the delegated beneficiary is opened, not Jeanne herself.
    assert [(b["first_name"], b["quality"]) for b in context["beneficiaries"]] == [
        ("LUCAS", "dependant")
    ]
    read = app_client.get(
        f"{CONTEXTS}/{context['context_id']}",
        params={"beneficiary": context["beneficiaries"][0]["ref"]},
        headers=gp_headers,
    ).json()
    assert read["delegated"] is True
    assert read["identity"]["ins"]["matricule"] == family.lucas.matricule

    (seen_by_jeanne,) = app_client.get(READINGS, headers=_holder(app_client, jeanne)).json()[
        "readings"
    ]
    assert seen_by_jeanne["role"] == "holder"
    assert seen_by_jeanne["delegated"] is True
    assert seen_by_jeanne["beneficiary"]["first_name"] == "LUCAS"
    assert seen_by_jeanne["delegation"] == {
        "id": delegation,
        "delegate": {"first_name": "MARC", "last_name": "DUPONT"},
    }

    # Marc sees, apart, what he presented as a delegate.
    marc_history = app_client.get(READINGS, headers=_holder(app_client, marc, DELEGATE_SECRET))
    (seen_by_marc,) = marc_history.json()["readings"]
    assert seen_by_marc["role"] == "delegate"
    assert seen_by_marc["about_me"] is False
    assert seen_by_marc["beneficiary"]["first_name"] == "LUCAS"


def test_revoked_and_expired_delegations_are_refused(
    app_client: TestClient, gp_headers: dict[str, str], family: Family, activate: Activate
) -> None:
    jeanne = activate(family.jeanne)
    marc = activate(family.marc, secret=DELEGATE_SECRET)
    revoked = _delegate(app_client, jeanne, family)
    jeanne.revoke_delegation(app_client, SECRET, revoked)
    response = app_client.post(
        CONTEXTS,
        json={
            "qr": marc.present(DELEGATE_SECRET, delegation_id=revoked),
            "professional": gp_ref(),
        },
        headers=gp_headers,
    )
    assert (response.status_code, response.json()["error"]["code"]) == (403, "delegation_revoked")

    short = _delegate(app_client, jeanne, family, seconds=2)
    time.sleep(2.2)
    response = app_client.post(
        CONTEXTS,
        json={"qr": marc.present(DELEGATE_SECRET, delegation_id=short), "professional": gp_ref()},
        headers=gp_headers,
    )
    assert (response.status_code, response.json()["error"]["code"]) == (403, "delegation_expired")

    # Paul was never given anything: his code naming Jeanne's delegation is not his to use.
    paul = activate(family.paul)
    response = app_client.post(
        CONTEXTS,
        json={"qr": paul.present(SECRET, delegation_id=short), "professional": gp_ref()},
        headers=gp_headers,
    )
    assert (response.status_code, response.json()["error"]["code"]) == (
        403,
        "delegation_not_yours",
    )


def test_every_step_is_audited_in_the_trail(
    app_client: TestClient,
    gp_headers: dict[str, str],
    family: Family,
    activate: Activate,
    db: Database,
) -> None:
    jeanne = activate(family.jeanne)
    marc = activate(family.marc, secret=DELEGATE_SECRET)
    delegation = _delegate(app_client, jeanne, family)
    context = _open(app_client, gp_headers, jeanne.present(SECRET))
    _read_all(app_client, gp_headers, context)
    lucas_ref = next(b["ref"] for b in context["beneficiaries"] if b["first_name"] == "LUCAS")
    url = f"{CONTEXTS}/{context['context_id']}"
    app_client.post(
        f"{url}/signatures",
        json={"beneficiary": lucas_ref, "invoice_type": "DRE", "invoice_hash": "ab" * 32},
        headers=gp_headers,
    )
    app_client.delete(url, headers=gp_headers)
    delegated = _open(
        app_client, gp_headers, marc.present(DELEGATE_SECRET, delegation_id=delegation)
    )
    _read_all(app_client, gp_headers, delegated)

    def actions(person_id: int) -> list[tuple[str, str | None]]:
        with db.session() as s:
            page = get_audit_service().read_trail(
                s, actor="test", query=AuditQuery(person_id=person_id), limit=200
            )
        return [(e.action, e.detail) for e in reversed(page.events) if e.action.startswith("apcv")]

    jeanne_actions = [a for a, _ in actions(family.jeanne.id)]
    assert jeanne_actions == [
        "apcv.context.create",
        "apcv.beneficiary.read",
        "apcv.context.destroy",
        "apcv.context.create",  # the delegated presentation of her card (Lucas)
    ]
    lucas = actions(family.lucas.id)
    assert [a for a, _ in lucas] == [
        "apcv.context.beneficiary",
        "apcv.beneficiary.read",
        "apcv.invoice.sign",
        "apcv.context.beneficiary",
        "apcv.beneficiary.read",
    ]
    assert "type=DRE hash=" + "ab" * 32 in (lucas[2][1] or "")
    assert f"delegation={delegation}" in (lucas[4][1] or "")
    marc_actions = actions(family.marc.id)
    assert [a for a, _ in marc_actions] == ["apcv.context.delegate"]
    # The trail stays intact.
    with db.session() as s:
        assert get_audit_service().verify(s).ok


def test_a_child_read_with_the_other_parents_card_is_in_the_parents_history(
    app_client: TestClient,
    gp_headers: dict[str, str],
    family: Family,
    activate: Activate,
    db: Database,
) -> None:
    """Lucas was attached to his father Hugo (Hugo's card showed him) and is attached to his
    mother Jeanne now (a child is attached to one insured person at a time): Jeanne's history
    shows both readings of Lucas, never Hugo's own; Hugo's shows his own and his reading of
    Lucas, never Jeanne's own."""
    with db.session() as s:
        hugo_person = add_person(
            s, birth_name="LEROY", first_names="HUGO", sex="M", birth_date="1983-02-14"
        )
        # Lucas's attachment to Jeanne (the family's rights) is replaced below.
        s.execute(delete(Coverage).where(Coverage.person_id == family.lucas.id))
    today = care_date(now())
    yesterday = today - timedelta(days=1)

    def rights(*lines: str) -> None:
        text = ",".join(RIGHTS_HEADER) + "\n" + "\n".join(lines) + "\n"
        report = import_rights(db, io.StringIO(text))
        assert report.committed, report.errors

    def lucas_attached_to(insured: str, start: str, end: str = "") -> str:
        lucas = family.lucas
        return f"{lucas.matricule},{lucas.birth_date},1,{insured},06,01,351,0001,{start},{end},"

    hugo_nir, jeanne_nir = hugo_person.matricule, family.jeanne.matricule
    rights(
        f"{hugo_nir},{hugo_person.birth_date},1,,00,01,351,0001,2020-01-01,,",
        lucas_attached_to(hugo_nir, "2020-01-01"),
    )
    jeanne = activate(family.jeanne)
    hugo = activate(hugo_person)
    by_hugo = _open(app_client, gp_headers, hugo.present(SECRET))
    assert sorted(b["first_name"] for b in by_hugo["beneficiaries"]) == ["HUGO", "LUCAS"]
    _read_all(app_client, gp_headers, by_hugo)

    # From today, Lucas is attached to Jeanne.
    rights(
        lucas_attached_to(hugo_nir, "2020-01-01", yesterday.isoformat()),
        lucas_attached_to(jeanne_nir, today.isoformat()),
    )
    by_jeanne = _open(app_client, gp_headers, jeanne.present(SECRET))
    assert sorted(b["first_name"] for b in by_jeanne["beneficiaries"]) == ["JEANNE", "LUCAS"]
    _read_all(app_client, gp_headers, by_jeanne)

    def history(wallet: Wallet) -> list[tuple[str, bool, str]]:
        page = app_client.get(READINGS, headers=_holder(app_client, wallet))
        assert page.status_code == 200, page.text
        return sorted(
            (r["beneficiary"]["first_name"], r["about_me"], r["role"])
            for r in page.json()["readings"]
        )

    # Jeanne: her own reading and both readings of Lucas (hers, and Hugo's with his card).
    assert history(jeanne) == [
        ("JEANNE", True, "holder"),
        ("LUCAS", False, "holder"),
        ("LUCAS", False, "holder"),
    ]
    # Hugo: his own reading and his reading of Lucas (with his card); never Jeanne's own.
    assert history(hugo) == [("HUGO", True, "holder"), ("LUCAS", False, "holder")]
