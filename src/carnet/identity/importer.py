"""Bulk load of the national INS register from a CSV file (``carnet registry import``).

File format: UTF-8 (a BOM is accepted), comma-separated, RFC 4180 quoting, and the header line
exactly ``nir,kind,birth_name,first_names,sex,birth_date,birth_place,used_name,used_first_name,
death_date,previous_nirs``. ``kind`` is NIR or NIA; ``first_names`` the birth first names in
order, space-separated; ``sex`` M or F; dates ``YYYY-MM-DD`` with ``00`` for an unknown month or
day; ``previous_nirs`` the person's former matricules, space-separated. Empty lines (and lines of
blanks and commas only) are ignored.

Every line is validated by ``carnet.identity.service.validate_record`` (normalised traits, NIR/NIA
key, NIR ↔ traits consistency, COG birth place). The file is the register's source of truth for
the persons it lists: a re-import replaces their columns (an empty ``used_name`` clears it) but
never removes a history row, and persons absent from the file are left alone.

How a file of millions of lines is loaded with bounded memory, atomically:

1. Validation pass (streaming, CPU-bound, optionally on several processes): each line is parsed
   and validated; valid lines are appended, normalised, to an anonymous temporary file (unlinked at
   once, mode 0600) in batches; invalid lines are counted and the first ``max_errors`` kept with
   their line number and reason.
2. Load pass, in ONE transaction: the batches are copied into temporary staging tables (COPY on
   PostgreSQL, ``executemany`` on SQLite), the register is locked against other writers, the rules
   that span lines are checked in SQL (below), then the persons are updated and inserted and the
   history rows added with a few set-based statements, and the audit event is recorded. Any
   invalid line, without ``skip_invalid``, rolls everything back: nothing is imported and every
   invalid line is reported. A crash anywhere leaves the register as it was.

Rules across lines (a line that breaks one is invalid; with ``skip_invalid`` it is skipped):

* the same current matricule (``nir``) on several lines: every occurrence is refused, since
  nothing tells which one is right;
* a previous matricule that is the ``nir`` of another line: both lines are refused (the file says
  the matricule is at once current and replaced);
* the same previous matricule on several lines: all of them are refused (a matricule is replaced
  for one person only);
* a previous matricule that is the current matricule of a person already in the register: a
  conflict (two live identities would be merged silently); this replacement is an
  identity-vigilance operation, not a bulk load;
* a previous matricule already in the history of another registered person, and a ``nir`` that
  the register records as replaced for another person: conflicts;
* a previous matricule equal to the line's own ``nir`` is invalid; one listed twice counts once.

Kind of a previous matricule (``ins_history.kind``, which selects the OID of the history entry):
the file gives the kind of the current matricule only. A NIA never replaces a NIR (the NIR is
definitive, domain.md §1.4), so a person whose current matricule is a NIA had only NIAs before:
NIA. For a current NIR, the previous matricule is a NIA when it is a provisional number (first
digit 7 or 8, ``Matricule.is_provisional``, the NIA→NIR transition), and a NIR otherwise (a NIR
with a regular sex digit replaced by another NIR: rectified NIR, or merged duplicates).

Counts: ``inserted`` persons new to the register, ``updated`` persons whose columns changed or who
gained a previous matricule (``version`` + 1, ``updated_at`` = import time), ``unchanged`` the
others (their ``version`` and ``updated_at`` are untouched). New history rows get ``ended_at`` =
import time; existing ones are never duplicated.

Audit: an import is ONE audit event (action ``registry.import``, outcome ``success``, ``partial``
with skipped lines, or ``refused``), not one per person. The load is the register operator's own
maintenance of the national reference data (as the daily RNIPP/SNGI synchronisation is), not an
access to a person's data by a health professional: per-person events would say nothing more
than "the operator loaded this file", while adding millions of audit rows that would drown the
trail of actual accesses. The event names the file and the counts; the file itself is the
record of what was loaded.

Error messages never contain a matricule (as in ``carnet.identity.nir``): previous matricules are
named by their rank in ``previous_nirs`` and conflicting lines by their number.
"""

from __future__ import annotations

