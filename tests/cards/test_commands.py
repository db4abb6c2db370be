"""`carnet cards show|suspend|resume|revoke|purge-nonces`: the operator's commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carnet.audit.models import AuditEvent
from carnet.cards.models import UsedCardNonce
from carnet.db import Database, utcnow

from .conftest import SECRET, Activate, People


def carnet(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carnet", "cards", *args],
        capture_output=True,
        text=True,
        env=os.environ | {"CARNET_DATABASE_URL": database_url},
        check=False,
    )


def test_operator_shows_suspends_resumes_and_revokes_a_card(
    app_client: TestClient, activate: Activate, people: People, database_url: str, db: Database
) -> None:
    wallet = activate(people.jeanne)
    nir = people.jeanne.matricule
    shown = carnet(database_url, "show", "--nir", nir)
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["matricule"] == nir
    assert body["account"]["email"] == People.email(people.jeanne)
    [card] = body["cards"]
    assert (card["card_number"], card["status"]) == (wallet.card_number, "active")
    assert card["devices"][0]["key_id"] == wallet.state["key_id"]

    suspended = carnet(database_url, "suspend", "--nir", nir)
    assert json.loads(suspended.stdout)["status"] == "suspended"
    again = carnet(database_url, "suspend", "--nir", nir)
    assert again.returncode == 1
    assert "not active" in again.stderr
    refused = app_client.post(
        "/api/v1/card/sessions", json={"code": wallet.present(SECRET, purpose=2)}
    )
    assert refused.json()["error"]["code"] == "card_suspended"

    resumed = carnet(database_url, "resume", "--nir", nir)
    assert json.loads(resumed.stdout)["status"] == "active"
    wallet.session(app_client, SECRET)

    revoked = carnet(database_url, "revoke", "--nir", nir)
    assert json.loads(revoked.stdout)["status"] == "revoked"
    gone = app_client.post(
        "/api/v1/card/sessions", json={"code": wallet.present(SECRET, purpose=2)}
    )
    assert gone.json()["error"]["code"] == "card_revoked"
    assert carnet(database_url, "resume", "--nir", nir).returncode == 1

    with db.session() as s:
        actions = s.scalars(
            select(AuditEvent.action).where(
                AuditEvent.person_id == people.jeanne.id, AuditEvent.actor == "client:system"
            )
        ).all()
    assert {"card.read", "card.suspend", "card.resume", "card.revoke"} <= set(actions)


def test_operator_commands_name_unknown_people_and_cardless_people(
    people: People, database_url: str
) -> None:
    from ..factories import make_nir

    unknown = carnet(database_url, "show", "--nir", make_nir("F", "1970-01-01", "75056", 321))
    assert unknown.returncode == 1
    assert "no person" in unknown.stderr
    cardless = carnet(database_url, "suspend", "--nir", people.paul.matricule)
    assert cardless.returncode == 1
    assert "no card" in cardless.stderr


def test_purge_removes_only_nonces_that_can_no_longer_matter(
    activate: Activate, people: People, database_url: str, db: Database
) -> None:
    wallet = activate(people.jeanne)
    from carnet.cards.service import cards_service

    with db.session() as s:
        cards_service.verify_card_code(s, wallet.present(SECRET), utcnow(), 1)
    old = utcnow() - timedelta(hours=1)
    with db.session() as s:
        cards_service.verify_card_code(s, wallet.present(SECRET, now=old), old, 1)
    purged = carnet(database_url, "purge-nonces")
    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout) == {"removed": 1}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(UsedCardNonce)) == 1
