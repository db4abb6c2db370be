"""Bulk load of health-insurance rights from a CSV file (``carnet rights import``).

File format: UTF-8 (a BOM is accepted), comma-separated, RFC 4180 quoting, and the header line
exactly ``nir,birth_date,rank,insured_nir,quality,regime,fund,centre,start,end,situations``. One
line is one coverage period of one beneficiary:

* ``nir``: the beneficiary's matricule (NIR or NIA, 15 characters, spaces allowed); it must be
  held by a person of the register, now or before (a NIA replaced by a NIR still resolves);
* ``birth_date``: the beneficiary's birth date, exactly as the register has it (``YYYY-MM-DD``,
  ``00`` for an unknown month or day): a check that the line names the right person;
* ``rank``: birth rank, 1 to 9 (twins: 1, 2…); empty means 1;
* ``insured_nir``: the insured person (ouvrant droit) the beneficiary is attached to; empty for
  the insured person themselves;
* ``quality``: ``00`` (or ``assure``) insured person, ``02`` (``conjoint``) spouse, ``06``
  (``enfant``) child, ``09`` (``autre``) other dependant; empty means ``00``. ``00`` if and only if
  the beneficiary is the insured person;
* ``regime``: the scheme code, 2 digits (``carnet rights codes`` lists them); ``fund``: the fund
  (caisse), 3 digits; ``centre``: the centre, 4 digits;
* ``start``, ``end``: the period, ``YYYY-MM-DD``, both days included; an empty ``end`` means open;
* ``situations``: special situations during the period, space-separated, each
  ``CODE[/QUALIFIER]:START:END`` (``END`` empty = open). Codes: ``ALD`` (qualifier: the ALD
  number 1-32, optional), ``C2S`` (qualifier ``P``: with a financial participation), ``MAT``,
  ``INV``, ``AME``, ``AT``. Example: ``ALD/15:2026-01-01:2030-12-31 C2S/P:2026-01-01:``. A
  situation lies within its period; two situations of one code on a line do not overlap.

Empty lines (and lines of blanks and commas only) are ignored.

Identity of a period: the beneficiary and ``start``. Re-importing a line updates that period
(and replaces its situations): a re-import of the same file changes nothing, and never adds a
duplicate. A change of fund or of attachment is a new line with a new ``start``; the earlier
period must end before it, so the file closes it by repeating its line with an ``end``. Periods of
one beneficiary never overlap, whether both are in the file or one is already registered (a
registered period repeated in the file with the same ``start`` is compared in its new form).
Two beneficiaries of one insured person with the same birth date need distinct ranks over
overlapping periods (ADRi tells them apart by insured NIR, birth date and rank). Periods absent
from the file are left alone. A dependant's line does not require the insured person's own
period (it may come in another file).

How it runs (mirrors ``carnet registry import``): lines are read and validated as a stream and
staged in batches in temporary tables, in ONE transaction; the rules that need the register or
other lines are checked in SQL; then the periods are updated and inserted with a few set-based
statements, and one audit event is recorded (action ``rights.import``; the operator's bulk
maintenance of reference data, not an access to one person's data: see
``carnet.identity.importer``). Any invalid line, without ``skip_invalid``, rolls everything back
and every invalid line is reported with its number and reason. With ``skip_invalid`` the valid
lines are imported; since refusing a line can make another one overlap a registered period that
it no longer replaces, the period rules are then checked among the remaining lines again and
again until no line is refused (without ``skip_invalid``, every line is compared with every
other once, so that every problem is listed).

Error messages never contain a matricule: lines are named by their number.
"""

from __future__ import annotations

import io
import json
import re
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from carnet.audit import get_audit_service
from carnet.db import Database, utcnow
from carnet.exceptions import BadRequest, ValidationFailed
from carnet.identity.nir import parse_matricule
from carnet.identity.traits import PartialDate
from carnet.kit.csv_source import (
    COLUMN_NAME,
    ErrorList,
    LineError,
    RawLine,
    open_csv_source,
    read_csv_lines,
)
from carnet.rights import codes
from carnet.rights import repository as repo_module
from carnet.rights.repository import RejectedLine, RightsImportRepository

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "HEADER",
    "MAX_ERRORS",
    "ImportReport",
    "import_rights",
    "parse_situations",
]

HEADER: tuple[str, ...] = (
    "nir",
    "birth_date",
    "rank",
    "insured_nir",
    "quality",
    "regime",
    "fund",
    "centre",
    "start",
    "end",
    "situations",
)
DEFAULT_BATCH_SIZE = 10_000
MAX_ERRORS = 1_000
MAX_SITUATIONS = 20
AUDIT_ACTION = "rights.import"

