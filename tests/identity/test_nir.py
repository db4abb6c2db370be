"""NIR/NIA validation and consistency with the traits. Keys are computed here with the formula."""

from __future__ import annotations

import pytest
from stdnum.fr import nir as stdnum_nir

from carnet.exceptions import ValidationFailed
from carnet.identity.nir import Matricule, nir_trait_mismatches, parse_matricule
from carnet.identity.traits import PartialDate


def key_of(first13: str) -> str:
    """97 - (N mod 97), with 2A -> 19 and 2B -> 18 (domain.md §1.3)."""
    digits = first13.replace(" ", "").replace("2A", "19").replace("2B", "18")
    assert len(digits) == 13
    return f"{97 - int(digits) % 97:02d}"


def nir(first13: str) -> str:
    """The 15-character NIR for 13 characters (spaces allowed), with its correct key."""
    compact = first13.replace(" ", "")
    return compact + key_of(compact)


def test_key_formula_matches_the_documented_example() -> None:
    assert key_of("1 84 12 76 451 089") == "46"
    assert parse_matricule("1 84 12 76 451 089 46").value == "184127645108946"


@pytest.mark.parametrize(
    ("first13", "department", "place_code", "month_known", "month", "provisional"),
    [
        ("1 84 12 76 451 089", "76", "76451", True, 12, False),
        ("2 95 05 99 352 123", "99", "99352", True, 5, False),  # born in Algeria
        ("1 60 03 2A 004 012", "2A", "2A004", True, 3, False),  # Ajaccio
        ("2 71 08 2B 033 004", "2B", "2B033", True, 8, False),  # Bastia
        ("1 55 06 20 004 003", "20", "20004", True, 6, False),  # Corsica before 1976
        ("1 90 07 971 05 321", "971", "97105", True, 7, False),  # Basse-Terre
        ("2 85 11 988 18 045", "988", "98818", True, 11, False),  # Nouméa
        ("1 50 01 96 001 004", "96", "96001", True, 1, False),  # Tunisia before 1956
        ("1 45 20 99 350 001", "99", "99350", False, None, False),  # unknown month 20
        ("2 52 42 75 056 002", "75", "75056", False, None, False),  # unknown month 42
        ("2 52 50 75 056 002", "75", "75056", False, None, False),  # unknown month 50
        ("7 84 12 99 352 045", "99", "99352", True, 12, True),  # provisional / NIA
        ("8 01 30 99 216 777", "99", "99216", False, None, True),
    ],
)
def test_valid_matricules_are_split_into_fields(
    first13: str,
    department: str,
    place_code: str,
    month_known: bool,
    month: int | None,
    provisional: bool,
) -> None:
    value = nir(first13)
    m = parse_matricule(value)
    assert m == Matricule(
        value=value,
        sex_digit=value[0],
        year2=value[1:3],
        month_code=value[3:5],
        department=department,
        place_code=place_code,
        order=value[10:13],
        key=value[13:],
    )
    assert (m.month_known, m.month, m.is_provisional) == (month_known, month, provisional)
    assert m.is_abroad == (department == "99")
    assert stdnum_nir.is_valid(value)  # the reference implementation agrees


def test_key_97_is_possible() -> None:
    # N mod 97 == 0 gives the key 97, never 00.
    first13 = next(
        f"18412764{order:05d}" for order in range(1, 99999) if int(f"18412764{order:05d}") % 97 == 0
    )
    assert parse_matricule(nir(first13)).key == "97"


@pytest.mark.parametrize(
    "raw",
    [
        "1 84 12 76 451 089 46",
        "  184127645108946  ",
        "1\t84\u00a012 76.451.089 46",
        "1-84-12-76-451-089-46".replace("-", " "),
    ],
)
def test_separators_are_ignored(raw: str) -> None:
    m = parse_matricule(raw)
    assert m.value == "184127645108946"
    assert m.formatted() == "1 84 12 76 451 089 46"
    assert str(m) == m.value


