"""Every person-scoped table carries the person key, so the schema can be distributed by person
(for example with Citus, ``person_id`` as the distribution column: docs/performance.md).

A table is either person-scoped (it has a ``person_id`` column) or listed below as not
person-scoped, with the reason. A new table that is neither fails this test: its author must
decide, which is the point.
"""

from __future__ import annotations

from carnet.models import Base

NOT_PERSON_SCOPED = {
    # The register itself: its primary key IS the person key (persons.id).
    "persons": "the person key's own table",
    # Reference data and configuration, replicated to every node in a distributed set-up.
    "structures": "care structures (reference data)",
    "professionals": "directory of professionals (reference data)",
    "professional_practices": "places of practice of professionals (reference data)",
    "oauth_clients": "software clients (configuration)",
    "oauth_used_assertions": "client assertion ids seen (authentication, no person data)",
    # One row per hash chain: the audit events themselves carry person_id.
    "audit_chain_heads": "heads of the audit hash chains (no person data)",
    "job_runs": "one row per scheduled job: its lease and last run (no person data)",
    "access_matrix": "the access matrix: profession x document type (reference data)",
    # Professionals' and operators' sign-in: accounts of staff, not of insured persons.
    "pro_passkeys": "professionals' passkeys (keyed by the directory's professional)",
    "pro_invitations": "professionals' passkey enrolment invitations",
    "pro_used_nonces": "single-use sign-in challenges seen (no person data)",
    "operators": "back-office operator accounts (staff, not insured persons)",
    "operator_passkeys": "operators' passkeys",
    "operator_invitations": "operators' enrolment invitations",
    "operator_used_nonces": "single-use sign-in challenges seen (no person data)",
}


def test_every_table_is_person_scoped_or_explained() -> None:
    unexplained = [
        table.name
        for table in Base.metadata.sorted_tables
        if "person_id" not in table.c and table.name not in NOT_PERSON_SCOPED
    ]
    assert unexplained == [], (
        f"tables without person_id: {unexplained}; add the person key, or list the table in "
        "NOT_PERSON_SCOPED with the reason"
    )


def test_the_exceptions_list_names_real_tables_without_a_person_key() -> None:
    tables = {table.name: table for table in Base.metadata.sorted_tables}
    for name in NOT_PERSON_SCOPED:
        assert name in tables, f"{name} is listed but no longer exists"
        assert "person_id" not in tables[name].c, f"{name} has person_id: remove it from the list"