LineRow = tuple[Any, ...]  # repository.LINE_COLUMNS order
SituationRow = tuple[Any, ...]  # repository.SITUATION_COLUMNS order


@dataclass
class ImportReport:
    """The outcome of an import. ``errors`` holds the first ``max_errors`` invalid lines."""

    source: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    errors: list[LineError] = field(default_factory=list)
    committed: bool = False
    seconds: float = 0.0

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
            "seconds": round(self.seconds, 3),
        }


# ------------------------------------------------------------------------------------------------
# Validation of one line
# ------------------------------------------------------------------------------------------------

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FUND = re.compile(r"\d{3}")
_CENTRE = re.compile(r"\d{4}")
_SITUATION_FORMAT = "CODE[/QUALIFIER]:START:END (END empty for an open situation)"


def _fail(message: str, code: str = "invalid_rights_line") -> ValidationFailed:
    return ValidationFailed(message, code=code)


def parse_day(text: str, *, field: str) -> date:
    """A full calendar date, ``YYYY-MM-DD``."""
    value = text.strip()
    if not _DATE.fullmatch(value):
        raise _fail(f"{field}: {value!r} is not a date in the format YYYY-MM-DD", "invalid_date")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{field}: {value} is not a calendar date", "invalid_date") from None


def _quality(raw: str, *, is_self: bool) -> str:
    value = raw.strip()
    if not value:
        if not is_self:
            raise _fail("quality: required for a dependant (insured_nir names another person)")
        return codes.QUALITY_INSURED
    if value in codes.QUALITIES:
        return value
    word = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    if word in codes.QUALITY_WORDS:
        return codes.QUALITY_WORDS[word]
    allowed = ", ".join(f"{c} ({w})" for w, c in codes.QUALITY_WORDS.items())
    raise _fail(f"quality: unknown quality {value!r} (expected one of {allowed})")


def _rank(raw: str) -> int:
    value = raw.strip()
    if not value:
        return 1
    if not value.isdigit() or int(value) not in codes.RANKS:
        raise _fail(f"rank: {value!r} is not a birth rank (1 to 9)")
    return int(value)


@dataclass(frozen=True)
class ParsedSituation:
    code: str
    qualifier: str
    start: date
    end: date | None


def _qualifier(code: str, qualifier: str | None, *, position: int) -> str:
    where = f"situations #{position} ({code})"
    if qualifier is None:
        return ""
    if code == codes.ALD:
        if not qualifier.isdigit() or int(qualifier) not in codes.ALD_NUMBERS:
            raise _fail(f"{where}: the ALD number must be 1 to 32, not {qualifier!r}")
        return str(int(qualifier))
    if code == codes.C2S:
        if qualifier.upper() != codes.C2S_PARTICIPATION:
            raise _fail(f"{where}: the only qualifier is P (with a financial participation)")
        return codes.C2S_PARTICIPATION
    raise _fail(f"{where}: takes no qualifier")


def parse_situations(text: str, *, start: date, end: date | None) -> list[ParsedSituation]:
    """Parse the ``situations`` field of a line whose period is ``start``..``end``."""
    tokens = text.split()
    if len(tokens) > MAX_SITUATIONS:
        raise _fail(f"situations: at most {MAX_SITUATIONS} per line, found {len(tokens)}")
    parsed: list[ParsedSituation] = []
    for position, token in enumerate(tokens, start=1):
        parts = token.split(":")
        if len(parts) != 3:
            raise _fail(f"situations #{position}: expected {_SITUATION_FORMAT}, found {token!r}")
        head, first, last = parts
        code, slash, qualifier = head.partition("/")
        code = code.upper()
        if code not in codes.SITUATIONS:
            known = ", ".join(codes.SITUATIONS)
            raise _fail(f"situations #{position}: unknown code {code!r} (expected one of {known})")
        value = _qualifier(code, qualifier if slash else None, position=position)
        where = f"situations #{position} ({code})"
        s_start = parse_day(first, field=f"{where} start")
        s_end = parse_day(last, field=f"{where} end") if last.strip() else None
        if s_end is not None and s_end < s_start:
            raise _fail(f"{where}: ends before it starts", "invalid_period")
        if s_start < start or (end is not None and (s_end is None or s_end > end)):
            raise _fail(f"{where}: outside the coverage period", "invalid_period")
        for index, other in enumerate(parsed, start=1):
            if other.code == code and _overlaps(other.start, other.end, s_start, s_end):
                raise _fail(
                    f"{where}: overlaps situation #{index} of the same code", "invalid_period"
                )
        parsed.append(ParsedSituation(code, value, s_start, s_end))
    return parsed


