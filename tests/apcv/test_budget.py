"""The round-trip budget of a card reading (``POST /api/v1/apcv/contexts``, the hot path): SQL
statements counted on the engine, so that a change adding round trips cannot slip in silently.

A context costs: the credential (with the delegation, if any), the nonce, the rights of the
holder's household, the register names, the context, and the audit trail (chain claim + one
append for all its entries; SQLite moves the chain head in a statement of its own). The
professional's authorisation is kept a few seconds per client, so only the first reading of a
client reads the directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from carnet.db import Database
from carnet.directory.service import directory_service

from ..conftest import TokenFactory
from .conftest import (
    CONTEXTS,
    DELEGATE_SECRET,
    SECRET,
    Activate,
    Family,
    Professionals,
    gp_ref,
    now,
)

# Per context once the professional's authorisation is kept: PostgreSQL 7, SQLite 8.
BUDGET = {"postgresql": 7, "sqlite": 8}
# The first reading of a client also reads the directory (the professional and their places).
DIRECTORY = 2


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def cost(statements: list[str], dialect: str) -> int:
    """Statements of the reading itself, without the occasional housekeeping: one reading in 32
    also purges the card's expired nonces, and the first entry on an audit chain creates its
    head (on PostgreSQL all the heads at once, after counting them, then claims again)."""
    purge = sum(s.startswith("DELETE FROM used_card_nonces") for s in statements)
    heads = sum(s.startswith("INSERT INTO audit_chain_heads") for s in statements)
    counted = sum("count(*)" in s and "audit_chain_heads" in s for s in statements)
    return len(statements) - purge - heads - counted - (heads if dialect == "postgresql" else 0)


def _open(client: TestClient, headers: dict[str, str], qr: str) -> dict[str, Any]:
    response = client.post(CONTEXTS, json={"qr": qr, "professional": gp_ref()}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_context_costs_a_fixed_number_of_statements(
    app_client: TestClient,
    gp_headers: dict[str, str],
    family: Family,
    activate: Activate,
    db: Database,
) -> None:
    jeanne = activate(family.jeanne)  # with Lucas, her dependant
    paul = activate(family.paul)  # alone, and without rights
    budget = BUDGET[db.dialect]
    directory_service.forget_acting()
    with counting(db) as first:
        context = _open(app_client, gp_headers, jeanne.present(SECRET))
    assert len(context["beneficiaries"]) == 2
    assert cost(first, db.dialect) <= budget + DIRECTORY, first
    for wallet, beneficiaries in ((jeanne, 2), (paul, 1), (jeanne, 2)):
        with counting(db) as statements:
            context = _open(app_client, gp_headers, wallet.present(SECRET))
        assert len(context["beneficiaries"]) == beneficiaries
        assert cost(statements, db.dialect) <= budget, statements


def test_a_delegated_context_stays_within_a_small_budget(
    app_client: TestClient,
    gp_headers: dict[str, str],
    family: Family,
    activate: Activate,
    db: Database,
) -> None:
    from datetime import timedelta

    jeanne = activate(family.jeanne)
    marc = activate(family.marc, secret=DELEGATE_SECRET)
    delegation = jeanne.delegate(
        app_client,
        SECRET,
        delegate_nir=family.marc.matricule,
        beneficiary_nir=family.lucas.matricule,
        ends_at=now() + timedelta(days=1),
    )["id"]
    _open(app_client, gp_headers, jeanne.present(SECRET))  # the directory answer is kept
    with counting(db) as statements:
        context = _open(
            app_client, gp_headers, marc.present(DELEGATE_SECRET, delegation_id=delegation)
        )
    assert context["delegated"] is True
    # + is_attached and the delegated beneficiary's rights (no household read).
    assert cost(statements, db.dialect) <= BUDGET[db.dialect] + 2, statements


def test_the_kept_authorisation_is_per_client_binding_and_reference(
    app_client: TestClient,
    auth_headers: TokenFactory,
    gp_headers: dict[str, str],
    professionals: Professionals,
    family: Family,
    activate: Activate,
    db: Database,
) -> None:
    """A kept answer never serves another client, another binding or another reference, and a
    refusal is never kept."""
    jeanne = activate(family.jeanne)
    assert _open(app_client, gp_headers, jeanne.present(SECRET))["delegated"] is False
    # The pharmacist's software names the GP: refused, although the GP's answer is kept.
    pharmacist = auth_headers("apcv", professional_id=professionals.pharmacist_id)
    refused = app_client.post(
        CONTEXTS, json={"qr": jeanne.present(SECRET), "professional": gp_ref()}, headers=pharmacist
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        403,
        "professional_not_bound_to_client",
    )
    # The GP's software naming a place that is not hers: refused (another reference).
    elsewhere = app_client.post(
        CONTEXTS,
        json={
            "qr": jeanne.present(SECRET),
            "professional": gp_ref(structure_identifier="350000741"),
        },
        headers=gp_headers,
    )
    assert (elsewhere.status_code, elsewhere.json()["error"]["code"]) == (
        403,
        "not_a_place_of_practice",
    )
    # After a directory change in this process, the directory is read again.
    directory_service.forget_acting()
    with counting(db) as statements:
        _open(app_client, gp_headers, jeanne.present(SECRET))
    assert cost(statements, db.dialect) <= BUDGET[db.dialect] + DIRECTORY, statements
    assert any("professionals" in s for s in statements)
