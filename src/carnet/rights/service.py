"""Use cases of the rights domain: the ADRi-like query and the reads other domains build on.

For other domains (cards, apCV), on every card reading, unaudited (the caller audits its own
access, in the same transaction), one or two indexed Core statements each:

* ``rights_service.rights_at(session, person_id, on) -> RightsView | None``: the coverage of a
  beneficiary on a day, with its active special situations; None when not covered that day;
* ``rights_service.dependants_of(session, insured_person_id, on) -> list[Dependant]``: the other
  persons attached to an insured person and covered that day;
* ``rights_service.is_attached(session, person_id, insured_person_id, on) -> bool``: whether the
  person is covered that day as attached to this insured person (true for the insured person
  themselves, attached to themselves);
* ``rights_service.household_at(session, person_id, on) -> Household``: the person's own coverage
  that day and their dependants, with names (two statements: the card-reading hot path);
* ``rights_service.dependant_ids(session, insured_person_id, on) -> list[int]``: the keys only.

Names, matricules and birth dates come from the register through ``identity.service``
(``register_names``, one bulk statement), never from its tables.

The query (``POST /api/v1/rights/query``) follows ADRi (domain.md §7.1): the caller gives a NIR,
the beneficiary's birth date and optionally the birth rank. The NIR is the beneficiary's own, or
the insured person's (ouvrant droit) for a dependant (ADRi's ``NIRcertifie`` or ``NIRassure``):
when the birth date is not the NIR holder's, the beneficiary is the dependant of that holder with
this birth date and rank (default 1, as ADRi's ``RangdeNaissance``). Unknown NIR, birth date
mismatch and unknown rank all answer the same "not found", so that the answer does not reveal
which one was wrong. Every query is audited (``rights.read``), found or not.

Validity window: ADRi returns a one-year period within which a billing package may rely on the
answer (§7.1); here it is the reference date up to one year later (the day before the same date
next year), cut at the end of the coverage period.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from carnet.audit import get_audit_service
from carnet.auth.principal import Principal
from carnet.exceptions import AppError, Conflict, NotFound
from carnet.identity import service as identity_service
from carnet.identity.nir import parse_matricule
from carnet.identity.service import RegisterNames
from carnet.identity.traits import PartialDate
from carnet.rights import codes, schemas
from carnet.rights.repository import RightsRepository

AUDIT_ACTION = "rights.read"
# HL7 PurposeOfUse "healthcare payment": ADRi serves billing.
AUDIT_PURPOSE = "HPAYMT"

NOT_FOUND_MESSAGE = (
    "no beneficiary matches this NIR, birth date and rank (the NIR may be the beneficiary's own "
    "or the insured person's)"
)
REASONS = {
    "no_coverage_at_date": "the beneficiary has no coverage period at the reference date",
    "no_coverage": "no coverage is recorded for this beneficiary",
}


@dataclass(frozen=True, slots=True)
class ActiveSituation:
    """A special situation active on the day asked."""

    code: str
    label: str
    start: date
    end: date | None
    # ALD: the ALD number when known; C2S: whether with a financial participation.
    ald_number: int | None = None
    participation: bool | None = None


@dataclass(frozen=True, slots=True)
class RightsView:
    """A beneficiary's coverage on one day (``on``)."""

    on: date
    person_id: int
    matricule: str
    birth_name: str
    first_names: tuple[str, ...]
    used_name: str | None
    used_first_name: str | None
    sex: str
    birth_date: str  # the register's form, "YYYY-MM-DD" with 00 for unknown parts
    insured_person_id: int
    insured_matricule: str
    quality: str
    quality_label: str
    rank: int
    regime: str
    regime_label: str
    fund: str
    centre: str
    start: date
    end: date | None
    situations: tuple[ActiveSituation, ...]
    validity_start: date
    validity_end: date

    @property
    def is_insured(self) -> bool:
        return self.person_id == self.insured_person_id


@dataclass(frozen=True, slots=True)
class Dependant:
    """A person attached to an insured person (not the insured person themselves)."""

    person_id: int
    matricule: str
    quality: str
    quality_label: str
    rank: int
    birth_name: str
    first_names: tuple[str, ...]
    used_name: str | None
    sex: str
    birth_date: str


@dataclass(frozen=True, slots=True)
class Household:
    """A person's coverage on a day and the persons attached to them (``household_at``).

    ``person``: the person's register names (None if not in the register); ``rank``/``quality``:
    their own coverage that day (None: not covered); ``dependants``: as ``dependants_of``.
    """

    on: date
    person_id: int
    person: RegisterNames | None
    quality: str | None
    rank: int | None
    dependants: tuple[Dependant, ...]


def _dependant(row: Row[Any], names: RegisterNames) -> Dependant:
    return Dependant(
        person_id=int(row.person_id),
        matricule=names.matricule,
        quality=row.quality,
        quality_label=_label(codes.QUALITIES, row.quality),
        rank=int(row.rank),
        birth_name=names.birth_name,
        first_names=names.first_names,
        used_name=names.used_name,
        sex=names.sex,
        birth_date=names.birth_date,
    )