def _overlaps(a_start: date, a_end: date | None, b_start: date, b_end: date | None) -> bool:
    return a_start <= (b_end or date.max) and b_start <= (a_end or date.max)


def validate_line(line_no: int, fields: list[str]) -> tuple[LineRow, list[SituationRow]]:
    """Validate one line completely, as far as it can be without the register or other lines."""
    if len(fields) != len(HEADER):
        raise _fail(f"expected {len(HEADER)} comma-separated fields, found {len(fields)}")
    if any("\ufffd" in value for value in fields):
        raise _fail("the line is not valid UTF-8 (the file must be encoded in UTF-8)")
    values = dict(zip(HEADER, fields, strict=True))
    nir = parse_matricule(values["nir"], field="nir").value
    insured = (
        parse_matricule(values["insured_nir"], field="insured_nir").value
        if values["insured_nir"].strip()
        else nir
    )
    birth_date = PartialDate.parse(values["birth_date"], field="birth_date").isoformat()
    rank = _rank(values["rank"])
    quality = _quality(values["quality"], is_self=insured == nir)
    if quality != codes.QUALITY_INSURED and insured == nir:
        raise _fail(
            f"quality: {quality} is a dependant's quality: insured_nir must name the insured "
            "person (leave it empty, or use 00, for the insured person themselves)"
        )
    regime = values["regime"].strip()
    if regime not in codes.REGIMES:
        raise _fail(
            f"regime: unknown scheme code {regime!r} (see `carnet rights codes`)",
            "invalid_regime",
        )
    fund = values["fund"].strip()
    if not _FUND.fullmatch(fund):
        raise _fail(f"fund: {fund!r} is not a fund code (3 digits)")
    centre = values["centre"].strip()
    if not _CENTRE.fullmatch(centre):
        raise _fail(f"centre: {centre!r} is not a centre code (4 digits)")
    start = parse_day(values["start"], field="start")
    end = parse_day(values["end"], field="end") if values["end"].strip() else None
    if end is not None and end < start:
        raise _fail("end: before start", "invalid_period")
    situations = parse_situations(values["situations"], start=start, end=end)
    row: LineRow = (
        line_no,
        nir,
        insured,
        birth_date,
        rank,
        quality,
        regime,
        fund,
        centre,
        start.isoformat(),
        end.isoformat() if end is not None else None,
    )
    situation_rows: list[SituationRow] = [
        (
            line_no,
            s.code,
            s.qualifier,
            s.start.isoformat(),
            s.end.isoformat() if s.end is not None else None,
        )
        for s in situations
    ]
    return row, situation_rows


# ------------------------------------------------------------------------------------------------
# Reading the file
# ------------------------------------------------------------------------------------------------


def _header_error(found: list[str]) -> BadRequest:
    expected = ",".join(HEADER)
    names = [value.strip() for value in found]
    # Echo what was found only when it looks like column names (never a person's line).
    if all(COLUMN_NAME.fullmatch(name) for name in names):
        shown = f"found '{','.join(names)}'"
    else:
        shown = "the first line is not a header (is the header line missing?)"
    missing = [column for column in HEADER if column not in names]
    hint = f" (missing: {', '.join(missing)})" if missing else ""
    if len(found) == 1 and (";" in found[0] or "\t" in found[0]):
        hint = " (the separator must be a comma)"
    return BadRequest(
        f"invalid header: expected exactly '{expected}'; {shown}{hint}", code="invalid_header"
    )


def _read_lines(stream: TextIO) -> Iterator[RawLine]:
    return read_csv_lines(stream, HEADER, _header_error)


def _period(start: date | None, end: date | None) -> str:
    return f"{start.isoformat() if start else '?'}..{end.isoformat() if end else 'open'}"


