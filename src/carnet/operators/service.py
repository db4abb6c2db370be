"""Use cases of the back-office operators: accounts and roles, enrolment links, passkey sign-in.

An operator is created with a role (``roles.py`` says what each role may do) and receives a
one-time enrolment link (``/gestion/enrolement/<token>``; only the token's SHA-256 is stored, the
link expires after ``INVITATION_TTL``). Opening it registers a passkey (user verification
required); from then on the operator signs in with it. Sign-in challenges are stateless and
bound to their purpose (``carnet.kit.passkeys``); the nonce of each accepted challenge is
recorded, so a replayed assertion is refused (``purge_nonces``, the job
``operators.purge_nonces``, deletes them once their challenge has expired).

Every change is audited with the acting operator (``operator:<id>``) or the platform (the CLI).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from carnet.audit import get_audit_service
from carnet.auth.principal import SYSTEM, Principal
from carnet.config import Settings
from carnet.exceptions import ValidationFailed
from carnet.kit import passkeys
from carnet.kit.passkeys import PasskeyChallengeInvalid, PasskeyRefused
from carnet.mail.service import validate_address
from carnet.operators import roles
from carnet.operators.exceptions import (
    EmailTaken,
    InvitationInvalid,
    OperatorNotFound,
    SignInRefused,
)
from carnet.operators.models import Operator, OperatorInvitation, OperatorPasskey
from carnet.operators.repository import OperatorRepository
from carnet.operators.schemas import Invitation, OperatorOut

INVITATION_TTL = timedelta(days=3)
SIGN_IN_PURPOSE = "operator-sign-in"
AUDIT_PURPOSE = "ADMIN"


def operator_principal(operator_id: int) -> Principal:
    """How the services see an operator acting in the back office (audited ``operator:<id>``)."""
    return Principal(client_id="backoffice", scopes=frozenset(), operator_id=operator_id)


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _enrol_purpose(invitation_id: int) -> str:
    return f"operator-enrol:{invitation_id}"


def _out(operator: Operator, passkey_count: int = 0) -> OperatorOut:
    return OperatorOut(
        id=operator.id,
        name=operator.name,
        email=operator.email,
        role=operator.role,
        active=operator.active,
        created_at=operator.created_at,
        passkeys=passkey_count,
    )


def _check_role(role: str) -> str:
    if role not in roles.ROLES:
        raise ValidationFailed(
            f"role: one of {', '.join(roles.ROLES)}",
            code="invalid_role",
            details=[{"field": "role", "message": "unknown role"}],
        )
    return role


def _audit(
    session: Session,
    actor: Principal,
    action: str,
    operator_id: int | None,
    *,
    outcome: str = "success",
    detail: str | None = None,
) -> None:
    get_audit_service().record(
        session,
        actor=actor.actor,
        action=action,
        resource=f"Operator/{operator_id}" if operator_id is not None else None,
        purpose=AUDIT_PURPOSE,
        outcome=outcome,
        detail=detail,
    )


class OperatorsService:
    # == accounts ================================================================================

    def create(
        self,
        session: Session,
        *,
        name: str,
        email: str,
        role: str,
        now: datetime,
        actor: Principal = SYSTEM,
    ) -> Invitation:
        """A new operator and their first enrolment link."""
        name = " ".join(name.split())
        if not name or len(name) > 200:
            raise ValidationFailed(
                "name: 1 to 200 characters",
                code="invalid_name",
                details=[{"field": "name", "message": "1 to 200 characters"}],
            )
        address = validate_address(email.strip(), field="email").lower()
        _check_role(role)
        repo = OperatorRepository(session)
        if repo.by_email(address) is not None:
            raise EmailTaken("an operator already has this e-mail address")
        operator = repo.add(
            Operator(name=name, email=address, role=role, active=True, created_at=now)
        )
        invitation = self._new_invitation(repo, operator, now)
        _audit(session, actor, "operator.create", operator.id, detail=f"role={role}")
        return invitation

    def list(self, session: Session) -> list[OperatorOut]:
        repo = OperatorRepository(session)
        return [_out(o, len(repo.passkeys_of(o.id))) for o in repo.all()]

    def get(self, session: Session, operator_id: int) -> OperatorOut:
        repo = OperatorRepository(session)
        operator = repo.get(operator_id)
        if operator is None:
            raise OperatorNotFound("no such operator")
        return _out(operator, len(repo.passkeys_of(operator.id)))

    def current(self, session: Session, operator_id: int) -> OperatorOut | None:
        """The operator of a back-office session if they may still sign in (active), else None:
        a disabled operator or a changed role takes effect on their next page."""
        operator = OperatorRepository(session).get(operator_id)
        if operator is None or not operator.active:
            return None
        return _out(operator)

    def _operator(
        self, repo: OperatorRepository, operator_id: int, actor: Principal | None = None
    ) -> Operator:
        """The operator to change; never the acting operator themselves (no one locks
        themselves out or raises their own role)."""
        if actor is not None and actor.operator_id == operator_id:
            raise ValidationFailed(
                "an operator cannot change or disable their own account", code="operator_is_you"
            )
        operator = repo.get(operator_id)
        if operator is None:
            raise OperatorNotFound("no such operator")
        return operator

    def set_role(
        self,
        session: Session,
        operator_id: int,
        role: str,
        now: datetime,
        actor: Principal = SYSTEM,
    ) -> OperatorOut:
        _check_role(role)
        repo = OperatorRepository(session)
        operator = self._operator(repo, operator_id, actor)
        previous = operator.role
        operator.role = role
        session.flush()
        _audit(session, actor, "operator.role", operator.id, detail=f"{previous} -> {role}")
        return _out(operator, len(repo.passkeys_of(operator.id)))

    def disable(
        self, session: Session, operator_id: int, now: datetime, actor: Principal = SYSTEM
    ) -> OperatorOut:
        """The operator can no longer sign in; an open session ends at its next page."""
        repo = OperatorRepository(session)
        operator = self._operator(repo, operator_id, actor)
        if operator.active:
            operator.active = False
            operator.disabled_at = now
            repo.close_invitations(operator.id, now)
            _audit(session, actor, "operator.disable", operator.id)
        return _out(operator, len(repo.passkeys_of(operator.id)))

    # == enrolment ===============================================================================

    def invite(
        self, session: Session, operator_id: int, now: datetime, actor: Principal = SYSTEM
    ) -> Invitation:
        """A new enrolment link (the previous unused ones stop working)."""
        repo = OperatorRepository(session)
        operator = self._operator(repo, operator_id)
        if not operator.active:
            raise ValidationFailed(
                "this operator is disabled: no enrolment link", code="operator_disabled"
            )
        repo.close_invitations(operator.id, now)
        invitation = self._new_invitation(repo, operator, now)
        _audit(session, actor, "operator.invite", operator.id)
        return invitation

    def _new_invitation(
        self, repo: OperatorRepository, operator: Operator, now: datetime
    ) -> Invitation:
        token = secrets.token_urlsafe(32)
        expires_at = now + INVITATION_TTL
        repo.add_invitation(
            OperatorInvitation(
                operator_id=operator.id,
                token_hash=_token_hash(token),
                created_at=now,
                expires_at=expires_at,
            )
        )
        return Invitation(operator=_out(operator), token=token, expires_at=expires_at)

    def _open_invitation(
        self, repo: OperatorRepository, token: str, now: datetime
    ) -> tuple[OperatorInvitation, Operator]:
        invitation = repo.invitation(_token_hash(token)) if 0 < len(token) <= 100 else None
        operator = repo.get(invitation.operator_id) if invitation is not None else None
        if (
            invitation is None
            or operator is None
            or invitation.used_at is not None
            or invitation.expires_at <= now
            or not operator.active
        ):
            raise InvitationInvalid("this enrolment link is unknown, used or expired")
        return invitation, operator

    def invitation(self, session: Session, token: str, now: datetime) -> OperatorOut:
        """The operator an enrolment link is for (``InvitationInvalid`` otherwise)."""
        _, operator = self._open_invitation(OperatorRepository(session), token, now)
        return _out(operator)

    def enrolment_options(
        self, session: Session, settings: Settings, token: str, now: datetime
    ) -> dict[str, Any]:
        repo = OperatorRepository(session)
        invitation, operator = self._open_invitation(repo, token, now)
        challenge = passkeys.new_challenge(settings, _enrol_purpose(invitation.id), now)
        return passkeys.registration_options(
            settings,
            challenge,
            operator.email,
            [p.credential_id for p in repo.passkeys_of(operator.id)],
        )

    def enrol(
        self,
        session: Session,
        settings: Settings,
        token: str,
        credential: dict[str, Any],
        now: datetime,
    ) -> OperatorOut:
        """Register the passkey an enrolment link's ceremony created; the link is then used."""
        repo = OperatorRepository(session)
        invitation, operator = self._open_invitation(repo, token, now)
        challenge = passkeys.challenge_of(credential)
        passkeys.check_challenge(settings, _enrol_purpose(invitation.id), challenge, now)
        registered = passkeys.verify_registration(settings, credential, challenge)
        if repo.passkey(registered.credential_id) is not None:
            raise PasskeyRefused("this passkey is already registered")
        repo.add_passkey(
            OperatorPasskey(
                operator_id=operator.id,
                credential_id=registered.credential_id,
                public_key=registered.public_key,
                sign_count=registered.sign_count,
                created_at=now,
            )
        )
        invitation.used_at = now
        session.flush()
        _audit(session, operator_principal(operator.id), "operator.enrol", operator.id)
        return _out(operator, len(repo.passkeys_of(operator.id)))

    # == sign-in =================================================================================

    def sign_in_options(self, settings: Settings, now: datetime) -> dict[str, Any]:
        challenge = passkeys.new_challenge(settings, SIGN_IN_PURPOSE, now)
        return passkeys.authentication_options(settings, challenge)

    def sign_in(
        self, session: Session, settings: Settings, credential: dict[str, Any], now: datetime
    ) -> OperatorOut:
        """An assertion of a registered passkey of an active operator, on a fresh challenge
        issued for this sign-in and never used before."""
        repo = OperatorRepository(session)
        challenge = passkeys.challenge_of(credential)
        try:
            nonce = passkeys.check_challenge(settings, SIGN_IN_PURPOSE, challenge, now)
        except PasskeyChallengeInvalid as exc:
            raise SignInRefused(exc.message) from exc
        passkey = repo.passkey(passkeys.credential_id_of(credential))
        operator = repo.get(passkey.operator_id) if passkey is not None else None
        if passkey is None or operator is None:
            raise SignInRefused("this passkey belongs to no operator")
        if not operator.active:
            raise SignInRefused("this operator is disabled")
        try:
            sign_count = passkeys.verify_assertion(
                settings, credential, challenge, passkey.public_key, passkey.sign_count
            )
        except PasskeyRefused as exc:
            raise SignInRefused(exc.message) from exc
        expires = now + timedelta(seconds=settings.card_webauthn_challenge_ttl_seconds + 60)
        if not repo.use_nonce(nonce, expires):
            raise SignInRefused("this sign-in was already used: sign in again")
        passkey.sign_count = sign_count
        passkey.last_used_at = now
        session.flush()
        _audit(session, operator_principal(operator.id), "operator.sign_in", operator.id)
        return _out(operator)

    def sign_out(self, session: Session, operator_id: int) -> None:
        _audit(session, operator_principal(operator_id), "operator.sign_out", operator_id)

    def purge_nonces(self, session: Session, now: datetime) -> int:
        """Delete the used sign-in nonces whose challenge has expired (a replay of those is
        refused by the challenge check already): the ``operators.purge_nonces`` job."""
        return OperatorRepository(session).purge_nonces(now)


operators_service = OperatorsService()