import getpass
import json
import marshal
import multiprocessing
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from carnet.audit import get_audit_service
from carnet.db import Database, utcnow
from carnet.exceptions import BadRequest, ValidationFailed
from carnet.identity import repository as repo_module
from carnet.identity.models import Person
from carnet.identity.places import get_places
from carnet.identity.repository import RegisterImportRepository, RejectedLine
from carnet.identity.service import previous_matricule_kind, validate_record
from carnet.kit.csv_source import (
    COLUMN_NAME,
    CsvSource,
    ErrorList,
    LineError,
    RawLine,
    open_csv_source,
    read_csv_lines,
)
from carnet.kit.progress import ImportProgress

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "HEADER",
    "MAX_ERRORS",
    "ImportReport",
    "import_register",
]

HEADER: tuple[str, ...] = (
    "nir",
    "kind",
    "birth_name",
    "first_names",
    "sex",
    "birth_date",
    "birth_place",
    "used_name",
    "used_first_name",
    "death_date",
    "previous_nirs",
)
DEFAULT_BATCH_SIZE = 10_000
MAX_ERRORS = 1_000
AUDIT_ACTION = "registry.import"
# Lines handed to a validation worker at once; a few batches in flight per worker.
_WORKER_CHUNK = 2_000
_IN_FLIGHT_PER_WORKER = 3

PersonRow = tuple[Any, ...]  # repository.STAGING_COLUMNS order
PreviousRow = tuple[Any, ...]  # repository.PREVIOUS_COLUMNS order


@dataclass
class ImportReport:
    """The outcome of an import. ``errors`` holds the first ``max_errors`` invalid lines."""

    source: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    history_added: int = 0
    errors: list[LineError] = field(default_factory=list)
    committed: bool = False
    seconds: float = 0.0
    validation_seconds: float = 0.0
    load_seconds: float = 0.0

    @property
    def valid(self) -> int:
        return self.read - self.invalid

    @property
    def errors_omitted(self) -> int:
        """Invalid lines counted but not listed in ``errors``."""
        return max(0, self.invalid - len(self.errors))

    def summary(self) -> dict[str, int | float]:
        return {
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "invalid": self.invalid,
            "seconds": round(self.seconds, 3),
        }


# ------------------------------------------------------------------------------------------------
# Validation of one line (module level: runs in worker processes too)
# ------------------------------------------------------------------------------------------------


def _column_lengths() -> tuple[tuple[int, str, int], ...]:
    """(index in a staged row, column, maximum length) of the register's string columns."""
    lengths = []
    for index, name in enumerate(repo_module.STAGING_COLUMNS):
        column = Person.__table__.c.get(name)
        length = getattr(column.type, "length", None) if column is not None else None
        if isinstance(length, int):
            lengths.append((index, name, length))
    return tuple(lengths)


# A normalised list of first names can exceed its column (each name is bounded, not the list).
_MAX_LENGTHS = _column_lengths()


def _validate_line(line_no: int, fields: list[str]) -> tuple[PersonRow, list[PreviousRow]]:
    if len(fields) != len(HEADER):
        raise ValidationFailed(
            f"expected {len(HEADER)} comma-separated fields, found {len(fields)}",
            code="invalid_line",
        )
    if any("\ufffd" in value for value in fields):
        raise ValidationFailed(
            "the line is not valid UTF-8 (the file must be encoded in UTF-8)", code="invalid_line"
        )
    record = validate_record(**dict(zip(HEADER, fields, strict=True)))
    traits = record.traits
    row: PersonRow = (
        line_no,
        record.matricule.value,
        record.kind,
        traits.birth_name,
        " ".join(traits.first_names),
        traits.sex,
        traits.birth_date.isoformat(),
        traits.birth_place,
        record.used_name,
        record.used_first_name,
        record.death_date.isoformat() if record.death_date is not None else None,
    )
    for index, name, length in _MAX_LENGTHS:
        value = row[index]
        if value is not None and len(value) > length:
            raise ValidationFailed(
                f"{name}: too long ({len(value)} characters after normalisation, max {length})",
                code="invalid_trait",
            )
    previous: list[PreviousRow] = []
    seen: set[str] = set()
    for position, matricule in enumerate(record.previous, start=1):
        if matricule.value == record.matricule.value:
            raise ValidationFailed(
                f"previous_nirs: matricule #{position} is the line's own nir",
                code="invalid_previous",
            )
        if matricule.value in seen:
            continue
        seen.add(matricule.value)
        kind = previous_matricule_kind(record.kind, matricule)
        previous.append((line_no, position, record.matricule.value, matricule.value, kind))
    return row, previous