def _dependants(rows: Sequence[Row[Any]], names: dict[int, RegisterNames]) -> tuple[Dependant, ...]:
    # Ordered by birth date, then rank (twins), then person key. A person missing from the
    # register (never, with the foreign keys) is left out.
    found = [_dependant(r, names[int(r.person_id)]) for r in rows if int(r.person_id) in names]
    return tuple(sorted(found, key=lambda d: (d.birth_date, d.rank, d.person_id)))


def _label(table: dict[str, codes.Code], code: str) -> str:
    # A code stored before it was removed from the configured table still reads.
    entry = table.get(code)
    return entry.label if entry is not None else f"code {code}"


def local_today() -> date:
    return datetime.now(UTC).astimezone().date()


def one_year_later(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def validity_window(on: date, end: date | None) -> tuple[date, date]:
    last = one_year_later(on) - timedelta(days=1)
    return on, min(last, end) if end is not None else last


def _situation(row: Row[Any]) -> ActiveSituation:
    code, qualifier = row.situation_code, row.situation_qualifier
    ald = int(qualifier) if code == codes.ALD and qualifier else None
    participation = (qualifier == codes.C2S_PARTICIPATION) if code == codes.C2S else None
    return ActiveSituation(
        code=code,
        label=_label(codes.SITUATIONS, code),
        start=row.situation_start,
        end=row.situation_end,
        ald_number=ald,
        participation=participation,
    )


def _audit(
    session: Session,
    principal: Principal,
    person_id: int | None,
    *,
    outcome: str,
    detail: str,
) -> None:
    get_audit_service().record(
        session,
        actor=principal.actor,
        action=AUDIT_ACTION,
        person_id=person_id,
        resource=f"Person/{person_id}" if person_id is not None else None,
        purpose=AUDIT_PURPOSE,
        outcome=outcome,
        detail=detail,
    )


class RightsService:
    # -- reads for other domains (hot path, unaudited) ------------------------------------------

    def rights_at(self, session: Session, person_id: int, on: date) -> RightsView | None:
        rows = RightsRepository(session).coverage_at(person_id, on)
        if not rows:
            return None
        row = rows[0]
        # Periods never overlap: every row is the same period (one per active situation).
        situations = tuple(
            _situation(r) for r in rows if r.id == row.id and r.situation_code is not None
        )
        insured = int(row.insured_person_id)
        names = identity_service.register_names(session, (person_id, insured))
        person = names.get(int(row.person_id))
        insured_names = names.get(insured)
        if person is None or insured_names is None:  # never, with the foreign keys
            return None
        validity_start, validity_end = validity_window(on, row.end_date)
        return RightsView(
            on=on,
            person_id=int(row.person_id),
            matricule=person.matricule,
            birth_name=person.birth_name,
            first_names=person.first_names,
            used_name=person.used_name,
            used_first_name=person.used_first_name,
            sex=person.sex,
            birth_date=person.birth_date,
            insured_person_id=insured,
            insured_matricule=insured_names.matricule,
            quality=row.quality,
            quality_label=_label(codes.QUALITIES, row.quality),
            rank=int(row.rank),
            regime=row.regime,
            regime_label=_label(codes.REGIMES, row.regime),
            fund=row.fund,
            centre=row.centre,
            start=row.start_date,
            end=row.end_date,
            situations=situations,
            validity_start=validity_start,
            validity_end=validity_end,
        )

    def dependants_of(self, session: Session, insured_person_id: int, on: date) -> list[Dependant]:
        rows = RightsRepository(session).dependants_at(insured_person_id, on)
        if not rows:
            return []
        names = identity_service.register_names(session, (int(r.person_id) for r in rows))
        return list(_dependants(rows, names))

    def dependant_ids(self, session: Session, insured_person_id: int, on: date) -> list[int]:
        """The person keys of ``dependants_of`` (no names: one statement), in key order."""
        rows = RightsRepository(session).dependants_at(insured_person_id, on)
        return sorted({int(r.person_id) for r in rows})

    def household_at(self, session: Session, person_id: int, on: date) -> Household:
        """The person's own coverage that day and their dependants (as ``dependants_of``), with
        everyone's register names: two statements (the card-reading hot path)."""
        rows = RightsRepository(session).household_at(person_id, on)
        own = next((r for r in rows if int(r.person_id) == person_id), None)
        attached = [
            r
            for r in rows
            if int(r.insured_person_id) == person_id and int(r.person_id) != person_id
        ]
        names = identity_service.register_names(
            session, [person_id, *(int(r.person_id) for r in attached)]
        )
        return Household(
            on=on,
            person_id=person_id,
            person=names.get(person_id),
            quality=own.quality if own is not None else None,
            rank=int(own.rank) if own is not None else None,
            dependants=_dependants(attached, names),
        )

    def representatives_at(
        self, session: Session, person_ids: Iterable[int], on: date
    ) -> dict[int, tuple[int, ...]]:
        """For each of these persons, the insured persons they are attached to on ``on`` (a
        child's parents), in key order; persons attached to nobody else are left out. One
        statement for the whole batch (the information job, the access notices); whether the
        person is a minor is the caller's question."""
        ids = sorted(set(person_ids))
        found: dict[int, set[int]] = {}
        for person, insured in RightsRepository(session).insured_of(ids, on):
            found.setdefault(person, set()).add(insured)
        return {person: tuple(sorted(insured)) for person, insured in found.items()}

    def is_attached(
        self, session: Session, person_id: int, insured_person_id: int, on: date
    ) -> bool:
        return RightsRepository(session).is_attached(person_id, insured_person_id, on)

    # -- the ADRi-like query (audited) ------------------------------------------------------------

    def query(
        self, session: Session, principal: Principal, body: schemas.RightsQuery
    ) -> schemas.RightsAnswer | AppError:
        """Answer a rights query, or return (not raise) the error to answer, so that the audit
        event of a refused query is committed with the unit of work."""
        matricule = parse_matricule(body.nir, field="nir")
        birth_date = PartialDate.parse(body.birth_date, field="birth_date").isoformat()
        on = body.reference_date or local_today()
        repo = RightsRepository(session)
        detail = f"reference_date={on.isoformat()}"
        holder = identity_service.register_names_by_matricule(session, matricule.value)
        if holder is None:
            _audit(session, principal, None, outcome="none", detail=detail)
            return NotFound(NOT_FOUND_MESSAGE, code="beneficiary_not_found")
        beneficiary: RegisterNames | None
        if holder.birth_date == birth_date:
            beneficiary = holder
        else:
            # The NIR is the insured person's: their dependant with this birth date and rank.
            ranked = repo.attached_with_rank(holder.person_id, body.rank or 1)
            registered = identity_service.register_names(session, ranked)
            all_candidates = [
                c for c in ranked if c in registered and registered[c].birth_date == birth_date
            ]
            candidates = all_candidates
            if len(candidates) > 1:
                # Over different times (never overlapping, the import sees to it): the one
                # attached at the reference date.
                candidates = [c for c in candidates if repo.is_attached(c, holder.person_id, on)]
            if len(candidates) > 1 or (not candidates and len(all_candidates) > 1):
                _audit(session, principal, holder.person_id, outcome="conflict", detail=detail)
                return Conflict(
                    "several beneficiaries of this insured person share this birth date and "
                    "rank: query with the beneficiary's own NIR",
                    code="ambiguous_beneficiary",
                )
            beneficiary = registered[candidates[0]] if candidates else None
        view = self.rights_at(session, beneficiary.person_id, on) if beneficiary else None
        if beneficiary is None or (
            view is not None and body.rank is not None and view.rank != body.rank
        ):
            # The holder's id is recorded: someone tried their NIR (their access history shows
            # it); the answer says nothing of what did not match.
            _audit(session, principal, holder.person_id, outcome="none", detail=detail)
            return NotFound(NOT_FOUND_MESSAGE, code="beneficiary_not_found")
        person_id = beneficiary.person_id
        if view is None:
            reason = "no_coverage_at_date" if repo.has_coverage(person_id) else "no_coverage"
            _audit(
                session, principal, person_id, outcome="success", detail=f"{detail} covered=false"
            )
            return schemas.RightsAnswer(
                reference_date=on,
                covered=False,
                reason=reason,
                reason_message=REASONS[reason],
                beneficiary=_beneficiary(beneficiary),
            )
        _audit(session, principal, person_id, outcome="success", detail=f"{detail} covered=true")
        return answer_from_view(view, beneficiary)


def _beneficiary(names: RegisterNames) -> schemas.Beneficiary:
    return schemas.Beneficiary(
        matricule=names.matricule,
        kind=names.kind,
        birth_name=names.birth_name,
        first_names=list(names.first_names),
        used_name=names.used_name,
        used_first_name=names.used_first_name,
        sex=names.sex,
        birth_date=names.birth_date,
    )


def answer_from_view(view: RightsView, beneficiary: RegisterNames) -> schemas.RightsAnswer:
    return schemas.RightsAnswer(
        reference_date=view.on,
        covered=True,
        beneficiary=_beneficiary(beneficiary),
        insured=schemas.Insured(matricule=view.insured_matricule),
        quality=schemas.CodeLabel(code=view.quality, label=view.quality_label),
        rank=view.rank,
        regime=schemas.CodeLabel(code=view.regime, label=view.regime_label),
        fund=view.fund,
        centre=view.centre,
        coverage=schemas.Period(start=view.start, end=view.end),
        situations=[
            schemas.SituationOut(
                code=s.code,
                label=s.label,
                start=s.start,
                end=s.end,
                ald_number=s.ald_number,
                participation=s.participation,
            )
            for s in view.situations
        ],
        validity=schemas.Period(start=view.validity_start, end=view.validity_end),
    )


rights_service = RightsService()
