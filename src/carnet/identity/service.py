"""Use cases of the national identity register: validate records, INSi-like search and verify.

INSi semantics (domain.md §3): a search by traits answers 00 (exactly one identity, returned with
its INS, reference traits and history), 01 (none) or 02 (several: nothing is returned, the caller
must add first names or the birth place). Every search and every identity read is audited in the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from carnet.audit import get_audit_service
from carnet.auth.principal import Principal
from carnet.db import utcnow
from carnet.exceptions import Conflict, ValidationFailed
from carnet.identity import repository as _repository
from carnet.identity import schemas
from carnet.identity.models import Person
from carnet.identity.nir import Matricule, nir_trait_mismatches, parse_matricule
from carnet.identity.oids import OID_BY_KIND
from carnet.identity.places import get_places
from carnet.identity.repository import PersonRepository
from carnet.identity.traits import (
    PartialDate,
    normalise_first_names,
    normalise_name,
    normalise_sex,
)

SEARCH_LABELS = {
    "00": "OK: exactly one identity found",
    "01": "No identity found",
    "02": "Several identities found: add the other birth first names, then the birth place",
}


@dataclass(frozen=True)
class Traits:
    """Reference traits after normalisation, ready to compare or store."""

    birth_name: str
    first_names: list[str]
    sex: str
    birth_date: PartialDate
    birth_place: str | None


@dataclass(frozen=True)
class PersonRecord:
    """One validated register entry (from the import file or the API)."""

    matricule: Matricule
    kind: str
    traits: Traits
    used_name: str | None = None
    used_first_name: str | None = None
    death_date: PartialDate | None = None
    previous: list[Matricule] = field(default_factory=list)


def normalise_place(
    raw: str | None, *, field: str = "birth_place", required: bool = False
) -> str | None:
    value = (raw or "").strip().upper()
    if not value:
        if required:
            raise ValidationFailed(
                f"{field}: the INSEE place-of-birth code is required", code="invalid_place"
            )
        return None
    if not get_places().is_known(value):
        raise ValidationFailed(
            f"{field}: '{value}' is not an INSEE COG commune or country code",
            code="invalid_place",
            details=[{"field": field, "message": f"unknown INSEE code {value!r}"}],
        )
    return value


def normalise_traits(
    *,
    birth_name: str,
    first_names: str | list[str],
    sex: str,
    birth_date: str,
    birth_place: str | None,
    first_names_field: str = "first_names",
) -> Traits:
    """Normalise the five traits, collecting every error so that the caller sees them all."""
    try:  # the usual case, every trait valid: no bookkeeping
        return Traits(
            birth_name=normalise_name(birth_name, field="birth_name"),
            first_names=normalise_first_names(first_names, field=first_names_field),
            sex=normalise_sex(sex),
            birth_date=PartialDate.parse(birth_date, field="birth_date"),
            birth_place=normalise_place(birth_place),
        )
    except ValidationFailed:
        pass  # normalisation is pure: run every step again, collecting all the errors
    errors: list[ValidationFailed] = []
    results: dict[str, Any] = {}
    steps: dict[str, Callable[[], object]] = {
        "birth_name": lambda: normalise_name(birth_name, field="birth_name"),
        "first_names": lambda: normalise_first_names(first_names, field=first_names_field),
        "sex": lambda: normalise_sex(sex),
        "birth_date": lambda: PartialDate.parse(birth_date, field="birth_date"),
        "birth_place": lambda: normalise_place(birth_place),
    }
    for name, step in steps.items():
        try:
            results[name] = step()
        except ValidationFailed as exc:
            errors.append(exc)
    if errors:
        raise ValidationFailed(
            "; ".join(e.message for e in errors),
            code=errors[0].code if len(errors) == 1 else "invalid_traits",
            details=[d for e in errors for d in (e.details or [{"message": e.message}])],
        )
    return Traits(**results)


def identity_from_row(row: Row[Any], history: list[Row[Any]]) -> schemas.InsIdentity:
    first_names = row.first_names.split()
    return schemas.InsIdentity(
        ins=schemas.InsIdentifier(
            matricule=row.matricule, kind=row.kind, oid=OID_BY_KIND[row.kind]
        ),
        traits=schemas.ReferenceTraits(
            birth_name=row.birth_name,
            first_names=first_names,
            first_names_text=row.first_names,
            sex=row.sex,
            birth_date=row.birth_date,
            birth_place=row.birth_place,
        ),
        used_name=row.used_name,
        used_first_name=row.used_first_name,
        death_date=row.death_date,
        history=[
            schemas.InsHistoryEntry(
                matricule=h.matricule, kind=h.kind, oid=OID_BY_KIND[h.kind], ended_at=h.ended_at
            )
            for h in history
        ],
    )


def _first_names_match(asked: list[str], registered: list[str]) -> bool:
    # One first name: any of the birth first names (INSi clients try each in turn);
    # several: the whole ordered list.
    if len(asked) == 1:
        return asked[0] in registered or asked == registered
    return asked == registered


def _places_match(asked: str | None, registered: str | None) -> bool:
    if asked is None:
        return True
    if registered is None:
        return False
    if asked == registered:
        return True
    # An old commune code and its successor name the same birth place.
    current = get_places().current_code(asked)
    return current is not None and current == get_places().current_code(registered)


def _audit_person(
    session: Session,
    principal: Principal,
    action: str,
    person_id: int | None,
    *,
    purpose: str | None,
    outcome: str = "success",
    detail: str | None = None,
) -> None:
    """Audit an access to a register person (``Person/{id}``), or to nobody when not found."""
    get_audit_service().record(
        session,
        actor=principal.actor,
        action=action,
        person_id=person_id,
        resource=f"Person/{person_id}" if person_id is not None else None,
        purpose=purpose,
        outcome=outcome,
        detail=detail,
    )


class RegisterService:
    def search(
        self,
        session: Session,
        principal: Principal,
        body: schemas.InsSearchRequest,
        *,
        purpose: str = "TREAT",
    ) -> schemas.InsSearchResponse:
        traits = normalise_traits(
            birth_name=body.birth_name,
            first_names=body.first_name,
            sex=body.sex,
            birth_date=body.birth_date,
            birth_place=body.birth_place,
            first_names_field="first_name",
        )
        repo = PersonRepository(session)
        candidates = [
            row
            for row in repo.find_by_traits(
                traits.birth_name, traits.birth_date.isoformat(), traits.sex
            )
            if _first_names_match(traits.first_names, row.first_names.split())
            and _places_match(traits.birth_place, row.birth_place)
        ]
        if len(candidates) == 1:
            row = candidates[0]
            identity = identity_from_row(row, list(repo.history(row.id)))
            # Audited last: the audit append holds its chain's lock until the commit.
            _audit_person(session, principal, "ins.search", row.id, purpose=purpose, outcome="00")
            return schemas.InsSearchResponse(
                code="00", label=SEARCH_LABELS["00"], identity=identity
            )
        code = "01" if not candidates else "02"
        _audit_person(
            session,
            principal,
            "ins.search",
            None,
            purpose=purpose,
            outcome=code,
            detail=f"candidates={len(candidates)}",
        )
        return schemas.InsSearchResponse(code=code, label=SEARCH_LABELS[code])

    def verify(
        self, session: Session, principal: Principal, body: schemas.InsVerifyRequest
    ) -> schemas.InsVerifyResponse:
        matricule = parse_matricule(body.matricule, field="matricule")
        traits = normalise_traits(
            birth_name=body.birth_name,
            first_names=body.first_names,
            sex=body.sex,
            birth_date=body.birth_date,
            birth_place=body.birth_place,
        )
        repo = PersonRepository(session)
        audit = get_audit_service()
        row = repo.get_by_matricule(matricule.value)
        if row is None:
            replaced = repo.find_by_previous_matricule(matricule.value)
            audit.record(
                session,
                actor=principal.actor,
                action="ins.verify",
                person_id=replaced.id if replaced else None,
                outcome="replaced" if replaced else "unknown",
            )
            if replaced is not None:
                return schemas.InsVerifyResponse(
                    consistent=False,
                    status="replaced_ins",
                    differences=[
                        schemas.TraitDifference(
                            trait="matricule",
                            reason="this INS was replaced by another: search by traits again",
                        )
                    ],
                )
            return schemas.InsVerifyResponse(
                consistent=False,
                status="unknown_ins",
                differences=[
                    schemas.TraitDifference(trait="matricule", reason="no identity holds this INS")
                ],
            )
        differences: list[schemas.TraitDifference] = []
        if body.oid and body.oid.removeprefix("urn:oid:") != OID_BY_KIND[row.kind]:
            differences.append(
                schemas.TraitDifference(trait="oid", reason=f"the INS is a {row.kind}")
            )
        checks = [
            ("birth_name", traits.birth_name == row.birth_name),
            ("first_names", traits.first_names == row.first_names.split()),
            ("sex", traits.sex == row.sex),
            ("birth_date", traits.birth_date.isoformat() == row.birth_date),
            (
                "birth_place",
                traits.birth_place is None or _places_match(traits.birth_place, row.birth_place),
            ),
        ]
        differences += [
            schemas.TraitDifference(trait=name, reason="differs from the register")
            for name, same in checks
            if not same
        ]
        outcome = "ok" if not differences else "differs"
        _audit_person(session, principal, "ins.verify", row.id, purpose=None, outcome=outcome)
        return schemas.InsVerifyResponse(
            consistent=not differences,
            status="consistent" if not differences else "inconsistent",
            differences=differences,
        )

    def read_by_matricule(
        self, session: Session, principal: Principal, matricule: str, *, purpose: str = "TREAT"
    ) -> schemas.InsIdentity | None:
        """An identity by its current or previous matricule (audited), or None."""
        parsed = parse_matricule(matricule, field="identifier")
        repo = PersonRepository(session)
        row = repo.get_by_matricule(parsed.value) or repo.find_by_previous_matricule(parsed.value)
        if row is None:
            _audit_person(session, principal, "person.read", None, purpose=purpose, outcome="none")
            return None
        _audit_person(session, principal, "person.read", row.id, purpose=purpose)
        return identity_from_row(row, list(repo.history(row.id)))

    def read_by_id(
        self, session: Session, principal: Principal, person_id: int, *, purpose: str = "TREAT"
    ) -> schemas.InsIdentity | None:
        repo = PersonRepository(session)
        row = repo.get_by_id(person_id)
        if row is None:
            return None
        _audit_person(session, principal, "person.read", row.id, purpose=purpose)
        return identity_from_row(row, list(repo.history(row.id)))


def validate_record(
    *,
    nir: str,
    kind: str,
    birth_name: str,
    first_names: str,
    sex: str,
    birth_date: str,
    birth_place: str | None,
    used_name: str | None = None,
    used_first_name: str | None = None,
    death_date: str | None = None,
    previous_nirs: str | None = None,
) -> PersonRecord:
    """Validate one register entry completely: matricule, traits, and their consistency."""
    kind_value = (kind or "").strip().upper()
    if kind_value not in ("NIR", "NIA"):
        raise ValidationFailed(f"kind: must be NIR or NIA, not {kind!r}", code="invalid_kind")
    matricule = parse_matricule(nir, field="nir")
    traits = normalise_traits(
        birth_name=birth_name,
        first_names=first_names,
        sex=sex,
        birth_date=birth_date,
        birth_place=birth_place,
    )
    mismatches = nir_trait_mismatches(
        matricule, sex=traits.sex, birth_date=traits.birth_date, birth_place=traits.birth_place
    )
    if mismatches:
        raise ValidationFailed(
            "nir: inconsistent with the traits: " + "; ".join(mismatches),
            code="nir_traits_mismatch",
        )
    death = (
        PartialDate.parse(death_date, field="death_date")
        if death_date and death_date.strip()
        else None
    )
    if death is not None and death.is_certainly_before(traits.birth_date):
        raise ValidationFailed("death_date: before the birth date", code="invalid_date")
    previous = [parse_matricule(p, field="previous_nirs") for p in (previous_nirs or "").split()]
    return PersonRecord(
        matricule=matricule,
        kind=kind_value,
        traits=traits,
        used_name=normalise_name(used_name, field="used_name")
        if used_name and used_name.strip()
        else None,
        used_first_name=(
            normalise_name(used_first_name, field="used_first_name")
            if used_first_name and used_first_name.strip()
            else None
        ),
        death_date=death,
        previous=previous,
    )


def previous_matricule_kind(current_kind: str, previous: Matricule) -> str:
    """Kind of a replaced matricule: a NIA when the person still holds a NIA or the old number
    is provisional (7/8), else a NIR (two NIRs merged)."""
    if current_kind == "NIA" or previous.is_provisional:
        return "NIA"
    return "NIR"


class RegisterWriteService:
    """Single-person writes to the register (the bulk path is ``carnet registry import``)."""

    def upsert(
        self, session: Session, principal: Principal, matricule: str, body: schemas.PersonWrite
    ) -> schemas.PersonWriteResult:
        first_names = (
            body.first_names if isinstance(body.first_names, str) else " ".join(body.first_names)
        )
        record = validate_record(
            nir=matricule,
            kind=body.kind,
            birth_name=body.birth_name,
            first_names=first_names,
            sex=body.sex,
            birth_date=body.birth_date,
            birth_place=body.birth_place,
            used_name=body.used_name,
            used_first_name=body.used_first_name,
            death_date=body.death_date,
            previous_nirs=" ".join(body.previous_matricules),
        )
        repo = PersonRepository(session)
        current = record.matricule.value
        if repo.find_by_previous_matricule(current) is not None:
            raise Conflict(
                "this matricule was replaced by another INS and cannot hold an identity again",
                code="matricule_replaced",
            )
        person = repo.get_person_for_update(current)
        for old in record.previous:
            if old.value == current:
                raise ValidationFailed("previous_matricules: lists the current matricule")
            holder = repo.get_by_matricule(old.value) or repo.find_by_previous_matricule(old.value)
            if holder is not None and (person is None or holder.id != person.id):
                raise Conflict(
                    "previous_matricules: a listed matricule belongs to another identity",
                    code="matricule_conflict",
                )
        values = {
            "kind": record.kind,
            "birth_name": record.traits.birth_name,
            "first_names": " ".join(record.traits.first_names),
            "sex": record.traits.sex,
            "birth_date": record.traits.birth_date.isoformat(),
            "birth_place": record.traits.birth_place,
            "used_name": record.used_name,
            "used_first_name": record.used_first_name,
            "death_date": record.death_date.isoformat() if record.death_date else None,
        }
        now = utcnow()
        if person is None:
            person = repo.add_person(Person(matricule=current, version=1, **values))
            outcome = "created"
        elif any(getattr(person, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(person, key, value)
            person.version += 1
            outcome = "updated"
        else:
            outcome = "unchanged"
        known = {row.matricule for row in repo.history(person.id)}
        for old in record.previous:
            if old.value not in known:
                repo.add_history(
                    person.id, old.value, previous_matricule_kind(record.kind, old), now
                )
                if outcome == "unchanged":
                    person.version += 1
                    outcome = "updated"
        session.flush()
        _audit_person(
            session,
            principal,
            "person.create" if outcome == "created" else "person.update",
            person.id,
            purpose="REGISTER",
            detail=outcome,
        )
        row = repo.get_by_id(person.id)
        assert row is not None
        return schemas.PersonWriteResult(
            outcome=outcome, identity=identity_from_row(row, list(repo.history(person.id)))
        )


register_service = RegisterService()
register_write_service = RegisterWriteService()


# -- reads by person key and by identifier (used by the FHIR adapter) ----------------------------


@dataclass(frozen=True)
class RegisterEntry:
    """A register identity together with its person key (the FHIR ``Patient.id``)."""

    person_id: int
    identity: schemas.InsIdentity


def read_entry_by_id(
    session: Session, principal: Principal, person_id: int, *, purpose: str = "TREAT"
) -> RegisterEntry | None:
    """The identity of a person key (audited as ``person.read``), or None when unknown."""
    identity = register_service.read_by_id(session, principal, person_id, purpose=purpose)
    return RegisterEntry(person_id, identity) if identity is not None else None


def find_entry_by_identifier(
    session: Session,
    principal: Principal,
    matricule: str,
    *,
    kind: str | None,
    purpose: str = "TREAT",
    field: str = "identifier",
) -> RegisterEntry | None:
    """The person holding this matricule now or before, of ``kind`` (NIR/NIA) when given.

    A malformed matricule is a ``ValidationFailed`` naming ``field``. The search is audited as
    ``person.search`` whether or not it finds someone; the matricule itself is not written to the
    trail (the person key is, when found).
    """
    parsed = parse_matricule(matricule, field=field)
    repo = PersonRepository(session)
    row = repo.get_by_matricule_of_kind(
        parsed.value, kind
    ) or repo.find_by_previous_matricule_of_kind(parsed.value, kind)
    detail = f"identifier kind={kind or 'any'}"
    if row is None:
        _audit_person(
            session,
            principal,
            "person.search",
            None,
            purpose=purpose,
            outcome="none",
            detail=detail,
        )
        return None
    _audit_person(session, principal, "person.search", row.id, purpose=purpose, detail=detail)
    return RegisterEntry(int(row.id), identity_from_row(row, list(repo.history(row.id))))


def person_id_for_matricule(session: Session, matricule: str) -> int | None:
    """The person key of a current matricule, not audited.

    Only for a caller that has just obtained the matricule through an audited access in the same
    transaction (an INSi-like search answering 00), to name the person in its response: it
    discloses nothing more about the person, so it is not a second access.
    """
    row = PersonRepository(session).get_by_matricule(matricule)
    return int(row.id) if row is not None else None


# -- bulk reads for other domains (unaudited: the caller audits its own access) -------------------
#
# The rights and card domains show beneficiaries' names on every card reading and resolve
# matricules by the million on import. These reads give them the register's names without its
# tables; they are not audited here because the caller records the access it makes with them (in
# the same transaction), like ``person_id_for_matricule``.


@dataclass(frozen=True, slots=True)
class RegisterNames:
    """A person's identifiers and names as the register holds them (no birth place, no history)."""

    person_id: int
    matricule: str
    kind: str
    birth_name: str
    first_names: tuple[str, ...]
    used_name: str | None
    used_first_name: str | None
    sex: str
    birth_date: str  # "YYYY-MM-DD", 00 for unknown parts


def _register_names(row: Row[Any]) -> RegisterNames:
    return RegisterNames(
        person_id=int(row.id),
        matricule=row.matricule,
        kind=row.kind,
        birth_name=row.birth_name,
        first_names=tuple(row.first_names.split()),
        used_name=row.used_name,
        used_first_name=row.used_first_name,
        sex=row.sex,
        birth_date=row.birth_date,
    )


def register_names(session: Session, person_ids: Iterable[int]) -> dict[int, RegisterNames]:
    """Names of these persons, by person key, in one statement (unknown keys are left out)."""
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    return {
        int(row.id): _register_names(row) for row in PersonRepository(session).names_by_ids(ids)
    }


def register_names_by_matricule(session: Session, matricule: str) -> RegisterNames | None:
    """The person holding this (normalised) matricule now, or who held it before; None if none."""
    row = PersonRepository(session).names_by_matricule(matricule)
    return _register_names(row) if row is not None else None


# SQL expressions for set-based statements of other domains (their imports), so that they never
# name the register's tables: each is a correlated scalar subquery on the given column.
current_person_id_sql = _repository.current_person_id_sql
previous_person_id_sql = _repository.previous_person_id_sql
birth_date_sql = _repository.birth_date_sql
