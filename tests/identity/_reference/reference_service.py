# Frozen copy of the record validation of src/carnet/identity/service.py at commit bf6288a
# (Traits, PersonRecord, normalise_place, normalise_traits, validate_record; see __init__.py).
"""Reference ``validate_record``: the original implementation, on the reference traits and NIR."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from carnet.exceptions import ValidationFailed
from carnet.identity.places import get_places
from tests.identity._reference.reference_nir import (
    Matricule,
    nir_trait_mismatches,
    parse_matricule,
)
from tests.identity._reference.reference_traits import (
    PartialDate,
    normalise_first_names,
    normalise_name,
    normalise_sex,
)


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
    # Amended after the frozen copy: a partial death date is refused only when every date it may
    # stand for precedes every possible birth date ("1980-00-00" may follow "1980-01-01").
    if death is not None and (
        death.year,
        death.month or 12,
        death.day or 31,
    ) < (traits.birth_date.year, traits.birth_date.month or 1, traits.birth_date.day or 1):
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
