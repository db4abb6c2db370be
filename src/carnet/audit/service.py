"""Record and verify the audit trail.

Every read or change of a person's data calls ``audit_service.record`` inside the same database
transaction as the access itself: if the access is rolled back, so is its audit row, and an access
can never be committed without one.

Each entry's hash is HMAC-SHA256(key, previous hash ‖ canonical fields), keyed with a key derived
from the platform secret, so rewriting history needs both database access and the secret.
``verify`` recomputes every chain and compares its end with the chain head, which also detects
removed entries (a gap in the sequence, or a truncated tail).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from carnet.audit.models import AuditEvent
from carnet.audit.repository import GENESIS, AuditRepository
from carnet.audit.repository import AuditQuery as AuditQuery
from carnet.db import utcnow
from carnet.kit.context import client_address_var, request_id_var


@dataclass
class VerificationReport:
    chains: int = 0
    events: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _canonical(event: AuditEvent) -> bytes:
    return _canonical_fields(
        event.chain,
        event.seq,
        event.recorded_at,
        event.actor,
        event.action,
        event.outcome,
        event.person_id,
        event.resource,
        event.purpose,
        event.client_address,
        event.request_id,
        event.detail,
    )


def _canonical_fields(
    chain: int,
    seq: int,
    recorded_at: datetime,
    actor: str,
    action: str,
    outcome: str,
    person_id: int | None,
    resource: str | None,
    purpose: str | None,
    client_address: str | None,
    request_id: str | None,
    detail: str | None,
) -> bytes:
    fields = [
        chain,
        seq,
        recorded_at.isoformat(timespec="microseconds"),
        actor,
        action,
        outcome,
        person_id,
        resource,
        purpose,
        client_address,
        request_id,
        detail,
    ]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry for ``AuditService.record_many`` (the arguments of ``record``)."""

    actor: str
    action: str
    person_id: int | None = None
    resource: str | None = None
    purpose: str | None = None
    outcome: str = "success"
    detail: str | None = None