def test_lowercase_corsica_is_uppercased() -> None:
    value = nir("1 60 03 2A 004 012")
    m = parse_matricule(value.lower())
    assert m.value == value
    assert m.department == "2A"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("18412764510894", "has 14 characters, expected 15"),
        ("1841276451089466", "has 16 characters, expected 15"),
        ("1A" + nir("1 84 12 76 451 089")[2:], "character 'A' at position 2 is not allowed"),
        (
            nir("1 84 12 76 451 089")[:9] + "x" + nir("1 84 12 76 451 089")[10:],
            "'X' at position 10",
        ),
        ("18412 2C 004 012 00", "character 'C' at position 7"),
        ("18412 A1 004 012 00", "character 'A' at position 6"),
        (nir("3 84 12 76 451 089"), "sex digit '3' (position 1) is not allowed"),
        (nir("4 84 12 76 451 089"), "sex digit '4' (position 1) is not allowed"),
        (nir("0 84 12 76 451 089"), "sex digit '0' (position 1)"),
        (nir("9 84 12 76 451 089"), "sex digit '9' (position 1)"),
        (nir("1 84 00 76 451 089"), "month code 00 (positions 4-5) is invalid"),
        (nir("1 84 13 76 451 089"), "month code 13 (positions 4-5) is invalid"),
        (nir("1 84 19 76 451 089"), "month code 19 (positions 4-5) is invalid"),
        (nir("1 84 43 76 451 089"), "month code 43 (positions 4-5) is invalid"),
        (nir("1 84 51 76 451 089"), "month code 51 (positions 4-5) is invalid"),
        (nir("1 84 99 76 451 089"), "month code 99 (positions 4-5) is not accepted"),
        (nir("1 84 12 00 451 089"), "department 00 (positions 6-7) does not exist"),
        (nir("1 84 12 970 51 089"), "department 970 (positions 6-8) does not exist"),
        (nir("1 84 12 979 51 089"), "department 979 (positions 6-8) does not exist"),
        (nir("1 84 12 983 51 089"), "department 983 (positions 6-8) does not exist"),
        (nir("1 84 12 971 00 089"), "commune code 00 (positions 9-10)"),
        (nir("1 84 12 76 000 089"), "commune code 000 (positions 8-10)"),
        (nir("1 84 12 99 100 089"), "(99100 is France)"),
        (nir("1 84 12 99 000 089"), "country code 000 (positions 8-10) is invalid"),
        (nir("1 84 12 76 451 000"), "order number 000 (positions 11-13) is invalid"),
        ("1841276451089" + "00", "key 00 (positions 14-15) is impossible"),
        ("1841276451089" + "98", "key 98 (positions 14-15) is impossible"),
        ("1841276451089" + "45", "key 45 (positions 14-15) does not match"),
        ("1841276451098" + "46", "key 46 (positions 14-15) does not match"),  # swapped digits
    ],
)
def test_invalid_matricules_are_rejected_precisely(raw: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_matricule(raw, field="matricule")
    error = caught.value
    assert error.code == "invalid_nir"
    assert error.status_code == 422
    assert error.message.startswith("matricule: ")
    assert fragment in error.message
    assert error.details[0]["field"] == "matricule"


def test_wrong_key_does_not_reveal_the_expected_one() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_matricule("184127645108945")
    assert "46" not in caught.value.message


def test_error_reports_the_position() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_matricule("1 84 12 76 4§1 089 46")
    assert caught.value.details[0]["position"] == 9
    assert caught.value.details[0]["character"] == "§"


# -- consistency with the traits ------------------------------------------------------------------

BASE = parse_matricule(nir("1 84 12 76 451 089"))


def check(
    m: Matricule = BASE,
    *,
    sex: str = "M",
    birth_date: str = "1984-12-05",
    birth_place: str | None = "76451",
) -> list[str]:
    return nir_trait_mismatches(
        m,
        sex=sex,
        birth_date=PartialDate.parse(birth_date, field="birth_date"),
        birth_place=birth_place,
    )


def test_consistent_traits_give_no_reason() -> None:
    assert check() == []


def test_sex_mismatch() -> None:
    assert check(sex="F") == ["sex F does not match the NIR sex digit 1 (male)"]
    woman = parse_matricule(nir("2 84 12 76 451 089"))
    assert check(woman, sex="M") == ["sex M does not match the NIR sex digit 2 (female)"]
    assert check(woman, sex="F") == []


@pytest.mark.parametrize("first", ["7", "8"])
@pytest.mark.parametrize("sex", ["M", "F"])
def test_provisional_numbers_skip_the_sex_check(first: str, sex: str) -> None:
    assert check(parse_matricule(nir(first + " 84 12 76 451 089")), sex=sex) == []


def test_year_mismatch_and_century_ambiguity() -> None:
    assert check(birth_date="1985-12-05") == [
        "birth year 1985 does not match the NIR year digits 84"
    ]
    assert check(birth_date="1884-12-05") == []  # only two digits are encoded
    born_2001 = parse_matricule(nir("1 01 12 76 451 089"))
    assert check(born_2001, birth_date="2001-12-05") == []


def test_known_month_must_match_a_known_birth_month() -> None:
    assert check(birth_date="1984-11-05") == ["birth month 11 does not match the NIR month 12"]


@pytest.mark.parametrize("birth_date", ["1984-01-15", "1984-07-00", "1984-00-00"])
def test_unknown_month_code_matches_any_birth_month(birth_date: str) -> None:
    m = parse_matricule(nir("1 84 20 76 451 089"))
    assert check(m, birth_date=birth_date) == []


def test_unknown_birth_month_matches_any_month_code() -> None:
    assert check(birth_date="1984-00-00") == []


@pytest.mark.parametrize(
    ("first13", "birth_place", "birth_date"),
    [
        ("1 84 12 76 451 089", "76540", "1984-12-05"),  # same department, other commune
        ("1 84 12 99 352 089", "99352", "1984-12-05"),  # same country
        ("1 55 12 91 352 089", "99352", "1955-12-05"),  # Algeria before independence
        ("1 50 12 95 001 089", "99350", "1950-12-05"),  # Morocco
        ("1 50 12 96 001 089", "99351", "1950-12-05"),  # Tunisia
        ("1 55 12 20 004 089", "2A004", "1955-12-05"),  # Corsica was 20 until 1976
        ("1 55 12 20 033 089", "2B033", "1955-12-05"),
        ("1 84 12 2A 004 089", "20004", "1984-12-05"),  # old Corsican code, new NIR
        ("1 60 12 75 012 089", "92012", "1960-12-05"),  # Seine before 1968
        ("1 50 12 78 646 089", "91228", "1950-12-05"),  # Seine-et-Oise before 1968
        ("1 67 12 75 056 089", "93066", "1967-12-31"),
        ("1 84 12 971 05 089", "97105", "1984-12-05"),
        ("1 84 12 971 05 089", "97120", "1984-12-05"),
        ("1 05 12 985 01 089", "97601", "2005-12-05"),  # Mayotte was 985 before 2011
    ],
)
def test_consistent_places(first13: str, birth_place: str, birth_date: str) -> None:
    assert (
        check(parse_matricule(nir(first13)), birth_date=birth_date, birth_place=birth_place) == []
    )


@pytest.mark.parametrize(
    ("first13", "birth_place", "birth_date", "reason"),
    [
        (
            "1 84 12 76 451 089",
            "75056",
            "1984-12-05",
            "birth place 75056 (department 75) does not match the NIR department 76",
        ),
        (
            "1 84 12 99 352 089",
            "99350",
            "1984-12-05",
            "birth place 99350 does not match the NIR country code 99352",
        ),
        (
            "1 84 12 99 352 089",
            "75056",
            "1984-12-05",
            "birth place 75056 is in France but the NIR says born abroad (country code 99352)",
        ),
        (
            "1 84 12 76 451 089",
            "99352",
            "1984-12-05",
            "birth place 99352 is abroad but the NIR department is 76",
        ),
        (
            "1 55 12 91 352 089",
            "99109",
            "1955-12-05",
            "birth place 99109 is abroad but the NIR department is 91",
        ),
        (
            "1 70 12 75 012 089",
            "92012",
            "1970-12-05",  # after the 1968 reorganisation the departments must agree
            "birth place 92012 (department 92) does not match the NIR department 75",
        ),
        (
            "1 60 12 92 012 089",
            "75056",
            "1960-12-05",  # only 75/78 covered the Île-de-France departments before 1968
            "birth place 75056 (department 75) does not match the NIR department 92",
        ),
        (
            "1 84 12 971 05 089",
            "97209",
            "1984-12-05",
            "birth place 97209 (department 972) does not match the NIR department 971",
        ),
        (
            "1 84 12 2A 004 089",
            "2B033",
            "1984-12-05",
            "birth place 2B033 (department 2B) does not match the NIR department 2A",
        ),
    ],
)
def test_place_mismatches(first13: str, birth_place: str, birth_date: str, reason: str) -> None:
    m = parse_matricule(nir(first13))
    assert check(m, birth_date=birth_date, birth_place=birth_place) == [reason]


@pytest.mark.parametrize("birth_place", [None, "", "  "])
def test_missing_birth_place_is_not_compared(birth_place: str | None) -> None:
    assert check(birth_place=birth_place) == []


def test_lowercase_birth_place_is_compared_uppercased() -> None:
    assert check(parse_matricule(nir("1 84 12 2A 004 089")), birth_place="2a004") == []


def test_every_reason_is_reported() -> None:
    reasons = check(sex="F", birth_date="1985-11-05", birth_place="99352")
    assert reasons == [
        "sex F does not match the NIR sex digit 1 (male)",
        "birth year 1985 does not match the NIR year digits 84",
        "birth month 11 does not match the NIR month 12",
        "birth place 99352 is abroad but the NIR department is 76",
    ]
