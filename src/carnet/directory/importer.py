"""Bulk load of the directory of professionals from a CSV file (``carnet directory import``).

File format: UTF-8 (a BOM is accepted), comma-separated, RFC 4180 quoting, and the header line
exactly ``rpps,idnat_ps,family_name,given_name,profession,specialty,structure_identifier,
structure_name,commune,active``; one line per professional × place of practice (a professional
with three places has three lines, repeating the professional's columns). Empty lines (and lines
of blanks and commas only) are ignored. Sample: ``docs/samples/directory.csv``.

* ``rpps``: 11 digits (blanks allowed: ``1001 2345 678``); empty for a professional without an
  RPPS number (known by an ADELI-based idNat_PS).
* ``idnat_ps``: the national professional id. For an RPPS holder it is ``8`` + RPPS: checked when
  given, derived when empty. Required without an RPPS (and then not of type ``8``).
* ``family_name``, ``given_name``: as practised (exercise names), required, 100 characters max.
* ``profession``: TRE_G15 code (10 Médecin, 21 Pharmacien, 40 Chirurgien-dentiste, 50
  Sage-femme, 60 Infirmier, 70 Masseur-kinésithérapeute, 80 Pédicure-podologue, 93 Psychologue…:
  ``carnet directory professions`` lists them); an unknown code makes the line invalid.
* ``specialty``: TRE_R38 code (``SM54`` Médecine générale…), optional; an unknown but
  well-formed code is kept, without a label.
* ``structure_identifier``: FINESS (9 characters) or SIRET (14 digits, valid key) of the place of
  practice; empty for a professional listed without a place. ``structure_name`` is required with
  it (and only with it); ``commune`` is optional.
* ``active``: ``1``/``0`` (also true/false, oui/non, yes/no); empty means active.

A structure the platform does not know is created (identity-vigilance's ``structures``, through
``carnet.vigilance.service.ensure_structures``), named as on its first line; an existing one keeps
its name, while the place of practice keeps the name the directory gives.

The file is the directory's source of truth for the professionals it lists: a re-import updates
their columns and makes their places of practice exactly those of the file (places no longer
listed are removed); professionals absent from the file are left alone (deactivate one with a
line ``active=0``). Re-importing the same file changes nothing (idempotent).

Rules across lines (a line that breaks one is invalid; with ``skip_invalid`` it is skipped):

* the lines of one professional (same idNat_PS) must agree on every professional column: if they
  do not, all the lines of that professional are refused, since nothing tells which is right;
* the same place of practice (professional and structure identifier) on several lines: every
  occurrence is refused.

How: a validation pass streams the file, validates each line and spools the valid ones to an
anonymous temporary file; then ONE transaction stages them in temporary tables (COPY on
PostgreSQL), locks the directory against other writers, checks the cross-line rules in SQL,
resolves the structures, and merges professionals and places with set-based statements. Any
invalid line, without ``skip_invalid``, rolls everything back: nothing is imported and every
invalid line is reported with its number and reason. An import is ONE audit event
(``directory.import``: success, partial or refused), naming the file and the counts.

Counts: ``inserted`` professionals new to the directory, ``updated`` those whose columns or
places changed (``version`` + 1), ``unchanged`` the others; ``places_added``/``places_removed``;
``structures_created``.
"""

from __future__ import annotations

import functools
import getpass
import json
import marshal
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from carnet.audit import get_audit_service
from carnet.db import Database, utcnow
from carnet.directory import codes
from carnet.directory.identifiers import idnat_for, normalise_idnat_ps, normalise_rpps
from carnet.directory.names import clean_name, name_key
from carnet.directory.repository import (
    RULE_CONFLICT,
    RULE_DUPLICATE_PLACE,
    DirectoryImportRepository,
)
from carnet.directory.service import directory_service
from carnet.exceptions import AppError, BadRequest
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
from carnet.vigilance.service import ensure_structures, normalise_structure_identifier

