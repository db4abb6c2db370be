# Frozen copy of src/carnet/identity/nir.py at commit bf6288a (see __init__.py).
"""The matricule INS: NIR/NIA validation and its consistency with the traits (domain.md §1.3-1.4).

``python-stdnum`` (``stdnum.fr.nir``) checks the length, the 2A/2B format and the key but not the
meaning of the fields; this module adds the checks below and explains every refusal precisely.

Layout of the 15 characters (positions are 1-based)::

    1     sex: 1 male, 2 female; 7 or 8 provisional number (NIA / numéro provisoire)
    2-3   last two digits of the birth year
    4-5   birth month: 01-12, or 20-42 / 50 when the civil-status record has no month
    6-10  place of birth:
            01-95, 2A, 2B + 3-digit commune   (metropolitan department, 20 = Corsica before 1976)
            91-96 + 3 digits                  (also Algeria 91-94, Morocco 95, Tunisia 96 before
                                               independence)
            97x, 98x + 2-digit commune        (overseas departments and collectivities)
            99 + 3-digit INSEE country code    (born abroad)
    11-13 order number in the birth register, 001-999
    14-15 key = 97 - (N mod 97), N the first 13 characters with 2A -> 19 and 2B -> 18; 01-97
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.fr import nir as stdnum_nir

from carnet.exceptions import ValidationFailed
from tests.identity._reference.reference_traits import PartialDate

__all__ = [
    "ABROAD",
    "NORTH_AFRICA_COUNTRIES",
    "UNKNOWN_MONTH_CODES",
    "Matricule",
    "nir_trait_mismatches",
    "parse_matricule",
]

# 1 and 2 are the regular sexes; 7 and 8 start provisional numbers (NIA, numéro provisoire), which
# domain.md §1.3 reports from a secondary source. 3 and 4 are sometimes cited for foreigners being
# registered but no source confirms it, so they are refused: accepting an unconfirmed value would
# let typing errors through (the key does not catch every substitution of the first digit).
SEX_DIGITS = {"1": "M", "2": "F", "7": None, "8": None}
PROVISIONAL_SEX_DIGITS = frozenset({"7", "8"})

# Months 20-30 and 50 are documented for incomplete civil-status records; domain.md asks to accept
# the whole 20-42 range and 50 as "month unknown". 99 is unconfirmed and refused explicitly.
UNKNOWN_MONTH_CODES = frozenset({f"{m:02d}" for m in range(20, 43)} | {"50"})

ABROAD = "99"
# Overseas departments and collectivities with a 3-digit code: 971 Guadeloupe, 972 Martinique,
# 973 Guyane, 974 La Réunion, 975 Saint-Pierre-et-Miquelon, 976 Mayotte, 977 Saint-Barthélemy,
# 978 Saint-Martin, 984 TAAF, 985 Mayotte before 2011, 986 Wallis-et-Futuna, 987 Polynésie
# française, 988 Nouvelle-Calédonie, 989 Clipperton.
OVERSEAS_DEPARTMENTS = frozenset(
    {
        "971",
        "972",
        "973",
        "974",
        "975",
        "976",
        "977",
        "978",
        "984",
        "985",
        "986",
        "987",
        "988",
        "989",
    }
)
# Department codes 91-96 were also used for Algeria (91-94), Morocco (95) and Tunisia (96) before
# their independence; today these births are recorded with the country codes below.
NORTH_AFRICA_DEPARTMENTS = frozenset({"91", "92", "93", "94", "95", "96"})
NORTH_AFRICA_COUNTRIES = frozenset({"99350", "99351", "99352"})  # Maroc, Tunisie, Algérie
# Before 1 January 1968 the Seine (75) and Seine-et-Oise (78) covered today's 75, 78, 91, 92, 93,
# 94 and 95.
ILE_DE_FRANCE_1968 = frozenset({"75", "78", "91", "92", "93", "94", "95"})
CORSICA = frozenset({"2A", "2B"})

_SEPARATORS = re.compile(r"[\s.]+")
_FORMAT_HINT = "digits only, except 2A or 2B for Corsica at positions 6-7"


@dataclass(frozen=True)
class Matricule:
    """A valid NIR or NIA, split into its fields. Build it with ``parse_matricule``."""

    value: str  # the 15 characters, uppercase, no separator
    sex_digit: str
    year2: str
    month_code: str
    department: str  # "75", "2A", "971", or "99" for abroad
    place_code: str  # the INSEE code the NIR implies: "75056", "2A004", "97105", or "99352"
    order: str
    key: str

    @property
    def month_known(self) -> bool:
        return "01" <= self.month_code <= "12"

    @property
    def month(self) -> int | None:
        return int(self.month_code) if self.month_known else None

    @property
    def is_provisional(self) -> bool:
        """A provisional number (first digit 7 or 8), as NIAs and temporary numbers are."""
        return self.sex_digit in PROVISIONAL_SEX_DIGITS

    @property
    def is_abroad(self) -> bool:
        return self.department == ABROAD

    def formatted(self) -> str:
        """The usual grouping for display: ``1 84 12 76 451 089 46``."""
        return str(stdnum_nir.format(self.value))

    def __str__(self) -> str:
        return self.value


def _fail(field: str, message: str, **extra: object) -> ValidationFailed:
    # The submitted value is deliberately left out: a NIR must not end up in logs or responses.
    return ValidationFailed(
        f"{field}: {message}",
        code="invalid_nir",
        details=[{"field": field, "message": message, **extra}],
    )


def parse_matricule(value: str, *, field: str = "nir") -> Matricule:
    """Validate a NIR/NIA and split it into fields.

    Spaces (and dots) are accepted anywhere (``"1 84 12 76 451 089 46"``) and letters may be
    lowercase; the result holds the compact uppercase form. Raises
    ``ValidationFailed(code="invalid_nir")``, its message naming the field, position and rule.
    """
    compact = _SEPARATORS.sub("", value).upper()
    if not compact:
        raise _fail(field, "is empty (a NIR has 15 characters: 13 plus a 2-digit key)")
    if len(compact) != 15:
        raise _fail(
            field,
            f"has {len(compact)} characters, expected 15 (13-character number plus 2-digit key)",
        )
    for index, char in enumerate(compact, start=1):
        if char.isdigit() and char.isascii():
            continue
        if index in (6, 7) and compact[5:7] in CORSICA:
            continue
        raise _fail(
            field,
            f"character {char!r} at position {index} is not allowed ({_FORMAT_HINT})",
            character=char,
            position=index,
        )

    sex_digit, year2, month_code = compact[0], compact[1:3], compact[3:5]
    order, key = compact[10:13], compact[13:15]

    if sex_digit not in SEX_DIGITS:
        raise _fail(
            field,
            f"sex digit {sex_digit!r} (position 1) is not allowed: expected 1 (male), 2 (female), "
            "or 7/8 (provisional number, NIA)",
            position=1,
        )
    if month_code == "99":
        raise _fail(
            field,
            "month code 99 (positions 4-5) is not accepted: its meaning is unconfirmed "
            "(expected 01-12, or 20-42/50 for an unknown month)",
            position=4,
        )
    if not ("01" <= month_code <= "12" or month_code in UNKNOWN_MONTH_CODES):
        raise _fail(
            field,
            f"month code {month_code} (positions 4-5) is invalid: "
            "expected 01-12, or 20-42/50 for an unknown month",
            position=4,
        )

    department, commune = _split_place(compact, field=field)

    if order == "000":
        raise _fail(
            field,
            "order number 000 (positions 11-13) is invalid: expected 001-999",
            position=11,
        )
    if key == "00" or key > "97":
        raise _fail(
            field,
            f"key {key} (positions 14-15) is impossible: a NIR key is 01-97",
            position=14,
        )
    if stdnum_nir.calc_check_digits(compact) != key:
        # The expected key is not given on purpose: the mistake is as likely in the 13 digits.
        raise _fail(
            field,
            f"key {key} (positions 14-15) does not match the 13 first characters: "
            "check for a typing error",
            position=14,
        )
    try:  # Belt and braces: the reference implementation agrees with every check above.
        stdnum_nir.validate(compact)
    except StdnumValidationError as exc:  # pragma: no cover - unreachable if the checks above hold
        raise _fail(field, f"is not a valid NIR ({exc})") from exc

    return Matricule(
        value=compact,
        sex_digit=sex_digit,
        year2=year2,
        month_code=month_code,
        department=department,
        place_code=department + commune,
        order=order,
        key=key,
    )


def _split_place(compact: str, *, field: str) -> tuple[str, str]:
    """(department, commune or country) from positions 6-10, validated."""
    two = compact[5:7]
    if two in ("97", "98"):
        department, commune = compact[5:8], compact[8:10]
        if department not in OVERSEAS_DEPARTMENTS:
            raise _fail(
                field,
                f"department {department} (positions 6-8) does not exist: "
                "overseas codes are 971-978 and 984-989",
                position=6,
            )
        if commune == "00":
            raise _fail(
                field,
                f"commune code 00 (positions 9-10) is invalid in department {department}",
            )
        return department, commune
    commune = compact[7:10]
    if two == ABROAD:
        if commune <= "100":
            raise _fail(
                field,
                f"country code {commune} (positions 8-10) is invalid for a birth abroad"
                + (" (99100 is France)" if commune == "100" else "")
                + ": expected an INSEE country code 99101-99999",
                position=8,
            )
        return two, commune
    if two == "00":
        raise _fail(
            field,
            "department 00 (positions 6-7) does not exist: expected 01-96, 2A, 2B, 97x, 98x or 99",
            position=6,
        )
    if commune == "000":
        raise _fail(
            field,
            f"commune code 000 (positions 8-10) is invalid in department {two}",
            position=8,
        )
    return two, commune


def _place_department(code: str) -> str:
    """The department a 5-character INSEE code belongs to (3 characters overseas)."""
    return code[:3] if code[:2] in ("97", "98") else code[:2]


def nir_trait_mismatches(
    m: Matricule, *, sex: str, birth_date: PartialDate, birth_place: str | None
) -> list[str]:
    """Why the matricule contradicts the traits; an empty list means they are consistent.

    * sex: 1 must go with M and 2 with F; provisional numbers (7/8) are not checked, because which
      of the two digits means which sex is not established. A sex other than M/F is not compared.
    * year: positions 2-3 must equal the last two digits of the birth year.
    * month: a known month code must equal a known birth month; an unknown-month code (20-42, 50)
      agrees with any birth month, and an unknown birth month agrees with any month code.
    * place (only when ``birth_place`` is given): a birth abroad (99xxx) needs NIR department 99
      with the same country, or a NIR department 91-96 with Algeria, Morocco or Tunisia (births
      before independence). A birth in France needs the same department (3 digits overseas), also
      accepting: NIR 20 with 2A/2B and 2A/2B with an old 20xxx code (Corsica split in 1976); NIR 75
      or 78 with a place in 75, 78, 91-95 for births before 1968 (Seine and Seine-et-Oise); NIR 985
      with Mayotte 976. Communes are not compared: their codes change with mergers.
    """
    reasons: list[str] = []
    expected_sex = SEX_DIGITS.get(m.sex_digit)
    given_sex = sex.strip().upper()
    if expected_sex is not None and given_sex in ("M", "F") and given_sex != expected_sex:
        reasons.append(
            f"sex {given_sex} does not match the NIR sex digit {m.sex_digit} "
            f"({'male' if expected_sex == 'M' else 'female'})"
        )

    if f"{birth_date.year % 100:02d}" != m.year2:
        reasons.append(f"birth year {birth_date.year} does not match the NIR year digits {m.year2}")

    if m.month_known and birth_date.month_known and m.month != birth_date.month:
        reasons.append(
            f"birth month {birth_date.month:02d} does not match the NIR month {m.month_code}"
        )

    if birth_place is not None and birth_place.strip():
        reason = _place_mismatch(m, birth_place.strip().upper(), birth_date)
        if reason is not None:
            reasons.append(reason)
    return reasons


def _place_mismatch(m: Matricule, place: str, birth_date: PartialDate) -> str | None:
    if place.startswith(ABROAD):
        if m.department == ABROAD:
            if m.place_code == place:
                return None
            return f"birth place {place} does not match the NIR country code {m.place_code}"
        if m.department in NORTH_AFRICA_DEPARTMENTS and place in NORTH_AFRICA_COUNTRIES:
            return None
        return f"birth place {place} is abroad but the NIR department is {m.department}"
    if m.department == ABROAD:
        return (
            f"birth place {place} is in France but the NIR says born abroad "
            f"(country code {m.place_code})"
        )
    department = _place_department(place)
    if department == m.department:
        return None
    if m.department == "20" and department in CORSICA:
        return None  # Corsica was department 20 until 1976
    if m.department in CORSICA and department == "20":
        return None  # an old Corsican commune code for a NIR given after 1976
    if m.department in ("75", "78") and department in ILE_DE_FRANCE_1968 and birth_date.year < 1968:
        return None
    if m.department == "985" and department == "976":
        return None  # Mayotte was coded 985 before 2011
    return (
        f"birth place {place} (department {department}) "
        f"does not match the NIR department {m.department}"
    )
