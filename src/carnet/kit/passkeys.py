"""WebAuthn passkeys (``webauthn`` library): options, challenges, verification — for every
passkey on the platform (the card holder's passkey card, professionals' and operators' sign-in).
The relying party is the platform (``CARNET_CARD_WEBAUTHN_RP_ID`` / ``_ORIGIN``).

No database here: the caller stores what these functions return. Challenges are stateless:
``nonce (12) ‖ expiry (4, epoch s) ‖ HMAC (16)`` keyed with a key derived from the platform secret
and bound to what they are for (the ``purpose``: an activation, presenting a card, a professional's
sign-in…), so the platform keeps no pending-challenge table; single use is the caller's: the
activation completing once, or the nonce recorded as used when an assertion is accepted (the card
service's ``used_card_nonces``).

User verification is required in both ceremonies (the authenticator's PIN or biometrics stand in
for the card's secret code, which a passkey card does not have).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from carnet.config import Settings
from carnet.exceptions import AppError


class PasskeyRefused(AppError):
    """The authenticator's answer does not verify (signature, origin, user verification…), or
    names no registered passkey."""

    status_code = 401
    code = "passkey_refused"


class PasskeyChallengeInvalid(AppError):
    status_code = 400
    code = "passkey_challenge_invalid"


NONCE_BYTES = 12
_MAC_BYTES = 16
CHALLENGE_BYTES = NONCE_BYTES + 4 + _MAC_BYTES


def _mac(secret_key: str, purpose: str, body: bytes) -> bytes:
    key = hashlib.sha256(b"card-webauthn-challenge\x00" + secret_key.encode()).digest()
    return hmac.new(key, purpose.encode() + b"\x00" + body, hashlib.sha256).digest()[:_MAC_BYTES]


def new_challenge(settings: Settings, purpose: str, now: datetime) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    expires = int(now.timestamp()) + settings.card_webauthn_challenge_ttl_seconds
    body = nonce + expires.to_bytes(4, "big")
    return body + _mac(settings.secret_key, purpose, body)


def check_challenge(settings: Settings, purpose: str, challenge: bytes, now: datetime) -> bytes:
    """The challenge's nonce, if this platform issued it for ``purpose`` and it is still fresh."""
    if len(challenge) != CHALLENGE_BYTES:
        raise PasskeyChallengeInvalid("this challenge was not issued by the platform")
    body, mac = challenge[: NONCE_BYTES + 4], challenge[NONCE_BYTES + 4 :]
    if not hmac.compare_digest(mac, _mac(settings.secret_key, purpose, body)):
        raise PasskeyChallengeInvalid("this challenge was not issued for this use")
    if int.from_bytes(body[NONCE_BYTES:], "big") < int(now.timestamp()):
        raise PasskeyChallengeInvalid("the challenge has expired: ask for a new one")
    return body[:NONCE_BYTES]


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def challenge_of(credential: dict[str, Any]) -> bytes:
    """The challenge the authenticator signed, read from its client data (checked later)."""
    try:
        client_data = json.loads(_b64url_decode(str(credential["response"]["clientDataJSON"])))
        return _b64url_decode(str(client_data["challenge"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise PasskeyRefused(f"the credential is malformed ({exc})") from exc


def credential_id_of(credential: dict[str, Any]) -> bytes:
    try:
        return _b64url_decode(str(credential["rawId"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise PasskeyRefused("the credential has no valid rawId") from exc


def registration_options(
    settings: Settings,
    challenge: bytes,
    display_name: str,
    exclude_credential_ids: list[bytes] | None = None,
) -> dict[str, Any]:
    """Options to create a discoverable passkey with user verification; ``display_name`` is what
    the authenticator shows (never personal data for a card). ``exclude_credential_ids``: the
    account's passkeys already registered (an authenticator holding one refuses a second)."""
    options = generate_registration_options(
        rp_id=settings.card_webauthn_rp_id,
        rp_name=settings.card_webauthn_rp_name,
        # The user handle is random: it must not carry personal data (authenticators show it).
        user_id=secrets.token_bytes(16),
        user_name=display_name,
        user_display_name=display_name,
        challenge=challenge,
        attestation=AttestationConveyancePreference.NONE,
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=credential_id)
            for credential_id in exclude_credential_ids or []
        ],
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def authentication_options(settings: Settings, challenge: bytes) -> dict[str, Any]:
    options = generate_authentication_options(
        rp_id=settings.card_webauthn_rp_id,
        challenge=challenge,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


@dataclass(frozen=True)
class RegisteredPasskey:
    credential_id: bytes
    public_key: bytes  # COSE
    sign_count: int


def verify_registration(
    settings: Settings, credential: dict[str, Any], challenge: bytes
) -> RegisteredPasskey:
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.card_webauthn_rp_id,
            expected_origin=settings.card_webauthn_origin,
            require_user_verification=True,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError) as exc:
        raise PasskeyRefused(f"the passkey registration does not verify: {exc}") from exc
    return RegisteredPasskey(
        verified.credential_id, verified.credential_public_key, verified.sign_count
    )


def verify_assertion(
    settings: Settings,
    credential: dict[str, Any],
    challenge: bytes,
    public_key: bytes,
    sign_count: int,
) -> int:
    """Verify an assertion (user verification required); return the new sign count."""
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.card_webauthn_rp_id,
            expected_origin=settings.card_webauthn_origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError) as exc:
        raise PasskeyRefused(f"the passkey assertion does not verify: {exc}") from exc
    return int(verified.new_sign_count)
