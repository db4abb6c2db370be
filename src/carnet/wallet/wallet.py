"""The reference wallet: the device side of the digital card.

A ``Wallet`` keeps its state in a directory: ``wallet.json`` (card number, key id, PIN salt,
holder names, server URL) and ``device-key.pem`` (the P-256 private key), both mode 0600. It never
stores the secret code nor the PIN key: the holder types the code each time, the wallet derives
the PIN key (``card_qr.pin_key_from_code``) and forgets both once the code is made.

Why the private key is not encrypted with the secret code: a 4-to-8-digit code is guessed
offline in seconds from an encrypted key file, and the guess could then be confirmed against the
key itself, bypassing the platform's three-attempt lock. Kept unencrypted (on a phone: in the
platform keystore / secure enclave, bound to the device), the key proves possession only, and
every guess of the code must go to the platform, which counts them.

The wallet talks to the platform over HTTP only (an ``httpx2.Client``; FastAPI's TestClient is
one), and produces codes offline (``present``).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import segno
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from carnet.kit import card_qr

STATE_FILE = "wallet.json"
KEY_FILE = "device-key.pem"
SALT_BYTES = 16
MAX_QR_VERSION = 12
DEFAULT_LIFETIME = 120
SECRET_CODE_RULES = "4 to 8 digits, not all the same digit, not a run such as 1234 or 9876"  # noqa: S105
API = "/api/v1/card"


class WalletError(Exception):
    """A refusal by the platform (``code`` is its stable error code) or a local problem."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "wallet_error",
        status: int | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details or []

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def check_secret_code(code: str) -> str:
    """Refuse codes that are not 4–8 digits, or trivial (0000, 1111, 1234, 9876, …)."""
    if not (code.isascii() and code.isdigit() and 4 <= len(code) <= 8):
        raise WalletError(f"the secret code must be {SECRET_CODE_RULES}", code="weak_secret_code")
    steps = {int(b) - int(a) for a, b in itertools.pairwise(code)}
    if steps in ({0}, {1}, {-1}):
        raise WalletError(
            f"this secret code is too easy to guess: {SECRET_CODE_RULES}", code="weak_secret_code"
        )
    return code


