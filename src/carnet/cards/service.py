"""Use cases of the digital card: activation, code verification, holder session, lifecycle,
delegations (design: ``docs/card.md``).

Two secrets never exist in clear on the platform: the secret code (only its PIN key, derived on
the device, is stored, encrypted) and the e-mail one-time code (stored as a keyed HMAC).

Failures that must outlive the request: a wrong secret code and a wrong e-mail code are counted
in a short transaction of their own (``_commit_apart``), committed before the error is raised, so
the caller's unit of work can roll back everything else and the count still stands.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from functools import lru_cache
from typing import Any, Literal, NamedTuple, Protocol, TypeVar
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from carnet.audit import get_audit_service
from carnet.auth.principal import SYSTEM, Principal
from carnet.cards import schemas
from carnet.cards.exceptions import (
    ActivationExpired,
    ActivationNotFound,
    ActivationWrongState,
    CardLocked,
    CardRevoked,
    CardSuspended,
    DelegationExpired,
    DelegationNotYours,
    DelegationRevoked,
    IdentityNotRecognised,
    OtpExpired,
    QrExpired,
    QrInvalidSignature,
    QrLifetimeTooLong,
    QrMalformed,
    QrNotYetValid,
    QrReplayed,
    QrUnknownCard,
    QrWrongPurpose,
    TooManyActivations,
    WrongOtp,
    WrongSecretCode,
)
from carnet.cards.models import Card, CardAccount, CardActivation, Delegation, DeviceCredential
from carnet.cards.repository import CardRepository
from carnet.config import Settings, get_settings
from carnet.exceptions import AppError, Conflict, NotFound, ValidationFailed
from carnet.identity import service as identity_service
from carnet.identity.schemas import InsIdentity
from carnet.kit import card_qr, passkeys
from carnet.kit.daily_counts import DailyCounts
from carnet.kit.passkeys import PasskeyRefused
from carnet.mail.service import MailService, validate_address
from carnet.rights.service import Household, rights_service

T = TypeVar("T")

PARIS = ZoneInfo("Europe/Paris")
# Phones' clocks drift: a code issued a little "in the future" is still accepted.
CLOCK_SKEW_SECONDS = 30
OTP_DIGITS = 6
# More activations than this per person and hour look like someone mail-bombing the person.
MAX_ACTIVATIONS_PER_HOUR = 5
MAX_DELEGATION = timedelta(days=366)
CARD_NUMBER_MIN = 2**24  # eight digits at least: easier to read out on the phone
CARD_NUMBER_LIMIT = 2**31
PIN_KEY_BYTES = 32
KEY_ID_BYTES = 8
# 1 in N verifications also deletes the card's expired nonces (``carnet cards purge-nonces``
# clears everything else).
NONCE_PURGE_ONE_IN = 32

# Who acts before the person has proved who they are (start of an activation, lost phone).
ACTIVATION_ACTOR = Principal(client_id="card-activation", scopes=frozenset())

Quality = Literal["holder", "dependant"]


class Beneficiary(NamedTuple):
    person_id: int
    quality: Quality


@dataclass(frozen=True, slots=True)
class PresentedCard:
    """A card code that passed every check of ``verify_card_code``.

    ``card_id``/``card_number`` name the card that signed the code (the delegate's own card in
    a delegated presentation). ``holder_person_id`` is the insured person whose card is used (the
    grantor of the delegation, if any); ``presenter_person_id`` is who showed the code (the
    delegate, or the holder). ``beneficiaries`` are the people the professional may choose from:
    the holder and their dependants, or only the delegated beneficiary.
    """

    card_id: int
    card_number: int
    holder_person_id: int
    presenter_person_id: int
    delegation_id: int | None
    beneficiaries: tuple[Beneficiary, ...]
    purpose: int
    device_kind: str
    # A normal presentation: the holder's coverage that day and their dependants, with names
    # (``rights_service.household_at``), read once here for the caller (None when delegated).
    household: Household | None = None


# -- secrets --------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _derived_key(secret_key: str, label: bytes) -> bytes:
    """A key for one purpose, derived from the platform secret (distinct label per purpose)."""
    return hashlib.sha256(label + b"\x00" + secret_key.encode()).digest()


def _pin_aad(card_number: int) -> bytes:
    # Binds the ciphertext to its card: a PIN key copied onto another card does not decrypt.
    return b"carnet-card-pin-key:" + card_number.to_bytes(4, "big")


@lru_cache(maxsize=8)
def _pin_aead(secret_key: str) -> AESGCM:
    return AESGCM(_derived_key(secret_key, b"card-pin-key"))


def encrypt_pin_key(pin_key: bytes, card_number: int, secret_key: str) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + _pin_aead(secret_key).encrypt(nonce, pin_key, _pin_aad(card_number))


def decrypt_pin_key(blob: bytes, card_number: int, secret_key: str) -> bytes:
    return _pin_aead(secret_key).decrypt(blob[:12], blob[12:], _pin_aad(card_number))


def otp_digest(public_id: str, code: str, secret_key: str) -> bytes:
    key = _derived_key(secret_key, b"card-otp")
    return hmac.new(key, f"{public_id}:{code}".encode(), hashlib.sha256).digest()


def new_otp() -> str:
    return f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"


@lru_cache(maxsize=65536)
def _spki_key(der: bytes) -> ec.EllipticCurvePublicKey:
    # Parsing a key costs about as much as verifying with it: keep the hot cards' keys parsed.
    key = serialization.load_der_public_key(der)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an EC public key")
    return key


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_key_from_jwk(jwk: dict[str, Any]) -> bytes:
    """The SubjectPublicKeyInfo DER of a public P-256 JWK (the point is checked on the curve)."""
    invalid = "public_key: expected a public JWK with kty EC, crv P-256, x and y"
    if "d" in jwk:
        raise ValidationFailed(
            "public_key: this JWK holds a private key: send the public key only",
            code="invalid_public_key",
        )
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValidationFailed(invalid, code="invalid_public_key")
    try:
        x = _b64url_decode(str(jwk["x"]))
        y = _b64url_decode(str(jwk["y"]))
        if len(x) != 32 or len(y) != 32:
            raise ValueError("coordinates must be 32 bytes")
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        )
        key = numbers.public_key()
    except (KeyError, ValueError, binascii.Error) as exc:
        raise ValidationFailed(f"{invalid} ({exc})", code="invalid_public_key") from exc
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pin_key_from_text(value: str) -> bytes:
    try:
        raw = base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error) as exc:
        raise ValidationFailed("pin_key: not base64", code="invalid_pin_key") from exc
    if len(raw) != PIN_KEY_BYTES:
        raise ValidationFailed(
            f"pin_key: expected {PIN_KEY_BYTES} bytes, got {len(raw)}", code="invalid_pin_key"
        )
    return raw


# -- the separate transaction for failures that must be remembered ------------------------------


def _commit_apart(session: Session, work: Callable[[Session], T]) -> T:
    """Run ``work`` in a transaction of its own on the same database and commit it at once.

    Used to count wrong codes: the caller's transaction is about to be rolled back by the error
    that follows, but the count must stand. On SQLite (one writer at a time) the caller must not
    have written anything yet, or this would wait for its own caller's lock: every verification
    path runs its checks before writing, and a violation fails loudly instead of hanging.
    """
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name == "sqlite" and session.in_transaction():
        dbapi = session.connection().connection.dbapi_connection
        if getattr(dbapi, "in_transaction", False):
            raise RuntimeError(
                "cards: a wrong code must be counted in its own transaction, but the caller's "
                "SQLite transaction already holds the write lock: verify the card code before "
                "writing anything"
            )
    with Session(engine) as own, own.begin():
        return work(own)


# -- identity proofing ----------------------------------------------------------------------------


class ProofingOutcome(Enum):
    PROVED = "proved"
    # A step that needs time (an operator reviewing an ID document) leaves the activation at
    # ``email_confirmed`` until its verdict moves it on.
    PENDING = "pending"
    REFUSED = "refused"


@dataclass(frozen=True)
class ProofingEvidence:
    """What the activation has established so far about the person."""

    person_id: int
    birth_date_matched: bool
    email_confirmed: bool


class ProofingStep(Protocol):
    """The explicit proofing step of an activation (``email_confirmed → proofed``).

    Today's implementation is satisfied by the birth date matching the register (checked when
    the activation starts) and the e-mail confirmed by a one-time code. Remote identity proofing
    (video of an ID document with MRZ and hologram checks, liveness selfie, face match, operator
    review: domain.md §4.2) is another implementation of this protocol: it would return PENDING
    until the provider's verdict arrives, then an endpoint receiving that verdict moves the
    activation to ``proofed`` with its own ``method``. Nothing else in the flow changes.
    """

    method: str

    def prove(self, evidence: ProofingEvidence, now: datetime) -> ProofingOutcome: ...


class EmailAndBirthDateProofing:
    method = "email+birth_date"

    def prove(self, evidence: ProofingEvidence, now: datetime) -> ProofingOutcome:
        if evidence.birth_date_matched and evidence.email_confirmed:
            return ProofingOutcome.PROVED
        return ProofingOutcome.REFUSED


# -- helpers --------------------------------------------------------------------------------------


def _audit(
    session: Session,
    actor: str,
    action: str,
    person_id: int | None,
    *,
    outcome: str = "success",
    detail: str | None = None,
    resource: str | None = None,
) -> None:
    get_audit_service().record(
        session,
        actor=actor,
        action=action,
        person_id=person_id,
        resource=resource,
        purpose="CARD",
        outcome=outcome,
        detail=detail,
    )


def care_date(now: datetime) -> date:
    """The calendar date in France at ``now`` (rights and attachments are by date)."""
    return now.astimezone(PARIS).date()


def _person_name(identity: InsIdentity) -> schemas.PersonName:
    return schemas.PersonName(
        matricule=identity.ins.matricule,
        kind=identity.ins.kind,
        birth_name=identity.traits.birth_name,
        first_names=identity.traits.first_names,
        used_name=identity.used_name,
        used_first_name=identity.used_first_name,
        sex=identity.traits.sex,
        birth_date=identity.traits.birth_date,
    )


_BIRTH_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _card_status_error(status: str) -> AppError:
    if status == "suspended":
        return CardSuspended(
            "this card is suspended (lost phone?): ask for it to be resumed or activate again"
        )
    if status == "locked":
        return CardLocked(
            "this card is locked after too many wrong secret codes: activate it again"
        )
    return CardRevoked("this card was revoked: activate the card again on your device")


class CardsService:
    def __init__(self, proofing: ProofingStep | None = None) -> None:
        self.proofing: ProofingStep = proofing or EmailAndBirthDateProofing()

    # == verification (the hot path, shared with apcv) ============================================

    def verify_card_code(
        self, session: Session, text: str, now: datetime, purpose: int
    ) -> PresentedCard:
        """Check a card code in the order of docs/card.md and return what it presents.

        Raises the ``carnet.cards.exceptions`` errors. Writes (in the caller's transaction) the
        nonce and, after a right code, the reset of the wrong-code count; a wrong secret code is
        counted in a transaction of its own, committed before ``WrongSecretCode`` is raised.
        Call it before writing anything else in the transaction (see ``_commit_apart``). The
        caller audits the access it makes with the result.
        """
        settings = get_settings()
        try:
            parsed = card_qr.parse(text)
        except card_qr.CardQrError as exc:
            raise QrMalformed(f"the code is malformed: {exc}") from exc
        token = parsed.token
        repo = CardRepository(session)
        # The delegation named by the code, if any, comes with the credential (one statement).
        row = repo.credential_for_key(parsed.key_id, token.delegation_id)
        if row is None:
            raise QrUnknownCard("no card of this platform signed this code")
        if row.card_number != token.card_number:
            raise QrUnknownCard("the card number does not match the device that signed the code")
        if not self._signature_ok(parsed, row.device_kind, bytes(row.public_key), settings):
            raise QrInvalidSignature("the code's signature is not valid (altered code?)")
        if row.device_status != "active":
            raise CardRevoked("this device was replaced: activate the card again")
        if row.card_status != "active":
            raise _card_status_error(row.card_status)

        now_s = int(now.timestamp())
        if token.expires_at <= now_s:
            raise QrExpired("the code has expired: show a new one")
        if token.issued_at > now_s + CLOCK_SKEW_SECONDS:
            raise QrNotYetValid("the code is not valid yet (check the phone's clock)")
        lifetime = token.expires_at - token.issued_at
        if lifetime <= 0:
            raise QrMalformed("the code expires before it was issued")
        if lifetime > settings.card_qr_max_lifetime_seconds:
            raise QrLifetimeTooLong(
                f"a code may be valid for at most {settings.card_qr_max_lifetime_seconds} s"
            )
        if token.purpose != purpose or (
            token.delegation_id is not None and purpose != card_qr.PURPOSE_PRESENTATION
        ):
            raise QrWrongPurpose("this code was made for another use")

        if row.device_kind == "wallet":
            pin_key = decrypt_pin_key(bytes(row.pin_key_enc), row.card_number, settings.secret_key)
            if not card_qr.pin_tag_matches(parsed, pin_key):
                self._count_wrong_code(session, row.card_id, row.person_id, now, settings)
            if row.failed_pin_attempts:
                repo.reset_pin_failures(row.card_id)

        expiry = datetime.fromtimestamp(max(token.expires_at, now_s) + CLOCK_SKEW_SECONDS, UTC)
        if not repo.use_nonce(row.card_id, row.person_id, token.nonce, expiry):
            raise QrReplayed("this code was already used: show a new one")
        if secrets.randbelow(NONCE_PURGE_ONE_IN) == 0:
            repo.purge_card_nonces(row.card_id, now)

        household: Household | None = None
        if token.delegation_id is None:
            holder = int(row.person_id)
            household = rights_service.household_at(session, holder, care_date(now))
            beneficiaries = (
                Beneficiary(holder, "holder"),
                *(Beneficiary(d.person_id, "dependant") for d in household.dependants),
            )
            presenter = holder
        else:
            holder, beneficiary = self._check_delegation(
                session, row, token.delegation_id, int(row.person_id), now
            )
            presenter = int(row.person_id)
            beneficiaries = (beneficiary,)
        return PresentedCard(
            card_id=int(row.card_id),
            card_number=int(row.card_number),
            holder_person_id=holder,
            presenter_person_id=presenter,
            delegation_id=token.delegation_id,
            beneficiaries=beneficiaries,
            purpose=token.purpose,
            device_kind=str(row.device_kind),
            household=household,
        )

    def _signature_ok(
        self, parsed: card_qr.ParsedCardQr, kind: str, public_key: bytes, settings: Settings
    ) -> bool:
        if kind == "wallet":
            try:
                key = _spki_key(public_key)
            except ValueError:
                return False
            return card_qr.verify_signature(parsed, key)
        # A passkey card's codes are signed by the platform after a WebAuthn assertion.
        return card_qr.verify_signature(parsed, platform_qr_key(settings.secret_key).public_key())

    def _count_wrong_code(
        self, session: Session, card_id: int, person_id: int, now: datetime, settings: Settings
    ) -> None:
        maximum = settings.card_pin_max_attempts

        def count(own: Session) -> tuple[int, str] | None:
            result = CardRepository(own).record_pin_failure(card_id, maximum, now)
            if result is not None:
                attempts, status = result
                _audit(
                    own,
                    f"card:{card_id}",
                    "card.pin_failed",
                    person_id,
                    outcome="locked" if status == "locked" else "refused",
                    detail=f"attempt {attempts} of {maximum}",
                    resource=f"Card/{card_id}",
                )
            return result

        result = _commit_apart(session, count)
        if result is None:  # locked, suspended or revoked meanwhile by another request
            raise CardLocked("this card is no longer active")
        attempts, status = result
        left = max(maximum - attempts, 0)
        if status == "locked":
            raise WrongSecretCode(
                "wrong secret code: the card is now locked; activate it again on your device",
                details=[{"message": "card locked", "attempts_left": 0, "card_status": "locked"}],
            )
        raise WrongSecretCode(
            f"wrong secret code: {left} attempt{'s' if left > 1 else ''} left",
            details=[{"message": "wrong secret code", "attempts_left": left}],
        )

    def _check_delegation(
        self,
        session: Session,
        row: Any,
        delegation_id: int,
        presenter: int,
        now: datetime,
    ) -> tuple[int, Beneficiary]:
        """``row``: the credential row, with the delegation's columns (``delegation_*``, NULL
        when no delegation has this id)."""
        if row.delegation_id is None or row.delegation_delegate_person_id != presenter:
            raise DelegationNotYours("this delegation was not granted to this card's holder")
        if row.delegation_revoked_at is not None:
            raise DelegationRevoked("this delegation was revoked by the holder")
        if not row.delegation_starts_at <= now < row.delegation_ends_at:
            raise DelegationExpired("this delegation is not in force now")
        grantor = int(row.delegation_person_id)
        beneficiary = int(row.delegation_beneficiary_person_id)
        if beneficiary == grantor:
            return grantor, Beneficiary(beneficiary, "holder")
        if not rights_service.is_attached(session, beneficiary, grantor, care_date(now)):
            raise DelegationExpired(
                "the beneficiary of this delegation is no longer attached to the holder"
            )
        return grantor, Beneficiary(beneficiary, "dependant")

    # == holder session ==========================================================================

    def open_session(self, session: Session, text: str, now: datetime) -> PresentedCard:
        """A code with purpose 2: the holder signs in (the caller issues the holder token)."""
        presented = self.verify_card_code(session, text, now, card_qr.PURPOSE_SESSION)
        _audit(
            session,
            f"holder:{presented.holder_person_id}",
            "card.session",
            presented.holder_person_id,
            resource=f"Card/{presented.card_id}",
        )
        return presented

    # == activation ===============================================================================

    def start_activation(
        self, session: Session, settings: Settings, body: schemas.IdentityClaim, now: datetime
    ) -> schemas.ActivationOut:
        email = validate_address(body.email.strip(), field="email")
        person_id = self._recognise(session, body)
        activation, otp = self._new_activation(session, settings, person_id, email, "activate", now)
        _send_code(
            settings,
            email,
            otp,
            subject="Votre code d'activation de carte Vitale numérique",
            purpose_text="activer votre carte Vitale numérique",
        )
        _audit(
            session,
            ACTIVATION_ACTOR.actor,
            "card.activation.start",
            person_id,
            detail=f"activation={activation.id} code sent by e-mail",
            resource=f"CardActivation/{activation.id}",
        )
        return _activation_out(activation, now)

    def _recognise(self, session: Session, body: schemas.IdentityClaim) -> int:
        """The person named by the NIR if the birth date matches; a generic refusal otherwise."""
        if not _BIRTH_DATE.fullmatch(body.birth_date.strip()):
            raise ValidationFailed(
                "birth_date: expected YYYY-MM-DD",
                code="invalid_date",
                details=[{"field": "birth_date", "message": "expected YYYY-MM-DD"}],
            )
        entry = identity_service.find_entry_by_identifier(
            session, ACTIVATION_ACTOR, body.nir, kind=None, purpose="CARD", field="nir"
        )
        if (
            entry is None
            or entry.identity.traits.birth_date != body.birth_date.strip()
            or entry.identity.death_date is not None
        ):
            raise IdentityNotRecognised(
                "these details do not match an insured person: check the social-security "
                "number and the date of birth"
            )
        return entry.person_id

    def _new_activation(
        self,
        session: Session,
        settings: Settings,
        person_id: int,
        email: str,
        purpose: str,
        now: datetime,
    ) -> tuple[CardActivation, str]:
        """A new activation (or lost-phone request) and its e-mail code, kept only hashed."""
        repo = CardRepository(session)
        if repo.count_recent_activations(person_id, now - timedelta(hours=1)) >= (
            MAX_ACTIVATIONS_PER_HOUR
        ):
            raise TooManyActivations(
                "too many requests for this person in the last hour: try again later"
            )
        public_id = secrets.token_urlsafe(18)
        otp = new_otp()
        activation = repo.add_activation(
            CardActivation(
                public_id=public_id,
                person_id=person_id,
                purpose=purpose,
                state="email_sent",
                email=email,
                otp_hash=otp_digest(public_id, otp, settings.secret_key),
                otp_expires_at=now + timedelta(seconds=settings.card_otp_ttl_seconds),
                otp_attempts=0,
                created_at=now,
                expires_at=now + timedelta(seconds=settings.card_activation_ttl_seconds),
            )
        )
        return activation, otp

    def confirm_email(
        self, session: Session, settings: Settings, public_id: str, code: str, now: datetime
    ) -> schemas.ActivationOut:
        """The e-mail code of an activation, then the proofing step."""
        activation = self._check_code(session, settings, public_id, code, "activate", now)
        activation.state = "email_confirmed"
        _audit(
            session,
            ACTIVATION_ACTOR.actor,
            "card.activation.email",
            activation.person_id,
            detail=f"activation={activation.id} e-mail confirmed",
            resource=f"CardActivation/{activation.id}",
        )
        # An activation exists only once the birth date matched the register (``_recognise``).
        outcome = self.proofing.prove(
            ProofingEvidence(activation.person_id, birth_date_matched=True, email_confirmed=True),
            now,
        )
        if outcome is ProofingOutcome.PROVED:
            activation.state = "proofed"
            activation.proofing_method = self.proofing.method
            activation.proofed_at = now
            _audit(
                session,
                ACTIVATION_ACTOR.actor,
                "card.activation.proofed",
                activation.person_id,
                detail=f"activation={activation.id} method={self.proofing.method}",
                resource=f"CardActivation/{activation.id}",
            )
        elif outcome is ProofingOutcome.REFUSED:
            activation.state = "failed"
        session.flush()
        return _activation_out(activation, now)

    def _check_code(
        self,
        session: Session,
        settings: Settings,
        public_id: str,
        code: str,
        purpose: str,
        now: datetime,
    ) -> CardActivation:
        """The activation whose e-mail code this is; a wrong code is counted durably."""
        repo = CardRepository(session)
        activation = repo.activation(public_id)
        if activation is None or activation.purpose != purpose:
            raise ActivationNotFound("no such activation")
        _check_live(activation, now)
        if activation.state != "email_sent":
            raise ActivationWrongState(
                f"the e-mail code was already checked (state {activation.state})"
            )
        if activation.otp_expires_at is None or now >= activation.otp_expires_at:
            raise OtpExpired("the e-mail code has expired: start again")
        expected = activation.otp_hash
        if expected is None or not hmac.compare_digest(
            expected, otp_digest(activation.public_id, code, settings.secret_key)
        ):
            maximum = settings.card_otp_max_attempts
            activation_id, person_id = activation.id, activation.person_id

            def count(own: Session) -> tuple[int, str] | None:
                result = CardRepository(own).record_otp_failure(activation_id, maximum)
                _audit(
                    own,
                    ACTIVATION_ACTOR.actor,
                    "card.activation.otp_failed",
                    person_id,
                    outcome="failed" if result and result[1] == "failed" else "refused",
                    resource=f"CardActivation/{activation_id}",
                )
                return result

            result = _commit_apart(session, count)
            attempts = result[0] if result is not None else maximum
            left = max(maximum - attempts, 0)
            if left == 0:
                raise WrongOtp(
                    "wrong code, and no attempt left: start again",
                    details=[{"message": "activation failed", "attempts_left": 0}],
                )
            raise WrongOtp(
                f"wrong code: {left} attempt{'s' if left > 1 else ''} left",
                details=[{"message": "wrong code", "attempts_left": left}],
            )
        activation.otp_hash = None  # single use
        return activation

    def activation_status(
        self, session: Session, public_id: str, now: datetime
    ) -> schemas.ActivationOut:
        activation = CardRepository(session).activation(public_id)
        if activation is None:
            raise ActivationNotFound("no such activation")
        return _activation_out(activation, now)

    def complete_with_wallet(
        self,
        session: Session,
        settings: Settings,
        public_id: str,
        body: schemas.DeviceRegistration,
        now: datetime,
    ) -> schemas.ActivationCompleted:
        """Bind the wallet's key and PIN key: a new card, the previous one revoked at once."""
        spki = public_key_from_jwk(body.public_key)
        pin_key = pin_key_from_text(body.pin_key)
        activation = self._proofed_activation(session, public_id, now)
        card, device = self._bind_new_card(
            session, settings, activation, "wallet", spki, pin_key, None, now
        )
        return self._completed(session, activation, card, device)

    def _proofed_activation(
        self, session: Session, public_id: str, now: datetime
    ) -> CardActivation:
        activation = CardRepository(session).activation(public_id, for_update=True)
        if activation is None or activation.purpose != "activate":
            raise ActivationNotFound("no such activation")
        _check_live(activation, now)
        if activation.state != "proofed":
            raise ActivationWrongState(
                f"the activation is not ready for a device (state {activation.state}): "
                "confirm the e-mail code first"
            )
        return activation

    def _bind_new_card(
        self,
        session: Session,
        settings: Settings,
        activation: CardActivation,
        kind: str,
        public_key: bytes,
        pin_key: bytes | None,
        webauthn_credential_id: bytes | None,
        now: datetime,
    ) -> tuple[Card, DeviceCredential]:
        repo = CardRepository(session)
        person_id = activation.person_id
        # The account row serialises two activations of one person completing together.
        account = repo.account_for_update(person_id) or repo.add_account(
            CardAccount(person_id=person_id, email=activation.email, created_at=now)
        )
        account.email = activation.email
        account.confirmed_at = now
        account.updated_at = now
        actor = f"holder:{person_id}"
        for old in repo.revoke_cards_of_person(person_id, now):
            _audit(
                session,
                actor,
                "card.revoke",
                person_id,
                detail="re-activation on a new device",
                resource=f"Card/{old}",
            )
        number = _new_card_number(repo)
        card = repo.add_card(
            Card(
                number=number,
                person_id=person_id,
                status="active",
                pin_key_enc=(
                    encrypt_pin_key(pin_key, number, settings.secret_key)
                    if pin_key is not None
                    else None
                ),
                failed_pin_attempts=0,
                created_at=now,
                updated_at=now,
            )
        )
        key_id = secrets.token_bytes(KEY_ID_BYTES)
        while repo.key_id_taken(key_id):  # pragma: no cover - 2**64 space
            key_id = secrets.token_bytes(KEY_ID_BYTES)
        device = repo.add_device(
            DeviceCredential(
                card_id=card.id,
                person_id=person_id,
                kind=kind,
                key_id=key_id,
                public_key=public_key,
                webauthn_credential_id=webauthn_credential_id,
                sign_count=0,
                status="active",
                created_at=now,
            )
        )
        activation.state = "completed"
        activation.completed_at = now
        activation.card_id = card.id
        session.flush()
        _audit(
            session,
            actor,
            "card.activate",
            person_id,
            detail=(
                f"activation={activation.id} device={kind} proofing={activation.proofing_method}"
            ),
            resource=f"Card/{card.id}",
        )
        return card, device

    def _completed(
        self, session: Session, activation: CardActivation, card: Card, device: DeviceCredential
    ) -> schemas.ActivationCompleted:
        holder = _holder_principal(activation.person_id, card.id)
        entry = identity_service.read_entry_by_id(
            session, holder, activation.person_id, purpose="CARD"
        )
        assert entry is not None  # the activation references an existing person
        return schemas.ActivationCompleted(
            card_number=card.number,
            key_id=b64url(device.key_id),
            status=card.status,
            holder=_person_name(entry.identity),
        )

    # == passkeys (web app) =======================================================================

    def passkey_registration_options(
        self, session: Session, settings: Settings, public_id: str, now: datetime
    ) -> dict[str, Any]:
        """WebAuthn creation options for a proofed activation (user verification required)."""
        activation = self._proofed_activation(session, public_id, now)
        challenge = passkeys.new_challenge(settings, f"register:{activation.public_id}", now)
        return passkeys.registration_options(settings, challenge, "Carte Vitale numérique")

    def complete_with_passkey(
        self,
        session: Session,
        settings: Settings,
        public_id: str,
        body: schemas.PasskeyRegistration,
        now: datetime,
    ) -> schemas.ActivationCompleted:
        """Bind a passkey (instead of a wallet key): a new card without a PIN key."""
        activation = self._proofed_activation(session, public_id, now)
        challenge = passkeys.challenge_of(body.credential)
        passkeys.check_challenge(settings, f"register:{activation.public_id}", challenge, now)
        registered = passkeys.verify_registration(settings, body.credential, challenge)
        repo = CardRepository(session)
        if repo.device_by_webauthn_id(registered.credential_id) is not None:
            raise Conflict("this passkey is already registered", code="passkey_already_registered")
        card, device = self._bind_new_card(
            session,
            settings,
            activation,
            "passkey",
            registered.public_key,
            None,
            registered.credential_id,
            now,
        )
        device.sign_count = registered.sign_count
        session.flush()
        return self._completed(session, activation, card, device)

    def complete_with_passkey_signed_in(
        self,
        session: Session,
        settings: Settings,
        public_id: str,
        body: schemas.PasskeyRegistration,
        now: datetime,
    ) -> tuple[schemas.ActivationCompleted, Principal]:
        """``complete_with_passkey`` for the web app, which signs the new holder in at once (the
        registration verified the user as a sign-in's assertion does): audited ``card.session``."""
        completed = self.complete_with_passkey(session, settings, public_id, body, now)
        activation = CardRepository(session).activation(public_id)
        assert activation is not None  # just completed
        assert activation.card_id is not None
        holder = _holder_principal(activation.person_id, activation.card_id)
        _audit(
            session,
            f"holder:{activation.person_id}",
            "card.session",
            activation.person_id,
            detail="web sign-in at activation",
            resource=f"Card/{activation.card_id}",
        )
        return completed, holder

    def passkey_options(self, settings: Settings, now: datetime) -> dict[str, Any]:
        """WebAuthn request options to get a code for a passkey card (discoverable passkey)."""
        return passkeys.authentication_options(
            settings, passkeys.new_challenge(settings, "present", now)
        )

    def passkey_code(
        self,
        session: Session,
        settings: Settings,
        body: schemas.PasskeyCodeRequest,
        now: datetime,
    ) -> schemas.PasskeyCode:
        """A passkey assertion (with user verification) in exchange for a code signed by the
        platform: the passkey card's equivalent of the wallet's offline ``present``."""
        challenge = passkeys.challenge_of(body.credential)
        nonce = passkeys.check_challenge(settings, "present", challenge, now)
        repo = CardRepository(session)
        device = repo.device_by_webauthn_id(passkeys.credential_id_of(body.credential))
        if device is None or device.kind != "passkey":
            raise PasskeyRefused("this passkey is not registered on the platform")
        device.sign_count = passkeys.verify_assertion(
            settings, body.credential, challenge, bytes(device.public_key), device.sign_count
        )
        card = repo.get_card(device.card_id)
        assert card is not None  # a device belongs to a card
        if device.status != "active":
            raise CardRevoked("this passkey was replaced: activate the card again")
        if card.status != "active":
            raise _card_status_error(card.status)
        challenge_expiry = datetime.fromtimestamp(
            int(now.timestamp()) + settings.card_webauthn_challenge_ttl_seconds, UTC
        )
        if not repo.use_nonce(card.id, card.person_id, nonce, challenge_expiry):
            raise Conflict("this assertion was already used", code="passkey_replayed")
        issued = int(now.timestamp())
        token = card_qr.CardToken(
            card_number=card.number,
            issued_at=issued,
            expires_at=issued + settings.card_qr_max_lifetime_seconds,
            nonce=secrets.token_bytes(card_qr.NONCE_BYTES),
            purpose=body.purpose,
            delegation_id=body.delegation_id,
        )
        text = card_qr.encode(token, device.key_id, platform_qr_key(settings.secret_key))
        _audit(
            session,
            f"holder:{card.person_id}",
            "card.passkey.code",
            card.person_id,
            detail=f"purpose={body.purpose} delegation={body.delegation_id}",
            resource=f"Card/{card.id}",
        )
        return schemas.PasskeyCode(
            code=text, expires_at=datetime.fromtimestamp(token.expires_at, UTC)
        )

    def signed_in_presentation_code(
        self, session: Session, settings: Settings, principal: Principal, now: datetime
    ) -> schemas.PasskeyCode:
        """A presentation code (purpose 1) for a holder signed in to the web app with their
        passkey card: the web app's card refreshes itself without a new ceremony.

        The sign-in was a passkey assertion with user verification; this code is signed by the
        platform like ``passkey_code``'s. Only for a passkey card that is still the holder's and
        active, with its passkey still active.
        """
        card = self.holder_card(session, principal)
        repo = CardRepository(session)
        device = next(
            (
                d
                for d in repo.devices_of_card(card.id)
                if d.kind == "passkey" and d.status == "active"
            ),
            None,
        )
        if device is None:
            raise CardRevoked("this card has no active passkey: activate the card again")
        issued = int(now.timestamp())
        token = card_qr.CardToken(
            card_number=card.number,
            issued_at=issued,
            expires_at=issued + settings.card_qr_max_lifetime_seconds,
            nonce=secrets.token_bytes(card_qr.NONCE_BYTES),
            purpose=card_qr.PURPOSE_PRESENTATION,
        )
        text = card_qr.encode(token, device.key_id, platform_qr_key(settings.secret_key))
        _audit(
            session,
            principal.actor,
            "card.passkey.code",
            card.person_id,
            detail="purpose=1 web session",
            resource=f"Card/{card.id}",
        )
        return schemas.PasskeyCode(
            code=text, expires_at=datetime.fromtimestamp(token.expires_at, UTC)
        )

    # == lost phone (public) ======================================================================

    def start_lost_phone(
        self, session: Session, settings: Settings, body: schemas.IdentityClaim, now: datetime
    ) -> schemas.ActivationOut:
        """Someone who lost their phone: the e-mail of their account receives a code."""
        email = validate_address(body.email.strip(), field="email")
        person_id = self._recognise(session, body)
        repo = CardRepository(session)
        account = repo.account(person_id)
        if account is None or account.email.lower() != email.lower():
            raise IdentityNotRecognised(
                "these details do not match an insured person with a card: check the "
                "social-security number, the date of birth and the e-mail of your account"
            )
        activation, otp = self._new_activation(
            session, settings, person_id, account.email, "suspend", now
        )
        _send_code(
            settings,
            account.email,
            otp,
            subject="Suspension de votre carte Vitale numérique",
            purpose_text="suspendre votre carte Vitale numérique (téléphone perdu)",
        )
        _audit(
            session,
            ACTIVATION_ACTOR.actor,
            "card.lost.start",
            person_id,
            detail=f"request={activation.id} code sent by e-mail",
            resource=f"CardActivation/{activation.id}",
        )
        return _activation_out(activation, now)

    def confirm_lost_phone(
        self, session: Session, settings: Settings, public_id: str, code: str, now: datetime
    ) -> schemas.ActivationOut:
        activation = self._check_code(session, settings, public_id, code, "suspend", now)
        card = CardRepository(session).current_card(activation.person_id)
        if card is not None and card.status == "active":
            CardRepository(session).set_status(card, "suspended", now)
            _audit(
                session,
                ACTIVATION_ACTOR.actor,
                "card.suspend",
                activation.person_id,
                detail="lost phone, confirmed by e-mail",
                resource=f"Card/{card.id}",
            )
        activation.state = "completed"
        activation.completed_at = now
        activation.card_id = card.id if card is not None else None
        session.flush()
        return _activation_out(activation, now)

    # == holder routes ============================================================================

    def holder_card(
        self, session: Session, principal: Principal, *, require_active: bool = True
    ) -> Card:
        """The card of a holder token, still theirs (and active unless told otherwise)."""
        card = (
            CardRepository(session).get_card(principal.card_id)
            if principal.card_id is not None
            else None
        )
        if card is None or card.person_id != principal.person_id:
            raise CardRevoked("this card no longer exists")
        if require_active and card.status != "active":
            raise _card_status_error(card.status)
        return card

    def card_view(self, session: Session, principal: Principal, now: datetime) -> schemas.CardView:
        card = self.holder_card(session, principal, require_active=False)
        names = _NameReader(session, principal)
        beneficiaries = [
            schemas.BeneficiaryOut(quality="holder", **names.get(card.person_id).model_dump())
        ]
        for dependant in rights_service.dependants_of(session, card.person_id, care_date(now)):
            beneficiaries.append(
                schemas.BeneficiaryOut(
                    quality="dependant", **names.get(int(dependant.person_id)).model_dump()
                )
            )
        _audit(session, principal.actor, "card.read", card.person_id, resource=f"Card/{card.id}")
        return schemas.CardView(
            card_number=card.number,
            status=card.status,
            created_at=card.created_at,
            devices=[
                schemas.DeviceOut(
                    kind=d.kind,
                    key_id=b64url(d.key_id),
                    status=d.status,
                    created_at=d.created_at,
                )
                for d in CardRepository(session).devices_of_card(card.id)
            ],
            beneficiaries=beneficiaries,
        )

    def suspend_by_holder(
        self, session: Session, principal: Principal, now: datetime
    ) -> schemas.CardStatusOut:
        card = self.holder_card(session, principal, require_active=False)
        if card.status == "active":
            CardRepository(session).set_status(card, "suspended", now)
            _audit(
                session,
                principal.actor,
                "card.suspend",
                card.person_id,
                detail="by the holder",
                resource=f"Card/{card.id}",
            )
        return schemas.CardStatusOut(card_number=card.number, status=card.status)

    # -- delegations ------------------------------------------------------------------------------

    def create_delegation(
        self,
        session: Session,
        principal: Principal,
        body: schemas.DelegationCreate,
        now: datetime,
    ) -> schemas.DelegationOut:
        card = self.holder_card(session, principal)
        grantor = card.person_id
        starts_at = body.starts_at or now
        ends_at = body.ends_at
        if starts_at < now - timedelta(minutes=5) or ends_at <= starts_at or ends_at <= now:
            raise ValidationFailed(
                "the delegation must end after it starts, and not start in the past",
                code="invalid_delegation_period",
            )
        if ends_at - starts_at > MAX_DELEGATION or starts_at - now > MAX_DELEGATION:
            raise ValidationFailed(
                "a delegation lasts at most one year and starts within a year",
                code="invalid_delegation_period",
            )
        beneficiary = identity_service.find_entry_by_identifier(
            session,
            principal,
            body.beneficiary_nir,
            kind=None,
            purpose="CARD",
            field="beneficiary_nir",
        )
        if beneficiary is None:
            raise ValidationFailed(
                "beneficiary_nir: neither you nor one of your dependants",
                code="not_your_beneficiary",
            )
        if beneficiary.person_id != grantor and not rights_service.is_attached(
            session, beneficiary.person_id, grantor, care_date(now)
        ):
            raise ValidationFailed(
                "beneficiary_nir: neither you nor one of your dependants",
                code="not_your_beneficiary",
            )
        delegate = identity_service.find_entry_by_identifier(
            session, principal, body.delegate_nir, kind=None, purpose="CARD", field="delegate_nir"
        )
        if delegate is None or CardRepository(session).active_card_of(delegate.person_id) is None:
            raise ValidationFailed(
                "delegate_nir: the trusted person must have an active card",
                code="delegate_without_active_card",
            )
        if delegate.person_id == grantor:
            raise ValidationFailed(
                "delegate_nir: you cannot delegate to yourself", code="delegate_is_holder"
            )
        delegation = CardRepository(session).add_delegation(
            Delegation(
                person_id=grantor,
                beneficiary_person_id=beneficiary.person_id,
                delegate_person_id=delegate.person_id,
                starts_at=starts_at,
                ends_at=ends_at,
                created_at=now,
            )
        )
        for person, role in (
            (grantor, "grantor"),
            (delegate.person_id, "delegate"),
            (beneficiary.person_id, "beneficiary"),
        ):
            if role == "beneficiary" and person == grantor:
                continue
            _audit(
                session,
                principal.actor,
                "card.delegation.create",
                person,
                detail=f"delegation={delegation.id} role={role} until={ends_at.isoformat()}",
                resource=f"CardDelegation/{delegation.id}",
            )
        return _delegation_out(delegation, grantor, _NameReader(session, principal), now)

    def list_delegations(
        self, session: Session, principal: Principal, now: datetime
    ) -> schemas.DelegationList:
        card = self.holder_card(session, principal, require_active=False)
        names = _NameReader(session, principal)
        rows = CardRepository(session).delegations_of(card.person_id)
        out = [_delegation_out(d, card.person_id, names, now) for d in rows]
        _audit(
            session,
            principal.actor,
            "card.delegation.read",
            card.person_id,
            detail=f"returned={len(out)}",
        )
        return schemas.DelegationList(
            given=[d for d in out if d.role == "given"],
            received=[d for d in out if d.role == "received"],
        )

    def revoke_delegation(
        self, session: Session, principal: Principal, delegation_id: int, now: datetime
    ) -> schemas.DelegationOut:
        """The grantor withdraws a delegation (or the delegate gives it up), at once."""
        card = self.holder_card(session, principal, require_active=False)
        delegation = CardRepository(session).get_delegation(delegation_id)
        if delegation is None or card.person_id not in (
            delegation.person_id,
            delegation.delegate_person_id,
        ):
            raise NotFound("no such delegation", code="delegation_not_found")
        if delegation.revoked_at is None:
            delegation.revoked_at = now
            session.flush()
            for person in {delegation.person_id, delegation.delegate_person_id}:
                _audit(
                    session,
                    principal.actor,
                    "card.delegation.revoke",
                    person,
                    detail=f"delegation={delegation.id}",
                    resource=f"CardDelegation/{delegation.id}",
                )
        return _delegation_out(delegation, card.person_id, _NameReader(session, principal), now)

    # == operator (CLI) ===========================================================================

    def operator_show(
        self, session: Session, nir: str, principal: Principal = SYSTEM
    ) -> dict[str, Any]:
        """``principal``: the CLI (the system) or a back-office operator (``operator:<id>``)."""
        entry = identity_service.find_entry_by_identifier(
            session, principal, nir, kind=None, purpose="CARD", field="nir"
        )
        if entry is None:
            raise NotFound("no person holds this NIR", code="unknown_ins")
        repo = CardRepository(session)
        account = repo.account(entry.person_id)
        cards_out = []
        for card in repo.cards_of_person(entry.person_id):
            cards_out.append(
                {
                    "card_number": card.number,
                    "status": card.status,
                    "failed_pin_attempts": card.failed_pin_attempts,
                    "created_at": card.created_at.isoformat(),
                    "suspended_at": _iso(card.suspended_at),
                    "locked_at": _iso(card.locked_at),
                    "revoked_at": _iso(card.revoked_at),
                    "devices": [
                        {
                            "kind": d.kind,
                            "key_id": b64url(d.key_id),
                            "status": d.status,
                            "created_at": d.created_at.isoformat(),
                        }
                        for d in repo.devices_of_card(card.id)
                    ],
                }
            )
        delegations = [
            {
                "id": d.id,
                "role": "given" if d.person_id == entry.person_id else "received",
                "starts_at": d.starts_at.isoformat(),
                "ends_at": d.ends_at.isoformat(),
                "revoked_at": _iso(d.revoked_at),
            }
            for d in repo.delegations_of(entry.person_id)
        ]
        _audit(session, principal.actor, "card.read", entry.person_id, detail="operator")
        return {
            "person_id": entry.person_id,
            "matricule": entry.identity.ins.matricule,
            "account": (
                {"email": account.email, "confirmed_at": _iso(account.confirmed_at)}
                if account is not None
                else None
            ),
            "cards": cards_out,
            "delegations": delegations,
        }

    def operator_set_status(
        self,
        session: Session,
        nir: str,
        action: Literal["suspend", "resume", "revoke"],
        now: datetime,
        principal: Principal = SYSTEM,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """``reason``: why (required from the back office, written to the audit trail)."""
        entry = identity_service.find_entry_by_identifier(
            session, principal, nir, kind=None, purpose="CARD", field="nir"
        )
        if entry is None:
            raise NotFound("no person holds this NIR", code="unknown_ins")
        repo = CardRepository(session)
        card = repo.current_card(entry.person_id)
        if card is None:
            raise NotFound("this person has no card that is not revoked", code="no_card")
        if action == "suspend":
            if card.status != "active":
                raise Conflict(f"the card is {card.status}, not active", code="card_not_active")
            repo.set_status(card, "suspended", now)
        elif action == "resume":
            if card.status != "suspended":
                raise Conflict(
                    f"only a suspended card can be resumed (this one is {card.status}; a "
                    "locked card needs a new activation)",
                    code="card_not_suspended",
                )
            repo.set_status(card, "active", now)
        else:
            repo.set_status(card, "revoked", now)
            repo.revoke_devices([card.id], now)
        _audit(
            session,
            principal.actor,
            f"card.{action}",
            entry.person_id,
            detail=f"operator: {reason}" if reason else "operator",
            resource=f"Card/{card.id}",
        )
        return {"card_number": card.number, "status": card.status}

    def activation_counts(self, session: Session, since: datetime) -> DailyCounts:
        """Cards activated per day since ``since``, and in all (figures only: not audited)."""
        return CardRepository(session).cards_created(since)

    def purge_nonces(self, session: Session, now: datetime) -> int:
        return CardRepository(session).purge_nonces(now)

    def confirmed_emails(self, session: Session, person_ids: Sequence[int]) -> dict[int, str]:
        """The confirmed account e-mail of those of ``person_ids`` who have one (one bulk read,
        unaudited: the caller audits what it does with it, e.g. the health space's information)."""
        return CardRepository(session).confirmed_emails(person_ids)


# -- module helpers -------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _holder_principal(person_id: int, card_id: int) -> Principal:
    return Principal(
        client_id=f"card:{card_id}", scopes=frozenset(), person_id=person_id, card_id=card_id
    )


def _check_live(activation: CardActivation, now: datetime) -> None:
    if activation.state in ("completed", "failed", "expired"):
        raise ActivationWrongState(f"this activation is {activation.state}: start again")
    if now >= activation.expires_at:
        raise ActivationExpired("this activation has expired: start again")


def _effective_state(activation: CardActivation, now: datetime) -> str:
    if activation.state not in ("completed", "failed", "expired") and now >= activation.expires_at:
        return "expired"
    return activation.state


def _activation_out(activation: CardActivation, now: datetime) -> schemas.ActivationOut:
    return schemas.ActivationOut(
        activation_id=activation.public_id,
        purpose=activation.purpose,
        state=_effective_state(activation, now),
        expires_at=activation.expires_at,
        proofing_method=activation.proofing_method,
    )


def _new_card_number(repo: CardRepository) -> int:
    while True:
        number = CARD_NUMBER_MIN + secrets.randbelow(CARD_NUMBER_LIMIT - CARD_NUMBER_MIN)
        if not repo.number_taken(number):
            return number


def _send_code(
    settings: Settings, email: str, otp: str, *, subject: str, purpose_text: str
) -> None:
    """Mail the one-time code (it is never logged nor stored in clear)."""
    minutes = settings.card_otp_ttl_seconds // 60
    text = (
        f"Bonjour,\n\n"
        f"Voici votre code pour {purpose_text} : {otp}\n\n"
        f"Il est valable {minutes} minutes. Ne le communiquez à personne : aucun conseiller ne "
        f"vous le demandera.\n"
        f"Si vous n'êtes pas à l'origine de cette demande, ignorez ce message.\n"
    )
    MailService.from_settings(settings).send(email, subject, text)


class _NameReader:
    """Register identities read once per request (each read audited by the identity service)."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self._cache: dict[int, schemas.PersonName] = {}

    def get(self, person_id: int) -> schemas.PersonName:
        if person_id not in self._cache:
            entry = identity_service.read_entry_by_id(
                self.session, self.principal, person_id, purpose="CARD"
            )
            assert entry is not None  # cards and delegations reference register persons
            self._cache[person_id] = _person_name(entry.identity)
        return self._cache[person_id]


def _delegation_out(
    delegation: Delegation, viewer: int, names: _NameReader, now: datetime
) -> schemas.DelegationOut:
    if delegation.revoked_at is not None:
        state = "revoked"
    elif now < delegation.starts_at:
        state = "scheduled"
    elif now >= delegation.ends_at:
        state = "expired"
    else:
        state = "active"
    return schemas.DelegationOut(
        id=delegation.id,
        role="given" if delegation.person_id == viewer else "received",
        state=state,
        grantor=names.get(delegation.person_id),
        beneficiary=names.get(delegation.beneficiary_person_id),
        delegate=names.get(delegation.delegate_person_id),
        starts_at=delegation.starts_at,
        ends_at=delegation.ends_at,
        created_at=delegation.created_at,
        revoked_at=delegation.revoked_at,
    )


def platform_qr_key(secret_key: str) -> ec.EllipticCurvePrivateKey:
    """The platform's P-256 key that signs passkey cards' codes (derived from the secret)."""
    return _platform_qr_key(secret_key)


@lru_cache(maxsize=4)
def _platform_qr_key(secret_key: str) -> ec.EllipticCurvePrivateKey:
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    seed = int.from_bytes(_derived_key(secret_key, b"card-platform-qr-key"), "big")
    return ec.derive_private_key(seed % (order - 1) + 1, ec.SECP256R1())


cards_service = CardsService()
