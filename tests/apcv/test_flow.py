"""The professional software's whole apCV flow, through the API, with a card activated by the
reference wallet: read the QR → choose a beneficiary → sign an invoice → destroy the context."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from carnet.identity.oids import OID_INS_NIR

from .conftest import CONTEXTS, RPPS_GP, SECRET, SIRET_CABINET, Activate, Family, gp_ref


def _open(client: TestClient, headers: dict[str, str], qr: str, **ref: Any) -> dict[str, Any]:
    response = client.post(
        CONTEXTS, json={"qr": qr, "professional": gp_ref(**ref)}, headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _by_first_name(context: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [b for b in context["beneficiaries"] if b["first_name"] == name]
    assert len(found) == 1, context["beneficiaries"]
    return found[0]


def test_read_the_card_choose_a_beneficiary_sign_and_destroy(
    app_client: TestClient,
    gp_headers: dict[str, str],
    family: Family,
    activate: Activate,
) -> None:
    wallet = activate(family.jeanne)
    # A scanner types the QR text followed by Enter: the trailing newline is harmless.
    context = _open(app_client, gp_headers, wallet.present(SECRET) + "\n")
    assert context["delegated"] is False
    assert len(context["context_id"]) == 43
    jeanne = _by_first_name(context, "JEANNE")
    lucas = _by_first_name(context, "LUCAS")
    assert jeanne == {
        "ref": jeanne["ref"],
        "quality": "holder",
        "rank": 1,
        "first_name": "JEANNE",
        "first_names": ["JEANNE", "MARIE"],
        "birth_name": "DUPONT",
        "used_name": "LEROY",
        "used_first_name": None,
        "sex": "F",
        "birth_date": "1985-04-12",
    }
    assert lucas["quality"] == "dependant"
    assert lucas["birth_date"] == "2016-09-03"
    assert jeanne["ref"] != lucas["ref"]

    url = f"{CONTEXTS}/{context['context_id']}"
    holder = app_client.get(url, params={"beneficiary": jeanne["ref"]}, headers=gp_headers)
    assert holder.status_code == 200, holder.text
    read = holder.json()
    assert read["identity"]["ins"] == {
        "matricule": family.jeanne.matricule,
        "kind": "NIR",
        "oid": OID_INS_NIR,
    }
    assert read["identity"]["traits"]["birth_place"] == "75056"
    # Read through the card: qualified, collected and validated by the card app (AV).
    assert read["reliability"]["status"] == "QUAL"
    assert read["reliability"]["collection_method"] == "AV"
    assert read["reliability"]["validation_mode"] == "AV"
    rights = read["rights"]
    assert rights["covered"] is True
    assert (rights["regime"], rights["fund"], rights["centre"]) == ("01", "351", "0001")
    assert rights["quality"] == "00"
    assert rights["insured_matricule"] == family.jeanne.matricule

    # The child keeps its own INS; the invoice bills under the insured parent's NIR.
    child = app_client.get(url, params={"beneficiary": lucas["ref"]}, headers=gp_headers).json()
    assert child["quality"] == "dependant"
    assert child["identity"]["ins"]["matricule"] == family.lucas.matricule
    assert child["identity"]["ins"]["matricule"] != family.jeanne.matricule
    assert child["rights"]["quality"] == "06"
    assert child["rights"]["insured_matricule"] == family.jeanne.matricule
    assert child["reliability"]["status"] == "QUAL"

    # Rights at another date of care: before the coverage began, not covered.
    past = app_client.get(
        url, params={"beneficiary": lucas["ref"], "date": "2019-06-01"}, headers=gp_headers
    ).json()
    assert past["rights"] == {
        **past["rights"],
        "covered": False,
        "date_of_care": "2019-06-01",
        "regime": None,
    }

    # Sign the child's invoice; anyone verifies it with the published key.
    invoice = b"FSE 2026-11-23 consultation G 26.50 EUR"
    invoice_hash = hashlib.sha256(invoice).hexdigest()
    signed = app_client.post(
        f"{url}/signatures",
        json={
            "beneficiary": lucas["ref"],
            "invoice_type": "FSE",
            "invoice_hash": invoice_hash.upper(),
            "amount": "26.50",
        },
        headers=gp_headers,
    )
    assert signed.status_code == 201, signed.text
    signature = signed.json()
    assert signature["alg"] == "ES256"
    published = app_client.get("/api/v1/apcv/jwks")  # public: no token
    assert published.status_code == 200
    keys = KeySet.import_key_set(published.json())
    verified = jws.deserialize_compact(signature["signature"], keys)
    assert verified.protected["kid"] == signature["kid"]
    assert verified.protected["alg"] == "ES256"
    claims = json.loads(verified.payload)
    assert claims["context_id"] == context["context_id"]
    assert claims["card_number"] == wallet.card_number
    assert claims["beneficiary_ins"] == {"matricule": family.lucas.matricule, "oid": OID_INS_NIR}
    assert claims["professional_rpps"] == RPPS_GP
    assert claims["invoice_type"] == "FSE"
    assert claims["invoice_hash"] == invoice_hash  # normalised to lower case
    assert claims["amount"] == "26.50"
    assert claims["signed_at"].endswith("Z")

    # Changing the signed hash breaks the signature.
    header_b64, _payload_b64, sig_b64 = signature["signature"].split(".")
    forged_claims = {**claims, "invoice_hash": hashlib.sha256(b"another invoice").hexdigest()}
    forged_payload = (
        base64.urlsafe_b64encode(json.dumps(forged_claims, separators=(",", ":")).encode())
        .rstrip(b"=")
        .decode()
    )
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(f"{header_b64}.{forged_payload}.{sig_b64}", keys)

    # Destroy: the context answers 410 from now on, to every call.
    assert app_client.delete(url, headers=gp_headers).status_code == 204
    for response in (
        app_client.get(url, params={"beneficiary": jeanne["ref"]}, headers=gp_headers),
        app_client.post(
            f"{url}/signatures",
            json={"beneficiary": jeanne["ref"], "invoice_type": "DRE", "invoice_hash": "a" * 64},
            headers=gp_headers,
        ),
        app_client.delete(url, headers=gp_headers),
    ):
        assert response.status_code == 410, response.text
        assert response.json()["error"]["code"] == "context_expired"


def test_the_place_of_the_act_is_recorded_in_the_history(
    app_client: TestClient, gp_headers: dict[str, str], family: Family, activate: Activate
) -> None:
    wallet = activate(family.jeanne)
    context = _open(
        app_client, gp_headers, wallet.present(SECRET), structure_identifier=SIRET_CABINET
    )
    holder = _by_first_name(context, "JEANNE")
    url = f"{CONTEXTS}/{context['context_id']}"
    assert (
        app_client.get(url, params={"beneficiary": holder["ref"]}, headers=gp_headers).status_code
        == 200
    )
    history = app_client.get(
        "/api/v1/card/readings",
        headers={"Authorization": f"Bearer {wallet.session(app_client, SECRET)}"},
    ).json()
    (reading,) = history["readings"]
    assert reading["place"] == {"name": "Cabinet médical des Tilleuls", "identifier": SIRET_CABINET}
    assert reading["professional"] == {
        "rpps": RPPS_GP,
        "first_name": "Claire",
        "last_name": "Morel",
        "profession_code": "10",
        "profession_label": "Médecin",
    }
