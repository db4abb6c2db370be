"""The audit trail is hash-chained: `carnet audit verify` detects altered and removed entries."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import delete, select, update

from carnet.audit import get_audit_service
from carnet.audit.models import AuditChainHead, AuditEvent
from carnet.db import Database


def _verify_cli(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carnet", "audit", "verify"],
        capture_output=True,
        text=True,
        env={**os.environ, "CARNET_DATABASE_URL": database_url},
        check=False,
    )


def _record_some(db: Database, count: int = 30) -> None:
    audit = get_audit_service()
    with db.session() as s:
        for i in range(count):
            audit.record(
                s,
                actor="client:test",
                action="person.read",
                person_id=i % 7,
                resource=f"Person/{i % 7}",
            )


def test_intact_chain_verifies(db: Database, database_url: str) -> None:
    _record_some(db)
    result = _verify_cli(database_url)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["events"] == 30


def test_altered_entry_is_detected(db: Database, database_url: str) -> None:
    _record_some(db)
    with db.session() as s:
        victim = s.scalars(
            select(AuditEvent).where(AuditEvent.person_id == 3).order_by(AuditEvent.seq)
        ).first()
        assert victim is not None
        s.execute(
            update(AuditEvent).where(AuditEvent.id == victim.id).values(actor="client:someone-else")
        )
    result = _verify_cli(database_url)
    assert result.returncode == 1
    assert f"entry {victim.seq} (id {victim.id}) was altered" in result.stderr


def test_removed_entry_in_the_middle_is_detected(db: Database, database_url: str) -> None:
    _record_some(db)
    with db.session() as s:
        # An entry that has a successor on its chain.
        victim = s.scalars(
            select(AuditEvent)
            .join(AuditChainHead, AuditChainHead.chain == AuditEvent.chain)
            .where(AuditEvent.seq < AuditChainHead.seq)
            .order_by(AuditEvent.id)
        ).first()
        assert victim is not None
        s.execute(delete(AuditEvent).where(AuditEvent.id == victim.id))
    result = _verify_cli(database_url)
    assert result.returncode == 1
    assert f"entries {victim.seq}..{victim.seq} are missing" in result.stderr


def test_removed_last_entry_is_detected(db: Database, database_url: str) -> None:
    _record_some(db)
    with db.session() as s:
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last is not None
        s.execute(delete(AuditEvent).where(AuditEvent.id == last.id))
    result = _verify_cli(database_url)
    assert result.returncode == 1
    assert "removed at the end" in result.stderr


def test_rewritten_chain_without_the_key_is_detected(db: Database, database_url: str) -> None:
    """Recomputing plain SHA-256 hashes (without the secret) does not make a forgery pass."""
    import hashlib

    _record_some(db, 5)
    with db.session() as s:
        event = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).first()
        assert event is not None
        fake = hashlib.sha256(b"forged").digest()
        s.execute(update(AuditEvent).where(AuditEvent.id == event.id).values(actor="x", hash=fake))
        s.execute(
            update(AuditChainHead).where(AuditChainHead.chain == event.chain).values(hash=fake)
        )
    assert _verify_cli(database_url).returncode == 1


def test_rolled_back_access_leaves_no_audit_row(db: Database) -> None:
    audit = get_audit_service()
    try:
        with db.session() as s:
            audit.record(s, actor="client:test", action="person.read", person_id=1)
            raise RuntimeError("the access failed")
    except RuntimeError:
        pass
    with db.session() as s:
        assert s.scalars(select(AuditEvent)).all() == []
    with db.session() as s:
        assert get_audit_service().verify(s).ok


def test_concurrent_writers_keep_every_chain_intact(db: Database) -> None:
    """Writers in parallel threads, several on the same person: no forked or broken chain."""
    from concurrent.futures import ThreadPoolExecutor

    audit = get_audit_service()

    def work(worker: int) -> None:
        for i in range(15):
            with db.session() as s:
                audit.record(s, actor=f"client:w{worker}", action="person.read", person_id=i % 3)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(work, range(6)))
    with db.session() as s:
        report = audit.verify(s)
        assert report.problems == []
        assert report.events == 90


def test_entries_recorded_together_are_consecutive_on_one_chain(
    db: Database, database_url: str
) -> None:
    """``record_many``: one claim and one append for several entries; the chain still verifies,
    whether mixed with single entries or not, and the statements do not grow with the entries."""
    from sqlalchemy import event

    from carnet.audit import AuditEntry

    audit = get_audit_service()
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    entries = [
        AuditEntry(actor="client:test", action="apcv.context.create", person_id=1),
        AuditEntry(actor="client:test", action="apcv.context.beneficiary", person_id=2),
        AuditEntry(actor="client:test", action="apcv.context.beneficiary", person_id=3, detail="x"),
    ]
    for first, batch in ((True, entries[:1]), (False, entries), (False, entries * 3)):
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            with db.session() as s:
                audit.record_many(s, batch)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        appends = [q for q in statements if "audit_" in q]
        # Claim + append (+ head hash outside PostgreSQL, or for batches of more than 8 entries:
        # one executemany of the insert), whatever the number of entries; the first use of a
        # chain also creates its head (all heads at once on PostgreSQL).
        expected = 2 if db.dialect == "postgresql" and len(batch) <= 8 else 3
        extra = 3 if first else (0 if db.dialect == "postgresql" else 2)
        assert expected <= len(appends) <= expected + extra, appends
        statements.clear()
    _record_some(db, 5)
    with db.session() as s:
        rows = s.execute(
            select(AuditEvent.chain, AuditEvent.seq, AuditEvent.person_id).order_by(AuditEvent.id)
        ).all()
        assert audit.verify(s).ok
    assert len(rows) == 1 + 3 + 9 + 5
    batch = rows[1:4]
    assert [r.person_id for r in batch] == [1, 2, 3]
    assert len({r.chain for r in batch}) == 1
    assert [r.seq for r in batch] == list(range(batch[0].seq, batch[0].seq + 3))
    result = _verify_cli(database_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["events"] == 18
