"""Chromium's virtual authenticator (WebAuthn over the DevTools protocol) for every browser test
that creates or uses a passkey: card holders, professionals, back-office agents."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import BrowserContext, CDPSession, Page


class StoredPasskey(Protocol):
    """What the authenticator is given of an existing passkey (``VerifyingAuthenticator`` of
    tests/cards/test_passkey.py, or ``UnknownPasskey``)."""

    private_key: ec.EllipticCurvePrivateKey
    credential_id: bytes
    user_handle: bytes
    sign_count: int


@dataclass
class UnknownPasskey:
    """A passkey of this site (rpId ``localhost``) that the platform never registered."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: os.urandom(16))
    user_handle: bytes = field(default_factory=lambda: os.urandom(16))
    sign_count: int = 0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def virtual_authenticator(
    context: BrowserContext,
    page: Page,
    device: StoredPasskey | None = None,
    *,
    user_verification: bool = True,
) -> CDPSession:
    """Chromium's virtual authenticator for ``page``: a platform authenticator with resident keys
    that verifies its user (PIN or biometrics), or with ``user_verification=False`` a USB
    security key that cannot; holding ``device``'s passkey when one is given (else empty: a
    passkey is created on it). Detach the returned session to remove it."""
    options: dict[str, object] = {
        "protocol": "ctap2",
        "transport": "internal" if user_verification else "usb",
        "hasResidentKey": True,
        "hasUserVerification": user_verification,
        "automaticPresenceSimulation": True,
    }
    if user_verification:
        options["isUserVerified"] = True
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    created = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    if device is not None:
        pkcs8 = device.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cdp.send(
            "WebAuthn.addCredential",
            {
                "authenticatorId": created["authenticatorId"],
                "credential": {
                    "credentialId": _b64(device.credential_id),
                    "isResidentCredential": True,
                    "rpId": "localhost",
                    "privateKey": _b64(pkcs8),
                    "userHandle": _b64(device.user_handle),
                    "signCount": device.sign_count,
                },
            },
        )
    return cdp
