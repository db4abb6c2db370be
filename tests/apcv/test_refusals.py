"""Every refusal of the apCV flow surfaces with its stable code, and a refused request leaves
nothing behind (no context, no spent code, no reading)."""

from __future__ import annotations

import io
import secrets
from dataclasses import replace
from datetime import timedelta
from typing import Any

import base45
import cbor2
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from carnet.db import Database
from carnet.directory.importer import HEADER as DIRECTORY_HEADER
from carnet.directory.importer import import_directory
from carnet.kit import card_qr
from carnet.wallet import Wallet

from ..conftest import TokenFactory
from .conftest import (
    CONTEXTS,
    RPPS_GP,
    RPPS_UNKNOWN,
    SECRET,
    SIRET_CABINET,
    Activate,
    Family,
    Professionals,
    gp_ref,
    now,
)


def _post(
    client: TestClient, headers: dict[str, str], qr: str, professional: dict[str, Any] | None = None
) -> Any:
    return client.post(
        CONTEXTS, json={"qr": qr, "professional": professional or gp_ref()}, headers=headers
    )


def _code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def _context(client: TestClient, headers: dict[str, str], wallet: Wallet) -> dict[str, Any]:
    response = _post(client, headers, wallet.present(SECRET))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_code_is_accepted_once(
    app_client: TestClient, gp_headers: dict[str, str], family: Family, activate: Activate
) -> None:
    qr = activate(family.jeanne).present(SECRET)
    assert _post(app_client, gp_headers, qr).status_code == 201
    again = _post(app_client, gp_headers, qr)
    assert (again.status_code, _code(again)) == (409, "qr_replayed")


def test_expired_tampered_foreign_and_malformed_codes(
    app_client: TestClient, gp_headers: dict[str, str], family: Family, activate: Activate
) -> None:
    wallet = activate(family.jeanne)
    expired = _post(
        app_client, gp_headers, wallet.present(SECRET, now=now() - timedelta(minutes=5))
    )
    assert (expired.status_code, _code(expired)) == (400, "qr_expired")

    # Tampered: the payload changed (another issue time) under the device's signature.
    message = cbor2.loads(base45.b45decode(wallet.present(SECRET)[len(card_qr.PREFIX) :]))
    protected, unprotected, payload, signature = message.value
    body = cbor2.loads(payload)
    body[3] -= 1
    tampered = card_qr.PREFIX + base45.b45encode(
        cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(body), signature]))
    ).decode("ascii")
    response = _post(app_client, gp_headers, tampered)
    assert (response.status_code, _code(response)) == (400, "qr_invalid_signature")

    # Foreign: a well-formed code signed by a key this platform never registered.
    issued = int(now().timestamp())
    token = card_qr.CardToken(
        card_number=wallet.card_number or 0,
        issued_at=issued,
        expires_at=issued + 60,
        nonce=secrets.token_bytes(card_qr.NONCE_BYTES),
    )
    key_id = secrets.token_bytes(8)
    token = replace(token, pin_tag=card_qr.pin_tag(secrets.token_bytes(32), key_id, token))
    foreign = card_qr.encode(token, key_id, ec.generate_private_key(ec.SECP256R1()))
    response = _post(app_client, gp_headers, foreign)
    assert (response.status_code, _code(response)) == (400, "qr_unknown_card")

    for text in ("CV1:not-base45!!", "https://example.org/", "CV1:"):
        response = _post(app_client, gp_headers, text)
        assert (response.status_code, _code(response)) == (400, "qr_malformed"), text

    # None of these spent a code or opened a context: a fresh code still works.
    assert _post(app_client, gp_headers, wallet.present(SECRET)).status_code == 201


def test_a_wrong_secret_code_counts_and_tells_the_attempts_left(
    app_client: TestClient, gp_headers: dict[str, str], family: Family, activate: Activate
) -> None:
    wallet = activate(family.jeanne)
    response = _post(app_client, gp_headers, wallet.present("9137"))
    assert (response.status_code, _code(response)) == (401, "wrong_secret_code")
    assert response.json()["error"]["details"][0]["attempts_left"] == 2


def test_suspended_and_revoked_cards(
    app_client: TestClient, gp_headers: dict[str, str], family: Family, activate: Activate
) -> None:
    wallet = activate(family.jeanne)
    code_before = wallet.present(SECRET)
    wallet.suspend(app_client, SECRET)
    suspended = _post(app_client, gp_headers, code_before)
    assert (suspended.status_code, _code(suspended)) == (403, "card_suspended")

    # Re-activation on a new device revokes the old card at once.
    marc_wallet = activate(family.marc)
    old_code = marc_wallet.present(SECRET)
    activate(family.marc)
    revoked = _post(app_client, gp_headers, old_code)
    assert (revoked.status_code, _code(revoked)) == (403, "card_revoked")