def _describe(rule: RejectedLine) -> str:
    registered = _period(rule.other_start, rule.other_end)
    messages = {
        repo_module.RULE_UNKNOWN_NIR: "nir: no person of the register holds this matricule",
        repo_module.RULE_UNKNOWN_INSURED: (
            "insured_nir: no person of the register holds this matricule"
        ),
        repo_module.RULE_BIRTH_DATE: (
            "birth_date: differs from the register's birth date of this person"
        ),
        repo_module.RULE_INSURED_NOT_SELF: (
            "quality: 00 (insured person) but insured_nir names another person"
        ),
        repo_module.RULE_DEPENDANT_SELF: (
            "insured_nir: names the beneficiary themselves, but the quality is a dependant's"
        ),
        repo_module.RULE_DUPLICATE: (
            f"start: the same beneficiary and start are also on line {rule.other_line}"
        ),
        repo_module.RULE_OVERLAP_IN_FILE: (
            f"start/end: overlaps the period of the same beneficiary on line {rule.other_line}"
        ),
        repo_module.RULE_OVERLAP_REGISTERED: (
            f"start/end: overlaps the registered period {registered} of this beneficiary "
            "(close it by repeating its line with an end, or fix the dates)"
        ),
        repo_module.RULE_RANK_IN_FILE: (
            f"rank: line {rule.other_line} attaches another beneficiary with the same birth "
            "date and rank to the same insured person (twins need distinct ranks)"
        ),
        repo_module.RULE_RANK_REGISTERED: (
            f"rank: another beneficiary with the same birth date and rank is attached to the "
            f"same insured person over {registered} (twins need distinct ranks)"
        ),
    }
    return messages.get(rule.rule, f"rejected ({rule.rule})")


def _group_rejects(rows: list[RejectedLine]) -> list[LineError]:
    by_line: dict[int, list[str]] = {}
    for row in rows:
        message = _describe(row)
        if message not in by_line.setdefault(row.line_no, []):
            by_line[row.line_no].append(message)
    return [(line_no, "; ".join(messages)) for line_no, messages in sorted(by_line.items())]


def _audit_detail(report: ImportReport) -> str:
    detail = {
        "file": report.source[-200:],
        "read": report.read,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "invalid": report.invalid,
    }
    return json.dumps(detail, separators=(",", ":"), ensure_ascii=False)


# ------------------------------------------------------------------------------------------------
# The import
# ------------------------------------------------------------------------------------------------


def import_rights(
    database: Database,
    source: Path | str | TextIO,
    *,
    skip_invalid: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    actor: str = "cli:rights-import",
    max_errors: int = MAX_ERRORS,
    source_name: str | None = None,
) -> ImportReport:
    """Import a rights CSV file (path or text stream) into ``database``; see the module doc.

    Invalid lines are not raised: they are counted in ``report.invalid`` and the first
    ``max_errors`` listed in ``report.errors`` as ``(line number, reason)``; without
    ``skip_invalid`` any of them means nothing is imported (``report.committed`` is False).
    Raises ``BadRequest(code="invalid_header")`` for a missing or wrong header, ``OSError`` when
    the file cannot be read, and database errors as they come (everything is rolled back). A text
    stream should be opened with ``newline=""``.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    now = utcnow()
    audit = get_audit_service()
    with open_csv_source(source, source_name) as opened:
        stream = opened.stream
        report = ImportReport(source=opened.name)
        errors = ErrorList(max_errors)
        session = database.session_factory()
        try:
            repo = RightsImportRepository(session)
            repo.begin()
            lines: list[LineRow] = []
            situations: list[SituationRow] = []
            for line_no, fields, problem in _read_lines(stream):
                report.read += 1
                if fields is None:
                    errors.add((line_no, problem or "unreadable line"))
                    continue
                try:
                    row, row_situations = validate_line(line_no, fields)
                except ValidationFailed as exc:
                    errors.add((line_no, exc.message))
                    continue
                lines.append(row)
                situations.extend(row_situations)
                if len(lines) >= batch_size:
                    repo.stage(lines, situations)
                    lines.clear()
                    situations.clear()
            repo.stage(lines, situations)
            repo.lock_and_index()
            repo.analyse()
            repo.resolve()
            repo.find_line_conflicts()
            refused = repo.find_period_conflicts(all_lines=not skip_invalid)
            while skip_invalid and refused:
                refused = repo.find_period_conflicts(all_lines=False)
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
                return _finish(report, errors, started)
            if rejected:
                repo.drop_rejected()
            staged = repo.count_staged()
            report.updated = repo.update_changed(now)
            report.inserted = repo.insert_new(now)
            repo.insert_situations()
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
    return _finish(report, errors, started)


def _finish(report: ImportReport, errors: ErrorList, started: float) -> ImportReport:
    report.errors = errors.first()
    report.invalid = errors.count
    report.seconds = time.perf_counter() - started
    return report


def read_text(text: str) -> TextIO:
    """A text stream over ``text``, as ``import_rights`` wants it (for tests and the demo)."""
    return io.StringIO(text, newline="")