def _validate_chunk(
    chunk: list[RawLine],
) -> tuple[list[PersonRow], list[PreviousRow], list[LineError]]:
    persons: list[PersonRow] = []
    previous: list[PreviousRow] = []
    errors: list[LineError] = []
    for line_no, fields, problem in chunk:
        if fields is None:
            errors.append((line_no, problem or "unreadable line"))
            continue
        try:
            row, history = _validate_line(line_no, fields)
        except ValidationFailed as exc:
            errors.append((line_no, exc.message))
            continue
        persons.append(row)
        previous.extend(history)
    return persons, previous, errors


# ------------------------------------------------------------------------------------------------
# Reading the file
# ------------------------------------------------------------------------------------------------


def _header_error(found: list[str]) -> BadRequest:
    expected = ",".join(HEADER)
    names = [value.strip() for value in found]
    missing = [column for column in HEADER if column not in names]
    # Show what was found only when it looks like column names: a file without its header starts
    # with a person's line, whose matricule must not be echoed.
    if all(COLUMN_NAME.fullmatch(name) for name in names):
        shown = f"found '{','.join(names)}'"
    else:
        shown = "the first line is not a header (is the header line missing?)"
    hints = []
    if missing:
        hints.append(f"missing: {', '.join(missing)}")
    elif len(names) == len(HEADER):
        hints.append("same columns in another order")
    if any("\ufffd" in value or "\x00" in value for value in found):
        hints.append("the file must be encoded in UTF-8")
    elif len(found) == 1 and (";" in found[0] or "\t" in found[0]):
        hints.append("the separator must be a comma")
    return BadRequest(
        f"invalid header: expected exactly '{expected}'; {shown}"
        + (f" ({'; '.join(hints)})" if hints else ""),
        code="invalid_header",
    )


def _read_lines(stream: TextIO) -> Iterator[RawLine]:
    return read_csv_lines(stream, HEADER, _header_error)


def _chunks(lines: Iterable[RawLine], size: int) -> Iterator[list[RawLine]]:
    chunk: list[RawLine] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ------------------------------------------------------------------------------------------------
# The spool of validated lines between the two passes
# ------------------------------------------------------------------------------------------------