__all__ = ["DEFAULT_BATCH_SIZE", "HEADER", "MAX_ERRORS", "ImportReport", "import_directory"]

HEADER: tuple[str, ...] = (
    "rpps",
    "idnat_ps",
    "family_name",
    "given_name",
    "profession",
    "specialty",
    "structure_identifier",
    "structure_name",
    "commune",
    "active",
)
DEFAULT_BATCH_SIZE = 10_000
MAX_ERRORS = 1_000
AUDIT_ACTION = "directory.import"
_STRUCTURE_BATCH = 1_000

LineRow = tuple[Any, ...]  # repository.LINE_COLUMNS order

_SPECIALTY_RE = re.compile(r"[A-Z]{1,5}[0-9]{1,4}")
_TRUE = frozenset({"", "1", "true", "oui", "yes", "o", "y", "vrai"})
_FALSE = frozenset({"0", "false", "non", "no", "n", "faux"})


@dataclass
class ImportReport:
    """The outcome of an import. ``errors`` holds the first ``max_errors`` invalid lines."""

    source: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    places_added: int = 0
    places_removed: int = 0
    structures_created: int = 0
    errors: list[LineError] = field(default_factory=list)
    committed: bool = False
    seconds: float = 0.0

    @property
    def valid(self) -> int:
        return self.read - self.invalid

    @property
    def errors_omitted(self) -> int:
        return max(0, self.invalid - len(self.errors))

    def summary(self) -> dict[str, int | float]:
        return {
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "invalid": self.invalid,
            "places_added": self.places_added,
            "places_removed": self.places_removed,
            "structures_created": self.structures_created,
            "seconds": round(self.seconds, 3),
        }


# ------------------------------------------------------------------------------------------------
# Validation of one line
# ------------------------------------------------------------------------------------------------


class _LineInvalid(Exception):
    pass


def _optional(value: str, *, field: str, max_length: int) -> str | None:
    if not value.strip():
        return None
    return clean_name(value, field=field, max_length=max_length)


def _profession(raw: str) -> str:
    code = raw.strip()
    if not code:
        raise ValueError("profession: required (a TRE_G15 code such as 10 for Médecin)")
    if code not in codes.PROFESSIONS:
        raise ValueError(
            f"profession: unknown TRE_G15 profession code {code[:10]!r} "
            f"(known codes: {', '.join(codes.PROFESSIONS)})"
        )
    return code


def _specialty(raw: str) -> str | None:
    code = raw.strip().upper()
    if not code:
        return None
    if _SPECIALTY_RE.fullmatch(code) is None:
        raise ValueError(f"specialty: expected a TRE_R38 code such as SM54, got {code[:12]!r}")
    return code


# A structure comes back on the line of every professional practising there, and the SIRET
# check (stdnum) is the costliest part of a line: remember the recent answers.
@functools.lru_cache(maxsize=65_536)
def _structure_identifier(raw: str) -> str | None:
    try:
        return normalise_structure_identifier(raw)
    except AppError:
        raise ValueError(
            "structure_identifier: expected a FINESS number (9 characters) or a valid SIRET "
            f"(14 digits), got {raw.strip()[:20]!r}"
        ) from None


def _active(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"active: expected 1 or 0 (true/false, oui/non), got {raw.strip()[:10]!r}")