def test_the_professional_must_be_in_the_directory_and_the_clients(
    app_client: TestClient,
    auth_headers: TokenFactory,
    gp_headers: dict[str, str],
    professionals: Professionals,
    family: Family,
    activate: Activate,
) -> None:
    wallet = activate(family.jeanne)
    qr = wallet.present(SECRET)
    unknown = _post(app_client, gp_headers, qr, {"rpps": RPPS_UNKNOWN})
    assert (unknown.status_code, _code(unknown)) == (403, "professional_not_in_directory")

    unbound = _post(app_client, auth_headers("apcv"), qr)
    assert (unbound.status_code, _code(unbound)) == (403, "client_not_bound")

    # The pharmacist's software cannot act as the GP.
    pharmacist = auth_headers("apcv", professional_id=professionals.pharmacist_id)
    impersonation = _post(app_client, pharmacist, qr)
    assert (impersonation.status_code, _code(impersonation)) == (
        403,
        "professional_not_bound_to_client",
    )

    missing = app_client.post(CONTEXTS, json={"qr": qr}, headers=gp_headers)
    assert missing.status_code == 422

    # The refusals came before the card was looked at: the same code still opens a context.
    assert _post(app_client, gp_headers, qr).status_code == 201


def test_a_context_belongs_to_the_software_that_opened_it(
    app_client: TestClient,
    auth_headers: TokenFactory,
    gp_headers: dict[str, str],
    professionals: Professionals,
    family: Family,
    activate: Activate,
) -> None:
    context = _context(app_client, gp_headers, activate(family.jeanne))
    ref = context["beneficiaries"][0]["ref"]
    url = f"{CONTEXTS}/{context['context_id']}"
    # Another client of the same professional still does not see it.
    other = auth_headers("apcv", professional_id=professionals.gp_id)
    for response in (
        app_client.get(url, params={"beneficiary": ref}, headers=other),
        app_client.delete(url, headers=other),
        app_client.post(
            f"{url}/signatures",
            json={"beneficiary": ref, "invoice_type": "FSE", "invoice_hash": "0" * 64},
            headers=other,
        ),
        app_client.get(f"{CONTEXTS}/{'x' * 43}", params={"beneficiary": ref}, headers=gp_headers),
        app_client.get(f"{CONTEXTS}/short", params={"beneficiary": ref}, headers=gp_headers),
    ):
        assert (response.status_code, _code(response)) == (404, "context_not_found")
    # Still intact for its owner.
    owner = app_client.get(url, params={"beneficiary": ref}, headers=gp_headers)
    assert owner.status_code == 200


def test_bad_invoice_and_unknown_beneficiary(
    app_client: TestClient, gp_headers: dict[str, str], family: Family, activate: Activate
) -> None:
    context = _context(app_client, gp_headers, activate(family.jeanne))
    ref = context["beneficiaries"][0]["ref"]
    url = f"{CONTEXTS}/{context['context_id']}"
    for invoice_hash in ("0" * 63, "g" * 64, "0" * 65, ""):
        response = app_client.post(
            f"{url}/signatures",
            json={"beneficiary": ref, "invoice_type": "FSE", "invoice_hash": invoice_hash},
            headers=gp_headers,
        )
        assert response.status_code == 422, invoice_hash
        assert "invoice_hash" in response.text
    wrong_type = app_client.post(
        f"{url}/signatures",
        json={"beneficiary": ref, "invoice_type": "XYZ", "invoice_hash": "0" * 64},
        headers=gp_headers,
    )
    assert wrong_type.status_code == 422

    # Paul is nobody in this context (and a ref from nowhere is refused the same way).
    for stranger in ("not-a-ref", str(family.paul.id)):
        read = app_client.get(url, params={"beneficiary": stranger}, headers=gp_headers)
        assert (read.status_code, _code(read)) == (404, "beneficiary_not_in_context")
        sign = app_client.post(
            f"{url}/signatures",
            json={"beneficiary": stranger, "invoice_type": "FSE", "invoice_hash": "0" * 64},
            headers=gp_headers,
        )
        assert (sign.status_code, _code(sign)) == (404, "beneficiary_not_in_context")


def test_a_professional_deactivated_by_a_directory_import_is_refused_at_once(
    app_client: TestClient,
    db: Database,
    gp_headers: dict[str, str],
    professionals: Professionals,
    family: Family,
    activate: Activate,
) -> None:
    wallet = activate(family.jeanne)
    # A first reading: the GP's authorisation is now kept for the hot path.
    assert _post(app_client, gp_headers, wallet.present(SECRET)).status_code == 201
    line = [RPPS_GP, "8" + RPPS_GP, "Morel", "Claire", "10", "", SIRET_CABINET, "Cabinet", "Rennes"]
    text = ",".join(DIRECTORY_HEADER) + "\n" + ",".join([*line, "0"]) + "\n"
    report = import_directory(db, io.StringIO(text, newline=""))
    assert report.committed, report.errors
    refused = _post(app_client, gp_headers, wallet.present(SECRET))
    assert (refused.status_code, _code(refused)) == (403, "professional_not_in_directory")
