"""Professionals' sign-in use cases: enrolment invitations, passkeys, OpenID Connect claims.

Who may sign in is the directory's answer (``directory_service.professional_for_sign_in``): an
active professional of the directory, found by RPPS or by the idNat_PS an identity provider
gives; nobody else, however well they authenticate.

Passkeys (``kit.passkeys``): stateless challenges bound to their purpose — ``pro-enrol:<id>``
(an invitation), ``pro-add:<professional id>`` (a signed-in professional adding a passkey),
``pro-sign-in`` (a discoverable-passkey sign-in), user verification required.

Replay (decision): an accepted sign-in challenge's nonce is recorded in ``pro_used_nonces``
until the challenge expires, so an assertion is accepted at most once whatever the
authenticator does. The sign count is checked too (``webauthn`` refuses a count that does not
grow) but alone it cannot refuse replays: synced passkeys always report 0. Enrolment needs no
nonce record: the invitation is used once (a conditional update), and a credential id is
registered once. The OpenID Connect nonce is recorded the same way until the ID token expires.
Expired nonces are deleted by ``purge_nonces`` (the job ``proauth.purge_nonces``).

Invitation tokens are 32 random bytes shown once (the link); only their SHA-256 is stored.

Audit: ``proauth.invite``, ``proauth.enrol``, ``proauth.sign_in`` (detail: the method; outcome
``failure`` with the reason for refusals, recorded by ``record_refusal`` in a transaction of
its own since the refused one rolls back), ``proauth.passkey_add``, ``proauth.passkey_remove``.
The resource is ``Professional/{id}`` when known.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from carnet.audit import get_audit_service
from carnet.config import Settings
from carnet.directory.schemas import ActingProfessional, ProfessionalRef
from carnet.directory.service import directory_service
from carnet.exceptions import AppError, NotFound
from carnet.kit import passkeys
from carnet.proauth.exceptions import InvitationInvalid, OidcError, SignInRefused
from carnet.proauth.models import ProInvitation, ProPasskey
from carnet.proauth.repository import ProAuthRepository

SIGN_IN_PURPOSE = "pro-sign-in"
LABEL_MAX = 100


def _enrol_purpose(invitation_id: int) -> str:
    return f"pro-enrol:{invitation_id}"


def _add_purpose(professional_id: int) -> str:
    return f"pro-add:{professional_id}"


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _nonce_digest(kind: str, nonce: bytes) -> bytes:
    return hashlib.sha256(kind.encode() + b"\x00" + nonce).digest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SignedInProfessional:
    """Who signed in: what the web session keeps (``web.pro_session.ProSession``)."""

    professional_id: int
    rpps: str  # empty for a professional known by another idNat_PS only
    display_name: str
    structure_identifier: str | None


@dataclass(frozen=True)
class Invitation:
    token: str  # shown once: the link's last segment
    professional_id: int
    display_name: str
    expires_at: datetime


@dataclass(frozen=True)
class PasskeyView:
    id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class PscIdentity:
    """What an identity provider with Pro Santé Connect claims says about the professional."""

    subject: str
    idnat_ps: str
    given_name: str | None
    family_name: str | None
    # (codeProfession, codeSavoirFaire) of each exercice.
    exercises: tuple[tuple[str | None, str | None], ...]
    # FINESS / SIRET of the structures of the exercices' activities.
    structures: tuple[str, ...]


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


_STRUCTURE_KEYS = (
    "numeroFinessSite",
    "numeroFinessEtablissementJuridique",
    "numeroSiretSite",
    "identifiantTechniqueDeLaStructure",
)


def psc_identity(claims: dict[str, Any]) -> PscIdentity:
    """Map Pro Santé Connect claims: ``SubjectNameID`` (else ``preferred_username``) is the
    idNat_PS ("8" + RPPS for RPPS holders: taken as given, never built); ``SubjectRefPro``'s
    exercices give professions, savoir-faire and structures; names from given/family_name."""
    subject = _text(claims.get("sub"))
    idnat = _text(claims.get("SubjectNameID")) or _text(claims.get("preferred_username"))
    if subject is None or idnat is None:
        raise OidcError("the identity provider gave no SubjectNameID / preferred_username")
    exercises: list[tuple[str | None, str | None]] = []
    structures: list[str] = []
    ref_pro = claims.get("SubjectRefPro")
    raw_exercises = ref_pro.get("exercices") if isinstance(ref_pro, dict) else None
    for exercise in raw_exercises if isinstance(raw_exercises, list) else []:
        if not isinstance(exercise, dict):
            continue
        exercises.append(
            (_text(exercise.get("codeProfession")), _text(exercise.get("codeSavoirFaire")))
        )
        activities = exercise.get("activities") or exercise.get("activites") or []
        for activity in activities if isinstance(activities, list) else []:
            if isinstance(activity, dict):
                structures.extend(
                    text for key in _STRUCTURE_KEYS if (text := _text(activity.get(key)))
                )
    return PscIdentity(
        subject=subject,
        idnat_ps=idnat,
        given_name=_text(claims.get("given_name")),
        family_name=_text(claims.get("family_name")),
        exercises=tuple(exercises),
        structures=tuple(dict.fromkeys(structures)),
    )


def _signed_in(professional: ActingProfessional) -> SignedInProfessional:
    return SignedInProfessional(
        professional_id=professional.professional_id,
        rpps=professional.rpps or "",
        display_name=f"{professional.given_name} {professional.family_name}",
        structure_identifier=professional.structure_identifier,
    )


def _audit(
    session: Session,
    action: str,
    professional_id: int | None,
    *,
    actor: str | None = None,
    outcome: str = "success",
    detail: str | None = None,
) -> None:
    get_audit_service().record(
        session,
        actor=actor or (f"pro:{professional_id}" if professional_id else "pro:unknown"),
        action=action,
        resource=f"Professional/{professional_id}" if professional_id else None,
        outcome=outcome,
        detail=detail,
    )


class ProAuthService:
    # -- invitations -----------------------------------------------------------------------------

    def invite(
        self, session: Session, settings: Settings, rpps: str, now: datetime, *, actor: str = "cli"
    ) -> Invitation:
        """A one-time enrolment link's token for the active professional with this RPPS."""
        try:
            ref = ProfessionalRef(rpps=rpps)
        except ValueError:
            raise AppError(
                "rpps: expected 11 digits", code="invalid_rpps", status_code=422
            ) from None
        try:
            professional = directory_service.professional_for_sign_in(session, ref)
        except AppError:
            raise NotFound(
                f"no active professional with RPPS {ref.rpps} in the directory",
                code="professional_not_found",
            ) from None
        token = secrets.token_urlsafe(32)
        expires_at = now + timedelta(hours=settings.pro_invite_ttl_hours)
        ProAuthRepository(session).add_invitation(
            ProInvitation(
                professional_id=professional.professional_id,
                rpps=professional.rpps or "",
                token_hash=_token_hash(token),
                created_at=now,
                expires_at=expires_at,
            )
        )
        _audit(session, "proauth.invite", professional.professional_id, actor=actor)
        return Invitation(
            token, professional.professional_id, _signed_in(professional).display_name, expires_at
        )

    def _valid_invitation(
        self, session: Session, token: str, now: datetime
    ) -> tuple[ProInvitation, ActingProfessional]:
        invitation = ProAuthRepository(session).invitation_by_hash(_token_hash(token))
        if invitation is None:
            raise InvitationInvalid("this enrolment link is unknown")
        if invitation.used_at is not None:
            raise InvitationInvalid("this enrolment link was already used")
        if _aware(invitation.expires_at) <= now:
            raise InvitationInvalid("this enrolment link has expired")
        try:
            professional = directory_service.professional_for_sign_in(
                session, ProfessionalRef(rpps=invitation.rpps)
            )
        except AppError:
            raise InvitationInvalid("the professional is no longer active") from None
        return invitation, professional

    def invitation_holder(self, session: Session, token: str, now: datetime) -> str:
        """The display name of the professional a valid invitation is for."""
        return _signed_in(self._valid_invitation(session, token, now)[1]).display_name

    def enrolment_options(
        self, session: Session, settings: Settings, token: str, now: datetime
    ) -> dict[str, Any]:
        invitation, professional = self._valid_invitation(session, token, now)
        return self._registration_options(
            session, settings, professional, _enrol_purpose(invitation.id), now
        )

    def enrol(
        self,
        session: Session,
        settings: Settings,
        token: str,
        credential: dict[str, Any],
        label: str,
        now: datetime,
    ) -> SignedInProfessional:
        """Register the passkey created on the invitation's page, use the invitation, sign in."""
        invitation, professional = self._valid_invitation(session, token, now)
        self._register(
            session, settings, professional, _enrol_purpose(invitation.id), credential, label, now
        )
        if not ProAuthRepository(session).use_invitation(invitation.id, now):
            raise InvitationInvalid("this enrolment link was already used")
        _audit(session, "proauth.enrol", professional.professional_id)
        return _signed_in(professional)

    # -- passkeys of a signed-in professional --------------------------------------------------

    def _registration_options(
        self,
        session: Session,
        settings: Settings,
        professional: ActingProfessional,
        purpose: str,
        now: datetime,
    ) -> dict[str, Any]:
        existing = ProAuthRepository(session).passkeys_of(professional.professional_id)
        return passkeys.registration_options(
            settings,
            passkeys.new_challenge(settings, purpose, now),
            f"{professional.given_name} {professional.family_name}",
            [p.credential_id for p in existing],
        )

    def _register(
        self,
        session: Session,
        settings: Settings,
        professional: ActingProfessional,
        purpose: str,
        credential: dict[str, Any],
        label: str,
        now: datetime,
    ) -> ProPasskey:
        challenge = passkeys.challenge_of(credential)
        passkeys.check_challenge(settings, purpose, challenge, now)
        registered = passkeys.verify_registration(settings, credential, challenge)
        repo = ProAuthRepository(session)
        if repo.passkey_by_credential(registered.credential_id) is not None:
            raise passkeys.PasskeyRefused("this passkey is already registered")
        passkey = ProPasskey(
            professional_id=professional.professional_id,
            credential_id=registered.credential_id,
            public_key=registered.public_key,
            sign_count=registered.sign_count,
            label=(label.strip() or "Clé d’accès")[:LABEL_MAX],
            created_at=now,
        )
        repo.add_passkey(passkey)
        return passkey

    def _active(self, session: Session, professional_id: int) -> ActingProfessional:
        known = directory_service.professional_summary(session, professional_id)
        if known is None:
            raise SignInRefused("this professional is not in the directory")
        try:
            return directory_service.professional_for_sign_in(
                session, ProfessionalRef(idnat_ps=known.idnat_ps)
            )
        except AppError:
            raise SignInRefused("this professional is no longer active in the directory") from None

    def add_passkey_options(
        self, session: Session, settings: Settings, professional_id: int, now: datetime
    ) -> dict[str, Any]:
        professional = self._active(session, professional_id)
        return self._registration_options(
            session, settings, professional, _add_purpose(professional_id), now
        )

    def add_passkey(
        self,
        session: Session,
        settings: Settings,
        professional_id: int,
        credential: dict[str, Any],
        label: str,
        now: datetime,
    ) -> None:
        professional = self._active(session, professional_id)
        passkey = self._register(
            session, settings, professional, _add_purpose(professional_id), credential, label, now
        )
        _audit(session, "proauth.passkey_add", professional_id, detail=f"passkey {passkey.id}")

    def passkeys_of(self, session: Session, professional_id: int) -> list[PasskeyView]:
        return [
            PasskeyView(
                p.id, p.label, _aware(p.created_at), p.last_used_at and _aware(p.last_used_at)
            )
            for p in ProAuthRepository(session).passkeys_of(professional_id)
        ]

    def remove_passkey(self, session: Session, professional_id: int, passkey_id: int) -> None:
        if not ProAuthRepository(session).remove_passkey(professional_id, passkey_id):
            raise NotFound("no such passkey", code="passkey_not_found")
        _audit(session, "proauth.passkey_remove", professional_id, detail=f"passkey {passkey_id}")

    # -- sign-in -------------------------------------------------------------------------------

    def sign_in_options(self, settings: Settings, now: datetime) -> dict[str, Any]:
        """Options for a discoverable passkey (no account named), user verification."""
        return passkeys.authentication_options(
            settings, passkeys.new_challenge(settings, SIGN_IN_PURPOSE, now)
        )

    def passkey_sign_in(
        self, session: Session, settings: Settings, credential: dict[str, Any], now: datetime
    ) -> SignedInProfessional:
        challenge = passkeys.challenge_of(credential)
        nonce = passkeys.check_challenge(settings, SIGN_IN_PURPOSE, challenge, now)
        repo = ProAuthRepository(session)
        passkey = repo.passkey_by_credential(passkeys.credential_id_of(credential))
        if passkey is None:
            raise passkeys.PasskeyRefused("this passkey is not registered for a professional")
        passkey.sign_count = passkeys.verify_assertion(
            settings, credential, challenge, passkey.public_key, passkey.sign_count
        )
        expires = datetime.fromtimestamp(
            int.from_bytes(challenge[passkeys.NONCE_BYTES : passkeys.NONCE_BYTES + 4], "big"), UTC
        )
        if not repo.use_nonce(_nonce_digest("passkey", nonce), expires):
            raise SignInRefused("this passkey answer was already used")
        professional = self._active(session, passkey.professional_id)
        passkey.last_used_at = now
        session.flush()
        _audit(session, "proauth.sign_in", professional.professional_id, detail="passkey")
        return _signed_in(professional)

    def oidc_sign_in(
        self, session: Session, claims: dict[str, Any], now: datetime
    ) -> SignedInProfessional:
        """The professional the identity provider's (verified) claims name."""
        identity = psc_identity(claims)
        nonce = claims.get("nonce")
        expires = claims.get("exp")
        if isinstance(nonce, str) and isinstance(expires, int):
            recorded = ProAuthRepository(session).use_nonce(
                _nonce_digest("oidc", nonce.encode()), datetime.fromtimestamp(expires, UTC)
            )
            if not recorded:
                raise SignInRefused("this identity provider answer was already used")
        try:
            ref = ProfessionalRef(idnat_ps=identity.idnat_ps)
        except ValueError:
            raise SignInRefused(f"unusable idNat_PS {identity.idnat_ps!r}") from None
        try:
            professional = directory_service.professional_for_sign_in(session, ref)
        except AppError:
            raise SignInRefused(
                f"idNat_PS {identity.idnat_ps} is not an active professional of the directory"
            ) from None
        _audit(
            session,
            "proauth.sign_in",
            professional.professional_id,
            detail=f"oidc sub={identity.subject}"[:500],
        )
        return _signed_in(professional)

    def purge_nonces(self, session: Session, now: datetime) -> int:
        """Delete the used nonces whose challenge or ID token has expired (a replay of those is
        refused by the expiry check already): the ``proauth.purge_nonces`` job."""
        return ProAuthRepository(session).purge_nonces(now)

    def record_refusal(self, session: Session, method: str, reason: str) -> None:
        """Audit a refused sign-in (its own transaction: the refused one rolled back)."""
        _audit(
            session, "proauth.sign_in", None, actor="pro:unknown", outcome="failure",
            detail=f"{method}: {reason}"[:500],
        )  # fmt: skip


proauth_service = ProAuthService()