def _validate_line(line_no: int, fields: list[str]) -> LineRow:
    if len(fields) != len(HEADER):
        raise _LineInvalid(f"expected {len(HEADER)} comma-separated fields, found {len(fields)}")
    if any("\ufffd" in value for value in fields):
        raise _LineInvalid("the line is not valid UTF-8 (the file must be encoded in UTF-8)")
    raw = dict(zip(HEADER, fields, strict=True))
    problems: list[str] = []

    def check(function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ValueError as exc:
            problems.append(str(exc))
        return None

    rpps = check(normalise_rpps, raw["rpps"])
    given_idnat = check(normalise_idnat_ps, raw["idnat_ps"])
    idnat = None
    if not problems:
        idnat = check(idnat_for, rpps, given_idnat)
    family_name = check(clean_name, raw["family_name"], field="family_name")
    given_name = check(clean_name, raw["given_name"], field="given_name")
    profession = check(_profession, raw["profession"])
    specialty = check(_specialty, raw["specialty"])
    active = check(_active, raw["active"])
    identifier = check(_structure_identifier, raw["structure_identifier"])
    structure_name = check(_optional, raw["structure_name"], field="structure_name", max_length=200)
    commune = check(_optional, raw["commune"], field="commune", max_length=100)
    if raw["structure_identifier"].strip():
        if not raw["structure_name"].strip():
            problems.append("structure_name: required with a structure_identifier")
    elif raw["structure_name"].strip() or raw["commune"].strip():
        problems.append(
            "structure_identifier: required when structure_name or commune is given "
            "(leave all three empty for a professional listed without a place)"
        )
    if problems:
        raise _LineInvalid("; ".join(problems))
    assert idnat is not None
    assert family_name is not None
    assert given_name is not None
    return (
        line_no,
        idnat,
        rpps,
        family_name,
        name_key(family_name),
        given_name,
        profession,
        specialty,
        active,
        identifier,
        structure_name,
        commune,
    )


# ------------------------------------------------------------------------------------------------
# Reading the file
# ------------------------------------------------------------------------------------------------


def _header_error(found: list[str]) -> BadRequest:
    expected = ",".join(HEADER)
    names = [value.strip() for value in found]
    missing = [column for column in HEADER if column not in names]
    if all(COLUMN_NAME.fullmatch(name) for name in names):
        shown = f"found '{','.join(names)}'"
    else:
        shown = "the first line is not a header (is the header line missing?)"
    hints = []
    if missing:
        hints.append(f"missing: {', '.join(missing)}")
    elif len(names) == len(HEADER):
        hints.append("same columns in another order")
    if len(found) == 1 and (";" in found[0] or "\t" in found[0]):
        hints.append("the separator must be a comma")
    return BadRequest(
        f"invalid header: expected exactly '{expected}'; {shown}"
        + (f" ({'; '.join(hints)})" if hints else ""),
        code="invalid_header",
    )


def _read_lines(stream: TextIO) -> Iterator[RawLine]:
    return read_csv_lines(stream, HEADER, _header_error)


# ------------------------------------------------------------------------------------------------
# Spool, error list, progress
# ------------------------------------------------------------------------------------------------


class _Spool:
    """Validated lines on disk: an anonymous temporary file, gone when closed."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="carnet-directory-")  # noqa: SIM115
        self.batches = 0

    def write(self, rows: list[LineRow]) -> None:
        marshal.dump(rows, self._file)
        self.batches += 1

    def read(self) -> Iterator[list[LineRow]]:
        self._file.flush()
        self._file.seek(0)
        for _ in range(self.batches):
            # Our own anonymous temporary file, written above by this process.
            yield marshal.load(self._file)  # noqa: S302

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
    progress: ImportProgress,
) -> None:
    batch: list[LineRow] = []
    progress.task("Validating", source.total_bytes)
    for line_no, fields, problem in _read_lines(source.stream):
        report.read += 1
        if fields is None:
            errors.add((line_no, problem or "unreadable line"))
        else:
            try:
                batch.append(_validate_line(line_no, fields))
            except _LineInvalid as exc:
                errors.add((line_no, str(exc)))
        if len(batch) >= batch_size:
            spool.write(batch)
            batch = []
        if report.read % 5_000 == 0:
            done = source.counter.count if source.counter is not None else report.read
            progress.update(
                completed=done,
                description=f"Validating: {report.read:,} lines, {errors.count:,} invalid",
            )
    if batch:
        spool.write(batch)


def _describe(rule: str, other_line: int | None) -> str:
    if rule == RULE_CONFLICT:
        return (
            f"the professional's columns differ from line {other_line} (same idnat_ps): every "
            "line of this professional is refused"
        )
    if rule == RULE_DUPLICATE_PLACE:
        return f"the same place of practice is also on line {other_line}"
    return f"rejected ({rule})"


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (containers with an arbitrary uid)
        return None


def _audit_detail(report: ImportReport) -> str:
    detail = {"file": report.source[-200:], **report.summary(), "os_user": _os_user()}
    detail.pop("seconds", None)
    return json.dumps(detail, separators=(",", ":"), ensure_ascii=False)


def _resolve_structures(repo: DirectoryImportRepository, report: ImportReport) -> None:
    """Structure ids for every identifier of the file: the directory's own, else vigilance's."""
    repo.resolve_known_structures()
    after: str | None = None
    while True:
        batch = repo.unknown_structures(after, _STRUCTURE_BATCH)
        if not batch:
            break
        ensured = ensure_structures(repo.session, batch)
        report.structures_created += sum(1 for e in ensured.values() if e.created)
        repo.add_structure_ids({identifier: e.id for identifier, e in ensured.items()})
        after = batch[-1][0]
    repo.resolve_new_structures()


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
        repo = DirectoryImportRepository(session)
        repo.begin()
        progress.task("Staging", report.valid)
        staged = 0
        for rows in spool.read():
            repo.stage(rows)
            staged += len(rows)
            progress.update(completed=staged, description=f"Staging: {staged:,} lines")
        progress.task("Checking the lines together", None)
        repo.lock_and_index()
        repo.find_conflicts()
        rejected = repo.count_rejected_lines()
        errors.count += rejected
        by_line: dict[int, list[str]] = {}
        for line_no, rule, other_line in repo.rejected_lines(errors.limit):
            by_line.setdefault(line_no, []).append(_describe(rule, other_line))
        errors.keep([(line_no, "; ".join(reasons)) for line_no, reasons in by_line.items()])
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
        progress.task("Writing the directory", None)
        _resolve_structures(repo, report)
        total = repo.stage_professionals()
        report.inserted = repo.insert_new(now)
        repo.stage_practices()
        repo.mark_changed_places()
        report.places_added, report.places_removed = repo.merge_practices()
        report.updated = repo.update_changed(now)
        report.unchanged = total - report.inserted - report.updated
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
        # Professionals deactivated or places removed take effect at once in this process
        # (other processes drop their kept answers within ACTING_CACHE_SECONDS).
        directory_service.forget_acting()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def import_directory(
    database: Database,
    source: Path | str | TextIO,
    *,
    skip_invalid: bool = False,
    progress: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    actor: str = "cli:directory-import",
    max_errors: int = MAX_ERRORS,
    source_name: str | None = None,
) -> ImportReport:
    """Import a directory CSV file (path or text stream) into ``database``; see the module doc.

    Invalid lines are not raised: they are counted in ``report.invalid`` and the first
    ``max_errors`` listed in ``report.errors`` as ``(line number, reason)``. Without
    ``skip_invalid`` any invalid line means nothing is imported (``report.committed`` is False).
    Raises ``BadRequest(code="invalid_header")`` for a missing or wrong header, ``OSError`` when the
    file cannot be read, and database errors as they come (the transaction is rolled back).
    A text stream should be opened with ``newline=""``.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    with ExitStack() as stack:
        opened = stack.enter_context(open_csv_source(source, source_name))
        report = ImportReport(source=opened.name)
        spool = _Spool()
        stack.callback(spool.close)
        errors = ErrorList(max_errors)
        display = stack.enter_context(ImportProgress(progress))
        _validation_pass(opened, spool, report, errors, batch_size=batch_size, progress=display)
        report.invalid = errors.count
        _load_pass(
            database,
            spool,
            report,
            errors,
            skip_invalid=skip_invalid,
            actor=actor,
            progress=display,
        )
    report.errors = errors.first()
    report.invalid = errors.count
    report.seconds = time.perf_counter() - started
    return report