class _Spool:
    """Validated, normalised lines on disk: an anonymous temporary file, gone when closed."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="carnet-import-")  # noqa: SIM115 - closed below
        self.batches = 0

    def write(self, persons: list[PersonRow], previous: list[PreviousRow]) -> None:
        marshal.dump((persons, previous), self._file)
        self.batches += 1

    def read(self) -> Iterator[tuple[list[PersonRow], list[PreviousRow]]]:
        self._file.flush()
        self._file.seek(0)
        for _ in range(self.batches):
            # Our own anonymous temporary file, written above by this process.
            persons, previous = marshal.load(self._file)  # noqa: S302
            yield persons, previous

    def close(self) -> None:
        self._file.close()


# ------------------------------------------------------------------------------------------------
# The two passes
# ------------------------------------------------------------------------------------------------


def _validation_pass(
    source: CsvSource,
    spool: _Spool,
    report: ImportReport,
    errors: ErrorList,
    *,
    batch_size: int,
    pool: ProcessPoolExecutor | None,
    workers: int,
    progress: ImportProgress,
) -> None:
    persons_batch: list[PersonRow] = []
    previous_batch: list[PreviousRow] = []

    def consume(
        chunk_size: int, result: tuple[list[PersonRow], list[PreviousRow], list[LineError]]
    ) -> None:
        persons, previous, chunk_errors = result
        report.read += chunk_size
        errors.extend(chunk_errors)
        persons_batch.extend(persons)
        previous_batch.extend(previous)
        if len(persons_batch) >= batch_size:
            spool.write(persons_batch[:], previous_batch[:])
            persons_batch.clear()
            previous_batch.clear()
        done = source.bytes_read
        progress.update(
            completed=done if done is not None else report.read,
            description=f"Validating: {report.read:,} lines, {errors.count:,} invalid",
        )

    progress.task("Validating", source.total_bytes)
    lines = _read_lines(source.stream)
    if pool is None:
        for chunk in _chunks(lines, min(batch_size, _WORKER_CHUNK * 5)):
            consume(len(chunk), _validate_chunk(chunk))
    else:
        _validate_in_workers(_chunks(lines, min(batch_size, _WORKER_CHUNK)), pool, workers, consume)
    if persons_batch or previous_batch:
        spool.write(persons_batch, previous_batch)


def _start_workers(workers: int) -> ProcessPoolExecutor:
    """A pool of validation processes, all started now (before any progress thread exists).

    The pool forks (POSIX): the children inherit the loaded COG places and never touch the
    database; ``spawn`` would re-run the ``__main__`` of ``python -m carnet`` in every child.
    """
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
    pool.submit(_validate_chunk, []).result()  # a fork pool starts all its processes at once
    return pool


def _validate_in_workers(
    chunks: Iterator[list[RawLine]],
    pool: ProcessPoolExecutor,
    workers: int,
    consume: Callable[[int, tuple[list[PersonRow], list[PreviousRow], list[LineError]]], None],
) -> None:
    """Validate the chunks on the pool, in order, with a bounded number in flight."""
    limit = workers * _IN_FLIGHT_PER_WORKER
    pending: deque[tuple[int, Future[Any]]] = deque()
    for chunk in chunks:
        pending.append((len(chunk), pool.submit(_validate_chunk, chunk)))
        if len(pending) >= limit:
            size, future = pending.popleft()
            consume(size, future.result())
    while pending:
        size, future = pending.popleft()
        consume(size, future.result())


def _describe(rule: RejectedLine) -> str:
    more = (rule.n or 0) - 2
    others = f" and {more} other line{'s' if more > 1 else ''}" if more > 0 else ""
    rank = f"#{rule.position}"
    messages = {
        repo_module.RULE_DUPLICATE: (
            f"nir: duplicate matricule: also on line {rule.other_line}{others}"
        ),
        repo_module.RULE_PREVIOUS_IS_CURRENT_IN_FILE: (
            f"previous_nirs: matricule {rank} is the current nir of line {rule.other_line} "
            "(a matricule cannot be both current and replaced)"
        ),
        repo_module.RULE_CURRENT_IS_PREVIOUS_IN_FILE: (
            f"nir: line {rule.other_line} lists this matricule as replaced "
            f"(its previous_nirs {rank})"
        ),
        repo_module.RULE_PREVIOUS_SHARED_IN_FILE: (
            f"previous_nirs: matricule {rank} is also a previous matricule on line "
            f"{rule.other_line}{others}"
        ),
        repo_module.RULE_PREVIOUS_IS_REGISTERED_PERSON: (
            f"previous_nirs: conflict: matricule {rank} is the current matricule of another "
            "person in the register (replacing a registered identity is not a bulk-import "
            "operation)"
        ),
        repo_module.RULE_PREVIOUS_OF_REGISTERED_PERSON: (
            f"previous_nirs: conflict: matricule {rank} is already a previous matricule of "
            "another person in the register"
        ),
        repo_module.RULE_CURRENT_REPLACED_IN_REGISTER: (
            "nir: conflict: the register records this matricule as replaced by another "
            "person's matricule"
        ),
    }
    return messages.get(rule.rule, f"rejected ({rule.rule})")


def _group_rejects(rows: list[RejectedLine]) -> list[LineError]:
    by_line: dict[int, list[str]] = {}
    for row in rows:
        by_line.setdefault(row.line_no, []).append(_describe(row))
    return [(line_no, "; ".join(messages)) for line_no, messages in sorted(by_line.items())]


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (containers with an arbitrary uid)
        return None


def _audit_detail(report: ImportReport) -> str:
    detail = {
        "file": report.source[-200:],
        "read": report.read,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "invalid": report.invalid,
        "history_added": report.history_added,
        "os_user": _os_user(),
    }
    return json.dumps(detail, separators=(",", ":"), ensure_ascii=False)


def _load_pass(
    database: Database,
    spool: _Spool,
    report: ImportReport,
    errors: ErrorList,
    *,
    skip_invalid: bool,
    actor: str,
    progress: ImportProgress,
) -> None:
    now = utcnow()
    audit = get_audit_service()
    session = database.session_factory()
    try:
        repo = RegisterImportRepository(session)
        repo.begin()
        progress.task("Staging", report.valid)
        staged = 0
        for persons, previous in spool.read():
            repo.stage(persons, previous)
            staged += len(persons)
            progress.update(completed=staged, description=f"Staging: {staged:,} lines")
        progress.task("Checking duplicates and conflicts", None)
        repo.lock_and_index()
        repo.find_conflicts()
        rejected = repo.count_rejected_lines()
        errors.count += rejected
        errors.keep(_group_rejects(repo.rejected_lines(errors.limit)))
        report.invalid = errors.count
        if report.invalid and not skip_invalid:
            session.rollback()
            with database.session() as audit_session:
                audit.record(
                    audit_session,
                    actor=actor,
                    action=AUDIT_ACTION,
                    outcome="refused",
                    detail=_audit_detail(report),
                )
            return
        if rejected:
            repo.drop_rejected()
            staged = repo.count_staged()
        progress.task("Writing the register", None)
        report.updated = repo.update_changed(now)
        report.inserted = repo.insert_new(now)
        report.history_added = repo.insert_history(now)
        report.unchanged = staged - report.updated - report.inserted
        repo.drop_staging()
        audit.record(
            session,
            actor=actor,
            action=AUDIT_ACTION,
            outcome="partial" if report.invalid else "success",
            detail=_audit_detail(report),
        )
        session.commit()
        report.committed = True
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def import_register(
    database: Database,
    source: Path | str | TextIO,
    *,
    skip_invalid: bool = False,
    progress: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    actor: str = "cli:registry-import",
    workers: int = 1,
    max_errors: int = MAX_ERRORS,
    source_name: str | None = None,
) -> ImportReport:
    """Import a register CSV file (path or text stream) into ``database``; see the module doc.

    Invalid lines are not raised: they are counted in ``report.invalid`` and the first
    ``max_errors`` listed in ``report.errors`` as ``(line number, reason)``. Without
    ``skip_invalid`` any invalid line means nothing is imported (``report.committed`` is False).
    Raises ``BadRequest(code="invalid_header")`` for a missing or wrong header, ``OSError`` when the
    file cannot be read, and database errors as they come (the transaction is rolled back).
    ``workers`` > 1 validates on that many processes (POSIX fork). A text stream should be opened
    with ``newline=""`` (the csv module's requirement for quoted line breaks).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        raise ValueError("several validation workers need a POSIX system (fork)")
    started = time.perf_counter()
    get_places()  # load the COG once, before any worker is forked
    with ExitStack() as stack:
        opened = stack.enter_context(open_csv_source(source, source_name))
        report = ImportReport(source=opened.name)
        spool = _Spool()
        stack.callback(spool.close)
        errors = ErrorList(max_errors)
        pool = None
        if workers > 1:
            pool = _start_workers(workers)
            stack.callback(pool.shutdown, cancel_futures=True)
        display = stack.enter_context(ImportProgress(progress))
        _validation_pass(
            opened,
            spool,
            report,
            errors,
            batch_size=batch_size,
            pool=pool,
            workers=workers,
            progress=display,
        )
        report.invalid = errors.count
        report.validation_seconds = time.perf_counter() - started
        loading = time.perf_counter()
        _load_pass(
            database,
            spool,
            report,
            errors,
            skip_invalid=skip_invalid,
            actor=actor,
            progress=display,
        )
        report.load_seconds = time.perf_counter() - loading
    report.errors = errors.first()
    report.invalid = errors.count
    report.seconds = time.perf_counter() - started
    return report
