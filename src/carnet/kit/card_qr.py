"""The card QR code wire format, shared by the wallet (device side) and apCV (server side).

A QR code is ``"CV1:" + base45(COSE_Sign1)`` (RFC 9052, tag 18), signed with ES256 by the device
credential the card was activated with (or, for a passkey card in the web app, by the platform
after a WebAuthn assertion with user verification). The payload is a CBOR map with integer keys,
so that the whole code stays near 220 characters: QR version 10 or 11 at error-correction
level Q (the issue's limit is 12).

The secret code never leaves the phone and is never stored: the device derives a *PIN key*
(scrypt of the code and a per-card salt) each time the holder types it, and puts a truncated
HMAC of the token under that key in the payload (the *PIN tag*). The server holds the PIN key
(encrypted) from activation and checks the tag, counting wrong codes. A stolen device therefore
cannot test codes offline: every guess must go to the server, which locks the card after three.

Payload keys:
  1 version (1) · 2 card number · 3 issued at (epoch s) · 4 expires at (epoch s) · 5 nonce (12
  bytes, single use) · 6 PIN tag (16 bytes; absent when signed by the platform for a passkey) ·
  7 purpose (1 presentation to a professional, 2 holder session) · 8 delegation id (optional: the
  presenter is a delegate using their own card for someone else's).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

PREFIX = "CV1:"
VERSION = 1
ALG_ES256 = -7
COSE_SIGN1_TAG = 18
NONCE_BYTES = 12
PIN_TAG_BYTES = 16
KEY_ID_MAX_BYTES = 16
MAX_TEXT_LENGTH = 600  # far above a real code; refuses huge inputs before any parsing

PURPOSE_PRESENTATION = 1
PURPOSE_SESSION = 2
PURPOSES = (PURPOSE_PRESENTATION, PURPOSE_SESSION)

# scrypt cost for the PIN key: ~50 ms on a phone-class core, paid once per unlock.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1


class CardQrError(ValueError):
    """The text is not a well-formed card QR code (the reason says what is wrong)."""


@dataclass(frozen=True, slots=True)
class CardToken:
    card_number: int
    issued_at: int
    expires_at: int
    nonce: bytes
    purpose: int = PURPOSE_PRESENTATION
    pin_tag: bytes | None = None
    delegation_id: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedCardQr:
    """A decoded code whose signature has not been checked yet (see ``verify_signature``)."""

    key_id: bytes
    token: CardToken
    signed_bytes: bytes
    signature: bytes


def pin_key_from_code(code: str, salt: bytes) -> bytes:
    """The 32-byte PIN key the device derives from the secret code each time it is typed."""
    return hashlib.scrypt(
        code.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )


def pin_tag(pin_key: bytes, key_id: bytes, token: CardToken) -> bytes:
    """HMAC over everything that makes this code unique: proves the holder typed the code."""
    message = cbor2.dumps(
        [
            key_id,
            token.card_number,
            token.issued_at,
            token.expires_at,
            token.nonce,
            token.purpose,
            token.delegation_id,
        ]
    )
    return hmac.new(pin_key, b"carnet-card-pin-v1" + message, hashlib.sha256).digest()[
        :PIN_TAG_BYTES
    ]


def _payload(token: CardToken) -> bytes:
    body: dict[int, Any] = {
        1: VERSION,
        2: token.card_number,
        3: token.issued_at,
        4: token.expires_at,
        5: token.nonce,
        7: token.purpose,
    }
    if token.pin_tag is not None:
        body[6] = token.pin_tag
    if token.delegation_id is not None:
        body[8] = token.delegation_id
    return cbor2.dumps(body)


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def encode(token: CardToken, key_id: bytes, private_key: ec.EllipticCurvePrivateKey) -> str:
    """Sign ``token`` with the device key (ES256) and return the QR text."""
    if not 1 <= len(key_id) <= KEY_ID_MAX_BYTES:
        raise ValueError("key id must be 1 to 16 bytes")
    protected = cbor2.dumps({1: ALG_ES256, 4: key_id})
    payload = _payload(token)
    der = private_key.sign(_sig_structure(protected, payload), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    message = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))
    encoded: bytes = base45.b45encode(message)
    return PREFIX + encoded.decode("ascii")


def _int(body: dict[Any, Any], key: int, name: str, *, optional: bool = False) -> int | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if type(value) is not int or value < 0 or value >= 2**63:
        raise CardQrError(f"the {name} field is missing or not a non-negative integer")
    return value


def _bytes(
    body: dict[Any, Any], key: int, name: str, size: int, *, optional: bool = False
) -> bytes | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, bytes) or len(value) != size:
        raise CardQrError(f"the {name} field is missing or not {size} bytes")
    return value


def parse(text: str) -> ParsedCardQr:
    """Decode the QR text without trusting it; raise ``CardQrError`` naming what is malformed."""
    text = text.strip()
    if len(text) > MAX_TEXT_LENGTH:
        raise CardQrError(f"the code is longer than {MAX_TEXT_LENGTH} characters")
    if not text.startswith(PREFIX):
        raise CardQrError(f"not a Carnet card code (it must start with {PREFIX!r})")
    try:
        raw = base45.b45decode(text[len(PREFIX) :])
    except (ValueError, KeyError) as exc:
        raise CardQrError("the code is not valid base45") from exc
    try:
        outer = cbor2.loads(raw)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise CardQrError("the code is not valid CBOR") from exc
    if not isinstance(outer, cbor2.CBORTag) or outer.tag != COSE_SIGN1_TAG:
        raise CardQrError("the code is not a COSE_Sign1 message")
    parts = outer.value
    if not isinstance(parts, list | tuple) or len(parts) != 4:
        raise CardQrError("the COSE_Sign1 message must have 4 parts")
    protected, _unprotected, payload, signature = parts
    if not all(isinstance(part, bytes) for part in (protected, payload, signature)):
        raise CardQrError("the COSE_Sign1 parts have wrong types")
    try:
        header = cbor2.loads(protected)
        body = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise CardQrError("the COSE headers or payload are not valid CBOR") from exc
    if not isinstance(header, dict) or header.get(1) != ALG_ES256:
        raise CardQrError("the code must be signed with ES256")
    key_id = header.get(4)
    if not isinstance(key_id, bytes) or not 1 <= len(key_id) <= KEY_ID_MAX_BYTES:
        raise CardQrError("the code does not name its signing key")
    if not isinstance(body, dict) or body.get(1) != VERSION:
        raise CardQrError(f"unsupported card code version (expected {VERSION})")
    if len(signature) != 64:
        raise CardQrError("the ES256 signature must be 64 bytes")
    purpose = _int(body, 7, "purpose")
    if purpose not in PURPOSES:
        raise CardQrError(f"unknown purpose {purpose}")
    token = CardToken(
        card_number=_int(body, 2, "card number") or 0,
        issued_at=_int(body, 3, "issued-at") or 0,
        expires_at=_int(body, 4, "expires-at") or 0,
        nonce=_bytes(body, 5, "nonce", NONCE_BYTES) or b"",
        purpose=purpose,
        pin_tag=_bytes(body, 6, "PIN tag", PIN_TAG_BYTES, optional=True),
        delegation_id=_int(body, 8, "delegation", optional=True),
    )
    return ParsedCardQr(key_id, token, _sig_structure(protected, payload), signature)


def verify_signature(parsed: ParsedCardQr, public_key: ec.EllipticCurvePublicKey) -> bool:
    """True when the code was signed by the private half of ``public_key``."""
    if not isinstance(public_key.curve, ec.SECP256R1):
        return False
    r = int.from_bytes(parsed.signature[:32], "big")
    s = int.from_bytes(parsed.signature[32:], "big")
    try:
        public_key.verify(
            encode_dss_signature(r, s), parsed.signed_bytes, ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        return False
    return True


def pin_tag_matches(parsed: ParsedCardQr, pin_key: bytes) -> bool:
    if parsed.token.pin_tag is None:
        return False
    return hmac.compare_digest(pin_tag(pin_key, parsed.key_id, parsed.token), parsed.token.pin_tag)
