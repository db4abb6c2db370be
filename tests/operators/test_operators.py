"""Back-office operators: roles in one table, `carnet operators` commands, one-time enrolment
links (hashed, expiring), passkey enrolment and sign-in (software authenticator with user
verification), replay and disabled accounts refused, every change audited."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from carnet.audit import get_audit_service
from carnet.audit.models import AuditEvent
from carnet.config import Settings
from carnet.db import Database, utcnow
from carnet.exceptions import AppError
from carnet.kit import passkeys
from carnet.operators.models import Operator, OperatorInvitation, OperatorPasskey
from carnet.operators.roles import ROLES, Permission, allows
from carnet.operators.service import operator_principal, operators_service
from tests.cards.test_passkey import (
    VerifyingAuthenticator,
    creation,
    request_options,
    to_json,
)


def carnet(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carnet", "operators", *args],
        capture_output=True,
        text=True,
        env=os.environ | {"CARNET_DATABASE_URL": database_url},
        check=False,
    )


def test_roles_are_defined_in_one_table() -> None:
    assert set(ROLES) == {"support", "cards", "audit", "admin"}
    assert allows("support", Permission.SEARCH_PERSONS)
    assert allows("support", Permission.VIEW_CARDS)
    assert not allows("support", Permission.CHANGE_CARDS)
    assert allows("cards", Permission.CHANGE_CARDS)
    assert not allows("cards", Permission.VERIFY_AUDIT)
    assert allows("audit", Permission.VERIFY_AUDIT)
    assert allows("audit", Permission.VIEW_DASHBOARD)
    assert not allows("audit", Permission.SEARCH_PERSONS)
    assert all(allows("admin", p) for p in Permission)
    assert not any(allows("cards", p) for p in [Permission.MANAGE_OPERATORS])
    assert not allows("nobody", Permission.SEARCH_PERSONS)


def test_the_commands_create_list_change_disable_and_invite(
    db: Database, database_url: str
) -> None:
    created = carnet(
        database_url, "create", "--name", "Alice Martin", "--email", "Alice@Caisse.fr", "--role",
        "support",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert body["enrolment_link"].startswith("/gestion/enrolement/")
    assert (body["email"], body["role"]) == ("alice@caisse.fr", "support")
    token = body["enrolment_link"].rsplit("/", 1)[1]
    with db.session() as s:
        [invitation] = s.scalars(select(OperatorInvitation)).all()
        # Only the token's hash is stored.
        assert invitation.token_hash == hashlib.sha256(token.encode()).digest()
        assert token.encode() not in invitation.token_hash

    taken = carnet(
        database_url, "create", "--name", "A", "--email", "alice@caisse.fr", "--role", "audit"
    )
    assert taken.returncode == 1
    assert "already" in taken.stderr
    wrong = carnet(database_url, "create", "--name", "B", "--email", "b@c.fr", "--role", "boss")
    assert wrong.returncode == 1
    assert "role" in wrong.stderr

    listed = carnet(database_url, "list")
    [line] = listed.stdout.splitlines()
    assert json.loads(line)["name"] == "Alice Martin"
    operator_id = str(body["id"])

    changed = carnet(database_url, "set-role", operator_id, "--role", "cards")
    assert json.loads(changed.stdout)["role"] == "cards"
    again = carnet(database_url, "invite", operator_id)
    second = json.loads(again.stdout)["enrolment_link"].rsplit("/", 1)[1]
    assert second != token
    with db.session() as s:
        # The earlier link stops working when a new one is made.
        with pytest.raises(AppError):
            operators_service.invitation(s, token, utcnow())
        assert operators_service.invitation(s, second, utcnow()).email == "alice@caisse.fr"

    disabled = carnet(database_url, "disable", operator_id)
    assert json.loads(disabled.stdout)["active"] is False
    assert carnet(database_url, "invite", operator_id).returncode == 1
    assert carnet(database_url, "disable", "999").returncode == 1
    with db.session() as s:
        with pytest.raises(AppError):
            operators_service.invitation(s, second, utcnow())
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.resource == f"Operator/{operator_id}")
        ).all()
    assert {"operator.create", "operator.role", "operator.invite", "operator.disable"} <= set(
        actions
    )


def _enrol(
    db: Database, settings: Settings, token: str, device: VerifyingAuthenticator
) -> dict[str, Any]:
    with db.session() as s:
        options = operators_service.enrolment_options(s, settings, token, utcnow())
    assert options["authenticatorSelection"]["userVerification"] == "required"
    created = to_json(device.create(creation(options), settings.card_webauthn_origin))
    with db.session() as s:
        operators_service.enrol(s, settings, token, created, utcnow())
    return created


def _assertion(settings: Settings, device: VerifyingAuthenticator) -> dict[str, Any]:
    options = operators_service.sign_in_options(settings, utcnow())
    assert options["userVerification"] == "required"
    return to_json(device.get(request_options(options), settings.card_webauthn_origin))


def test_enrolment_then_sign_in_and_a_replay_is_refused(db: Database, settings: Settings) -> None:
    with db.session() as s:
        invitation = operators_service.create(
            s, name="Bruno Petit", email="bruno@caisse.fr", role="audit", now=utcnow()
        )
    device = VerifyingAuthenticator()
    created = _enrol(db, settings, invitation.token, device)
    # The link served once.
    with db.session() as s, pytest.raises(AppError) as used:
        operators_service.enrol(s, settings, invitation.token, created, utcnow())
    assert used.value.code == "invitation_invalid"

    assertion = _assertion(settings, device)
    with db.session() as s:
        signed_in = operators_service.sign_in(s, settings, assertion, utcnow())
    assert (signed_in.id, signed_in.role) == (invitation.operator.id, "audit")
    # The same assertion again (same challenge): refused.
    with db.session() as s, pytest.raises(AppError) as replay:
        operators_service.sign_in(s, settings, assertion, utcnow())
    assert replay.value.code == "operator_sign_in_refused"
    with db.session() as s:
        passkey = s.scalars(select(OperatorPasskey)).one()
        assert passkey.last_used_at is not None
        actors = s.scalars(
            select(AuditEvent.actor).where(
                AuditEvent.action.in_(["operator.enrol", "operator.sign_in"])
            )
        ).all()
    assert set(actors) == {f"operator:{signed_in.id}"}


def test_sign_in_needs_an_operator_challenge_user_verification_and_an_active_account(
    db: Database, settings: Settings
) -> None:
    with db.session() as s:
        invitation = operators_service.create(
            s, name="Chloé Roux", email="chloe@caisse.fr", role="support", now=utcnow()
        )
    device = VerifyingAuthenticator()
    _enrol(db, settings, invitation.token, device)

    # A challenge issued for another purpose (a card's passkey sign-in) is refused.
    other = passkeys.authentication_options(
        settings, passkeys.new_challenge(settings, "card-passkey", utcnow())
    )
    foreign = to_json(device.get(request_options(other), settings.card_webauthn_origin))
    with db.session() as s, pytest.raises(AppError) as wrong_purpose:
        operators_service.sign_in(s, settings, foreign, utcnow())
    assert wrong_purpose.value.code == "operator_sign_in_refused"

    # No user verification: refused.
    device.verifies_user = False
    with db.session() as s, pytest.raises(AppError):
        operators_service.sign_in(s, settings, _assertion(settings, device), utcnow())
    device.verifies_user = True

    # An unknown passkey: refused.
    stranger = VerifyingAuthenticator()
    stranger.create(
        creation(
            passkeys.registration_options(
                settings, passkeys.new_challenge(settings, "x", utcnow()), "x"
            )
        ),
        settings.card_webauthn_origin,
    )
    with db.session() as s, pytest.raises(AppError):
        operators_service.sign_in(s, settings, _assertion(settings, stranger), utcnow())

    # Disabled: refused, and ``current`` no longer answers for the session.
    with db.session() as s:
        operators_service.disable(s, invitation.operator.id, utcnow())
    with db.session() as s, pytest.raises(AppError):
        operators_service.sign_in(s, settings, _assertion(settings, device), utcnow())
    with db.session() as s:
        assert operators_service.current(s, invitation.operator.id) is None


def test_an_enrolment_link_expires(db: Database, settings: Settings) -> None:
    with db.session() as s:
        invitation = operators_service.create(
            s, name="Dan Blanc", email="dan@caisse.fr", role="cards", now=utcnow()
        )
    with db.session() as s:
        assert operators_service.invitation(s, invitation.token, utcnow()).name == "Dan Blanc"
        with pytest.raises(AppError) as late:
            operators_service.invitation(s, invitation.token, utcnow() + timedelta(days=4))
        assert late.value.code == "invitation_invalid"
        with pytest.raises(AppError):
            operators_service.invitation(s, "not-a-token", utcnow())


def test_an_operator_cannot_change_their_own_account_and_actions_name_them(
    db: Database,
) -> None:
    with db.session() as s:
        admin = operators_service.create(
            s, name="Eve Admin", email="eve@caisse.fr", role="admin", now=utcnow()
        ).operator
        other = operators_service.create(
            s, name="Fred", email="fred@caisse.fr", role="support", now=utcnow()
        ).operator
    me = operator_principal(admin.id)
    with db.session() as s, pytest.raises(AppError) as own:
        operators_service.set_role(s, admin.id, "support", utcnow(), me)
    assert own.value.code == "operator_is_you"
    with db.session() as s, pytest.raises(AppError):
        operators_service.disable(s, admin.id, utcnow(), me)
    with db.session() as s:
        operators_service.set_role(s, other.id, "audit", utcnow(), me)
        assert s.get(Operator, other.id).role == "audit"  # type: ignore[union-attr]
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "operator.role")).one()
    assert event.actor == f"operator:{admin.id}"
    assert event.detail == "support -> audit"
    with db.session() as s:
        assert get_audit_service().verify(s).ok