class AuditService:
    def __init__(self, secret_key: str, chains: int) -> None:
        self._key = hashlib.sha256(b"audit-chain:" + secret_key.encode()).digest()
        self.chains = chains

    def _digest(self, previous: bytes, event: AuditEvent) -> bytes:
        return hmac.new(self._key, previous + _canonical(event), hashlib.sha256).digest()

    def record(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        person_id: int | None = None,
        resource: str | None = None,
        purpose: str | None = None,
        outcome: str = "success",
        detail: str | None = None,
        recorded_at: datetime | None = None,
    ) -> None:
        """Append one entry in the caller's transaction (the chain head stays locked until its
        commit: record last in a use case). Core statements, no ORM object: every access runs
        through here."""
        entry = AuditEntry(actor, action, person_id, resource, purpose, outcome, detail)
        self._append(session, (entry,), recorded_at)

    def record_many(
        self,
        session: Session,
        entries: Sequence[AuditEntry],
        *,
        recorded_at: datetime | None = None,
    ) -> None:
        """Record several entries of one access at once, consecutive on one chain: one chain
        claim and one append for all of them (the same rows as one ``record`` call each)."""
        if entries:
            self._append(session, entries, recorded_at)

    def _append(
        self, session: Session, entries: Sequence[AuditEntry], recorded_at: datetime | None
    ) -> list[dict[str, Any]]:
        # Chains only order entries for tamper evidence (a person's history is ordered by time), so
        # any chain will do: on PostgreSQL take a free one, otherwise (SQLite has a single writer
        # anyway, or every chain is busy) a random one, waiting for its lock.
        repo = AuditRepository(session)
        count = len(entries)
        claimed = (
            repo.claim_free_head(self.chains, count)
            if session.get_bind().dialect.name == "postgresql"
            else None
        )
        if claimed is not None:
            chain, last, previous = claimed
        else:
            chain = secrets.randbelow(self.chains)
            last, previous = repo.advance_head(chain, count)
        # Microseconds: what both databases store, so the hash survives a round trip.
        when = recorded_at or utcnow()
        address = client_address_var.get()
        request_id = request_id_var.get()
        rows: list[dict[str, Any]] = []
        for seq, entry in enumerate(entries, start=last - count + 1):
            actor = entry.actor[:80]
            detail = entry.detail[:500] if entry.detail else None
            digest = hmac.new(
                self._key,
                previous
                + _canonical_fields(
                    chain,
                    seq,
                    when,
                    actor,
                    entry.action,
                    entry.outcome,
                    entry.person_id,
                    entry.resource,
                    entry.purpose,
                    address,
                    request_id,
                    detail,
                ),
                hashlib.sha256,
            ).digest()
            rows.append(
                {
                    "chain": chain,
                    "seq": seq,
                    "recorded_at": when,
                    "actor": actor,
                    "action": entry.action,
                    "outcome": entry.outcome,
                    "person_id": entry.person_id,
                    "resource": entry.resource,
                    "purpose": entry.purpose,
                    "client_address": address,
                    "request_id": request_id,
                    "detail": detail,
                    "hash": digest,
                }
            )
            previous = digest
        repo.append_rows(chain, rows)
        return rows

    def verify(self, session: Session) -> VerificationReport:
        repo = AuditRepository(session)
        report = VerificationReport()
        heads = repo.heads()
        chains = sorted(set(heads) | set(repo.chains_with_events()))
        for chain in chains:
            report.chains += 1
            previous, expected_seq = GENESIS, 1
            for event in repo.stream_chain(chain):
                report.events += 1
                if event.seq != expected_seq:
                    report.problems.append(
                        f"chain {chain}: entries {expected_seq}..{event.seq - 1} are missing"
                    )
                    expected_seq = event.seq
                    previous = event.hash  # resynchronise to report each problem once
                elif not hmac.compare_digest(self._digest(previous, event), bytes(event.hash)):
                    report.problems.append(
                        f"chain {chain}: entry {event.seq} (id {event.id}) was altered"
                    )
                previous = bytes(event.hash)
                expected_seq += 1
            head = heads.get(chain)
            if head is None:
                report.problems.append(f"chain {chain}: head is missing")
            elif head[0] != expected_seq - 1:
                report.problems.append(
                    f"chain {chain}: head says {head[0]} entries but {expected_seq - 1} remain "
                    "(entries removed at the end)"
                )
            elif head[1] != previous:
                report.problems.append(f"chain {chain}: last entry does not match the chain head")
        return report

    # -- reading the trail (FHIR AuditEvent) -----------------------------------------------------

    def read_trail(
        self,
        session: Session,
        *,
        actor: str,
        query: AuditQuery,
        limit: int,
        before_id: int | None = None,
        with_total: bool = True,
    ) -> AuditPage:
        """One page of the audit trail, newest first; the consultation itself is audited.

        Reading the trail reveals who accessed whose data, so it is an access like any other: it
        is recorded (action ``audit.search``, with the person when the search is about one) in
        the caller's transaction, after the page is read, so a page never contains its own entry.
        ``limit`` 0 only counts. ``before_id`` is the keyset cursor of the next page.
        """
        repo = AuditRepository(session)
        rows = repo.search_page(query, before_id=before_id, limit=limit + 1) if limit > 0 else []
        total = repo.count_page(query) if with_total else None
        page = AuditPage(events=rows[:limit], has_more=len(rows) > limit, total=total)
        self.record(
            session,
            actor=actor,
            action="audit.search",
            person_id=query.person_id,
            resource="AuditEvent",
            detail=f"returned={len(page.events)}",
        )
        return page

    def read_event(self, session: Session, *, actor: str, event_id: int) -> AuditEvent | None:
        """One audit entry by id (None when unknown); the consultation is audited."""
        event = AuditRepository(session).get(event_id)
        self.record(
            session,
            actor=actor,
            action="audit.read",
            person_id=event.person_id if event is not None else None,
            resource=f"AuditEvent/{event_id}",
            outcome="success" if event is not None else "none",
        )
        return event


@dataclass
class AuditPage:
    events: list[AuditEvent]
    has_more: bool
    total: int | None = None