def _check_format(code: str) -> str:
    # Presenting: the platform judges the code; the wallet only refuses what cannot be one.
    if not (code.isascii() and code.isdigit() and 4 <= len(code) <= 8):
        raise WalletError("the secret code is 4 to 8 digits", code="invalid_secret_code")
    return code


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically (no half-written state)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _check(response: httpx2.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            raise WalletError(
                str(error.get("message", "refused")),
                code=str(error.get("code", "http_error")),
                status=response.status_code,
                details=error.get("details") or [],
            )
        raise WalletError(
            f"the platform answered HTTP {response.status_code}",
            code="http_error",
            status=response.status_code,
        )
    if not isinstance(body, dict):
        raise WalletError("the platform did not answer with a JSON object", code="bad_response")
    return body


def qr_png(text: str, path: str | Path, *, scale: int = 8) -> int:
    """Write the code as a PNG QR code at error-correction level Q; return the QR version.

    Refuses to draw a code that needs a version above 12 (too dense for phone screens and
    counter scanners): that would mean the code format grew.
    """
    qr = segno.make(text, error="q", micro=False, boost_error=False)
    version = int(qr.version)
    if version > MAX_QR_VERSION:
        raise WalletError(
            f"the code needs QR version {version} (at most {MAX_QR_VERSION})", code="qr_too_large"
        )
    qr.save(str(path), kind="png", scale=scale, border=4)
    return version


class Wallet:
    """One card on one device. Create or reopen with ``Wallet.open(directory)``."""

    def __init__(self, path: Path, state: dict[str, Any]) -> None:
        self.path = path
        self._state = state
        self._token: tuple[str, float] | None = None  # holder token, in memory only

    # -- storage ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> Wallet:
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        state_file = directory / STATE_FILE
        state: dict[str, Any] = {"version": 1}
        if state_file.exists():
            try:
                state = json.loads(state_file.read_text())
            except ValueError as exc:
                raise WalletError(f"{state_file} is not valid JSON", code="wallet_corrupt") from exc
        return cls(directory, state)

    def _save(self) -> None:
        _write_private(
            self.path / STATE_FILE, json.dumps(self._state, indent=2, sort_keys=True).encode()
        )

    def _private_key(self) -> ec.EllipticCurvePrivateKey:
        key_file = self.path / KEY_FILE
        if not key_file.exists():
            raise WalletError("this wallet holds no device key: activate it", code="no_card")
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise WalletError("the device key is not a P-256 key", code="wallet_corrupt")
        return key

    @property
    def state(self) -> dict[str, Any]:
        """A copy of what the wallet stores (no secret in it but the key file, kept apart)."""
        return dict(self._state)

    @property
    def card_number(self) -> int | None:
        value = self._state.get("card_number")
        return int(value) if value is not None else None

    @property
    def key_id(self) -> bytes | None:
        value = self._state.get("key_id")
        return _b64url_decode(value) if value else None

    @property
    def server(self) -> str | None:
        value = self._state.get("server")
        return str(value) if value else None

    def remember_server(self, url: str) -> None:
        self._state["server"] = url.rstrip("/")
        self._save()

    # -- activation ------------------------------------------------------------------------------

    def start_activation(
        self, http: httpx2.Client, nir: str, birth_date: str, email: str
    ) -> dict[str, Any]:
        """Ask for an activation; the platform e-mails a 6-digit code."""
        body = _check(
            http.post(
                f"{API}/activations", json={"nir": nir, "birth_date": birth_date, "email": email}
            )
        )
        self._state["activation_id"] = body["activation_id"]
        self._state["activation_state"] = body["state"]
        self._save()
        return body

    def confirm_email(self, http: httpx2.Client, otp: str) -> dict[str, Any]:
        activation_id = self._activation_id()
        body = _check(
            http.post(f"{API}/activations/{activation_id}/email-confirmation", json={"code": otp})
        )
        self._state["activation_state"] = body["state"]
        self._save()
        return body

    def complete_activation(self, http: httpx2.Client, secret_code: str) -> dict[str, Any]:
        """Generate the device key and PIN salt, register them with the PIN key: a new card."""
        check_secret_code(secret_code)
        activation_id = self._activation_id()
        private_key = ec.generate_private_key(ec.SECP256R1())
        salt = secrets.token_bytes(SALT_BYTES)
        pin_key = card_qr.pin_key_from_code(secret_code, salt)
        numbers = private_key.public_key().public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }
        body = _check(
            http.post(
                f"{API}/activations/{activation_id}/device",
                json={
                    "kind": "wallet",
                    "public_key": jwk,
                    "pin_key": base64.b64encode(pin_key).decode("ascii"),
                },
            )
        )
        # Only now, once the platform took the key, does the wallet replace its previous card.
        _write_private(
            self.path / KEY_FILE,
            private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        self._state.update(
            {
                "card_number": body["card_number"],
                "key_id": body["key_id"],
                "pin_salt": _b64url(salt),
                "status": body["status"],
                "holder": body["holder"],
                "activation_state": "completed",
            }
        )
        self._state.pop("activation_id", None)
        self._save()
        self._token = None
        return body

    def _activation_id(self) -> str:
        value = self._state.get("activation_id")
        if not value:
            raise WalletError("no activation in progress: start one", code="no_activation")
        return str(value)

    # -- codes (offline) -------------------------------------------------------------------------

    def present(
        self,
        secret_code: str,
        now: datetime | None = None,
        delegation_id: int | None = None,
        lifetime: int = DEFAULT_LIFETIME,
        purpose: int = card_qr.PURPOSE_PRESENTATION,
    ) -> str:
        """A fresh single-use code (QR text), made offline from the device key and the code."""
        _check_format(secret_code)
        card_number, key_id = self.card_number, self.key_id
        salt = self._state.get("pin_salt")
        if card_number is None or key_id is None or not salt:
            raise WalletError("this wallet holds no card: activate it", code="no_card")
        private_key = self._private_key()
        pin_key = card_qr.pin_key_from_code(secret_code, _b64url_decode(salt))
        issued = int((now or datetime.now(UTC)).timestamp())
        token = card_qr.CardToken(
            card_number=card_number,
            issued_at=issued,
            expires_at=issued + lifetime,
            nonce=secrets.token_bytes(card_qr.NONCE_BYTES),
            purpose=purpose,
            delegation_id=delegation_id,
        )
        token = replace(token, pin_tag=card_qr.pin_tag(pin_key, key_id, token))
        return card_qr.encode(token, key_id, private_key)

    qr_png = staticmethod(qr_png)

    # -- holder session and routes ---------------------------------------------------------------

    def session(self, http: httpx2.Client, secret_code: str) -> str:
        """Sign in with the card (a code with purpose 2); returns the holder access token."""
        code = self.present(secret_code, purpose=card_qr.PURPOSE_SESSION)
        body = _check(http.post(f"{API}/sessions", json={"code": code}))
        token = str(body["access_token"])
        self._token = (token, time.monotonic() + int(body["expires_in"]) - 10)
        return token

    def _headers(self, http: httpx2.Client, secret_code: str) -> dict[str, str]:
        if self._token is None or time.monotonic() >= self._token[1]:
            self.session(http, secret_code)
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token[0]}"}

    def card(self, http: httpx2.Client, secret_code: str) -> dict[str, Any]:
        """The card as the platform sees it: status, devices, beneficiaries with their INS."""
        body = _check(http.get(API, headers=self._headers(http, secret_code)))
        self._state["status"] = body["status"]
        self._save()
        return body

    def suspend(self, http: httpx2.Client, secret_code: str) -> dict[str, Any]:
        body = _check(http.post(f"{API}/suspend", headers=self._headers(http, secret_code)))
        self._state["status"] = body["status"]
        self._save()
        return body

    def delegate(
        self,
        http: httpx2.Client,
        secret_code: str,
        *,
        delegate_nir: str,
        beneficiary_nir: str,
        ends_at: datetime,
        starts_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Let a trusted person (with a card) present yours or a dependant's until ``ends_at``."""
        payload: dict[str, Any] = {
            "delegate_nir": delegate_nir,
            "beneficiary_nir": beneficiary_nir,
            "ends_at": ends_at.isoformat(),
        }
        if starts_at is not None:
            payload["starts_at"] = starts_at.isoformat()
        return _check(
            http.post(f"{API}/delegations", json=payload, headers=self._headers(http, secret_code))
        )

    def delegations(self, http: httpx2.Client, secret_code: str) -> dict[str, Any]:
        return _check(http.get(f"{API}/delegations", headers=self._headers(http, secret_code)))

    def revoke_delegation(
        self, http: httpx2.Client, secret_code: str, delegation_id: int
    ) -> dict[str, Any]:
        return _check(
            http.delete(
                f"{API}/delegations/{delegation_id}", headers=self._headers(http, secret_code)
            )
        )

    # -- lost phone (no device needed) -----------------------------------------------------------

    @staticmethod
    def report_lost(http: httpx2.Client, nir: str, birth_date: str, email: str) -> dict[str, Any]:
        """Lost phone, step 1: the account's e-mail receives a code."""
        return _check(
            http.post(f"{API}/lost", json={"nir": nir, "birth_date": birth_date, "email": email})
        )

    @staticmethod
    def confirm_lost(http: httpx2.Client, request_id: str, otp: str) -> dict[str, Any]:
        """Lost phone, step 2: the code suspends the card."""
        return _check(http.post(f"{API}/lost/{request_id}/confirmation", json={"code": otp}))
