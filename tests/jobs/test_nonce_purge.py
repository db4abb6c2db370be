"""The sign-ins' single-use nonces (`pro_used_nonces`, `operator_used_nonces`) are deleted by
the jobs `proauth.purge_nonces` and `operators.purge_nonces` once their challenge has expired
(`carnet jobs run --only NAME --now ISO`), and a purged nonce's assertion stays refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from carnet.config import Settings
from carnet.db import Database, utcnow
from carnet.exceptions import AppError
from carnet.jobs.service import JOBS
from carnet.operators.models import OperatorUsedNonce
from carnet.operators.service import operators_service
from carnet.proauth.models import ProUsedNonce
from carnet.proauth.service import proauth_service
from tests.cards.test_passkey import VerifyingAuthenticator, creation, request_options, to_json
from tests.operators.test_operators import _assertion, _enrol
from tests.proauth.conftest import RPPS_MOREL, Professionals, professionals

from ..space.conftest import RunCli

__all__ = ["professionals"]


def _count(db: Database, model: type[ProUsedNonce] | type[OperatorUsedNonce]) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _purge(cli: RunCli, name: str, when: str) -> dict[str, object]:
    ran = cli("jobs", "run", "--only", name, "--now", when)
    assert ran.exit_code == 0, ran.stderr
    [line] = ran.lines()
    return dict(line)


def test_the_purge_jobs_are_registered() -> None:
    assert {"proauth.purge_nonces", "operators.purge_nonces"} <= set(JOBS)


def test_professional_sign_in_nonces_are_purged_once_expired(
    cli: RunCli, db: Database, settings: Settings, professionals: Professionals
) -> None:
    device = VerifyingAuthenticator()
    with db.session() as s:
        invitation = proauth_service.invite(s, settings, RPPS_MOREL, utcnow())
    with db.session() as s:
        options = proauth_service.enrolment_options(s, settings, invitation.token, utcnow())
    created = to_json(device.create(creation(options), settings.card_webauthn_origin))
    with db.session() as s:
        proauth_service.enrol(s, settings, invitation.token, created, "Cabinet", utcnow())
    options = proauth_service.sign_in_options(settings, utcnow())
    assertion = to_json(device.get(request_options(options), settings.card_webauthn_origin))
    signed_at = utcnow()
    with db.session() as s:
        proauth_service.passkey_sign_in(s, settings, assertion, signed_at)
    assert _count(db, ProUsedNonce) == 1

    # While the challenge could still be accepted, its nonce stays (a replay is refused).
    kept = _purge(cli, "proauth.purge_nonces", signed_at.isoformat())
    assert kept == {"job": "proauth.purge_nonces", "status": "success", "removed": 0}
    assert _count(db, ProUsedNonce) == 1
    with db.session() as s, pytest.raises(AppError):
        proauth_service.passkey_sign_in(s, settings, assertion, utcnow())

    later = signed_at + timedelta(hours=1)
    purged = _purge(cli, "proauth.purge_nonces", later.isoformat())
    assert purged == {"job": "proauth.purge_nonces", "status": "success", "removed": 1}
    assert _count(db, ProUsedNonce) == 0
    # Its challenge has expired: the same assertion is still refused without the nonce.
    with db.session() as s, pytest.raises(AppError):
        proauth_service.passkey_sign_in(s, settings, assertion, later)


def test_operator_sign_in_nonces_are_purged_once_expired(
    cli: RunCli, db: Database, settings: Settings
) -> None:
    with db.session() as s:
        invitation = operators_service.create(
            s, name="Inès Roux", email="ines@caisse.fr", role="support", now=utcnow()
        )
    device = VerifyingAuthenticator()
    _enrol(db, settings, invitation.token, device)
    assertion = _assertion(settings, device)
    signed_at = utcnow()
    with db.session() as s:
        operators_service.sign_in(s, settings, assertion, signed_at)
    assert _count(db, OperatorUsedNonce) == 1

    kept = _purge(cli, "operators.purge_nonces", signed_at.isoformat())
    assert kept == {"job": "operators.purge_nonces", "status": "success", "removed": 0}
    with db.session() as s, pytest.raises(AppError):
        operators_service.sign_in(s, settings, assertion, utcnow())

    later = signed_at + timedelta(hours=1)
    purged = _purge(cli, "operators.purge_nonces", later.isoformat())
    assert purged == {"job": "operators.purge_nonces", "status": "success", "removed": 1}
    assert _count(db, OperatorUsedNonce) == 0
    with db.session() as s, pytest.raises(AppError):
        operators_service.sign_in(s, settings, assertion, later)
