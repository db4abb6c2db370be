"""The demo's web-portal accounts: a doctor and a pharmacist of the demo directory, each with a
fresh one-time passkey enrolment link (``proauth``), and a back-office operator (role
``admin``) with a fresh enrolment link (``operators``).

Idempotent: the professionals are the directory's (``data/directory.csv``); the operator is
created once (found again by e-mail), and each run prints new links (the operator's earlier
unused links stop working, as ``carnet operators invite`` does)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from carnet.config import Settings
from carnet.db import Database
from carnet.operators.service import operators_service
from carnet.proauth.service import proauth_service

DEMO_DOCTOR_RPPS = "10100000017"  # Dr Claire Morel, general practitioner (profession 10)
DEMO_PHARMACIST_RPPS = "10100000025"  # Julien Lefèvre-Dubois, pharmacist (profession 21)
DEMO_OPERATOR_NAME = "Agent de démonstration"
DEMO_OPERATOR_EMAIL = "agent.demo@carnet-demo.fr"
DEMO_OPERATOR_ROLE = "admin"
PRO_ENROL_PATH = "/pro/enrolement/"


@dataclass(frozen=True)
class Account:
    name: str
    enrol_path: str  # a one-time link's path: /pro/enrolement/… or /gestion/enrolement/…


@dataclass(frozen=True)
class PortalDemo:
    doctor: Account
    pharmacist: Account
    operator: Account | None  # None: the demo operator was disabled in the back office
    operator_email: str
    operator_new: bool


def load_portal_demo(
    database: Database, settings: Settings, now: datetime | None = None
) -> PortalDemo:
    """New enrolment links for the demo doctor, pharmacist and operator (created once)."""
    now = now or datetime.now(UTC)
    with database.session() as session:
        professionals = [
            proauth_service.invite(session, settings, rpps, now, actor="system:demo")
            for rpps in (DEMO_DOCTOR_RPPS, DEMO_PHARMACIST_RPPS)
        ]
        existing = next(
            (o for o in operators_service.list(session) if o.email == DEMO_OPERATOR_EMAIL), None
        )
        if existing is None:
            invitation = operators_service.create(
                session,
                name=DEMO_OPERATOR_NAME,
                email=DEMO_OPERATOR_EMAIL,
                role=DEMO_OPERATOR_ROLE,
                now=now,
            )
        elif not existing.active:
            invitation = None
        else:
            if existing.role != DEMO_OPERATOR_ROLE:
                operators_service.set_role(session, existing.id, DEMO_OPERATOR_ROLE, now)
            invitation = operators_service.invite(session, existing.id, now)
    doctor, pharmacist = (Account(p.display_name, PRO_ENROL_PATH + p.token) for p in professionals)
    return PortalDemo(
        doctor=doctor,
        pharmacist=pharmacist,
        operator=None if invitation is None else Account(invitation.operator.name, invitation.path),
        operator_email=DEMO_OPERATOR_EMAIL,
        operator_new=existing is None,
    )
