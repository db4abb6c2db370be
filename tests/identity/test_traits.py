"""Trait normalisation (domain.md §1.5), partial dates and the French phonetic key."""

from __future__ import annotations

from datetime import date

import pytest

from carnet.exceptions import ValidationFailed
from carnet.identity.traits import (
    MAX_NAME_LENGTH,
    PartialDate,
    normalise_first_names,
    normalise_name,
    normalise_sex,
    phonetic_key,
)

TODAY = date(2025, 6, 15)

# -- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ève-Marie", "EVE-MARIE"),
        ("Lætitia", "LAETITIA"),
        ("Œdipe", "OEDIPE"),
        ("cœur", "COEUR"),
        ("D’Artagnan", "D'ARTAGNAN"),  # typographic apostrophe
        ("D‘Artagnan", "D'ARTAGNAN"),
        ("D`Artagnan", "D'ARTAGNAN"),
        ("D´Artagnan", "D'ARTAGNAN"),
        ("  de   la  Tour ", "DE LA TOUR"),
        ("Jean--Pierre", "JEAN--PIERRE"),  # double names keep the double hyphen
        ("DE - LA", "DE-LA"),  # spaces around a hyphen are removed
        ("D' Artagnan", "D'ARTAGNAN"),  # and around an apostrophe
        ("Jean -- Pierre", "JEAN--PIERRE"),
        ("François", "FRANCOIS"),
        ("Müller", "MULLER"),
        ("Straße", "STRASSE"),
        ("Łukasz", "LUKASZ"),
        ("Søren", "SOREN"),
        ("Đorđević", "DORDEVIC"),
        ("Nguyễn", "NGUYEN"),
        ("E\u0301lodie", "ELODIE"),  # already decomposed: the combining accent is dropped
        ("Jean\u00a0Paul", "JEAN PAUL"),  # no-break space
        ("Jean\tPaul", "JEAN PAUL"),
        ("Jean\u2010Paul", "JEAN-PAUL"),  # Unicode hyphen
        ("Jean\u2013Paul", "JEAN-PAUL"),  # en dash
        ("ﬁnn", "FINN"),  # ligature fi
        ("O'NEIL", "O'NEIL"),
    ],
)
def test_normalise_name(raw: str, expected: str) -> None:
    assert normalise_name(raw, field="birth_name") == expected


@pytest.mark.parametrize(
    ("raw", "char", "position"),
    [
        ("Dupont3", "3", 7),
        ("Du@pont", "@", 3),
        ("Jean_Paul", "_", 5),
        ("J.-P. Martin", ".", 2),
        ("Martin😀", "😀", 7),
        ("Иван", "И", 1),  # not Latin: refused rather than guessed
        ("Anne,Marie", ",", 5),
        ("  Zoé!", "!", 6),  # positions count in the raw input, spaces included
        ("Dupont²", "²", 7),  # NFKD would make it a digit
    ],
)
def test_refused_characters_are_named_with_their_position(
    raw: str, char: str, position: int
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise_name(raw, field="birth_name")
    error = caught.value
    assert error.code == "invalid_trait"
    assert error.status_code == 422
    assert error.message.startswith("birth_name: character ")
    assert f"'{char}'" in error.message
    assert f"at position {position} is not allowed in a name" in error.message
    assert "(Latin letters, space, hyphen, apostrophe only)" in error.message
    assert error.details == [
        {
            "field": "birth_name",
            "message": error.message.removeprefix("birth_name: "),
            "character": char,
            "position": position,
        }
    ]


def test_refused_character_message_for_the_brief_example() -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise_name("Dupont3", field="birth_name")
    assert caught.value.message == (
        "birth_name: character '3' at position 7 is not allowed in a name "
        "(Latin letters, space, hyphen, apostrophe only)"
    )


def test_exotic_characters_show_their_code_point() -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise_name("Ana\u200bis", field="birth_name")  # zero-width space
    assert "U+200B" in caught.value.message
    assert "position 4" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("-Jean", "must not start with a hyphen"),
        ("'Jean", "must not start with an apostrophe"),
        ("Jean-", "must not end with a hyphen"),
        ("Jean’", "must not end with an apostrophe"),
        ("-", "must not start with a hyphen"),
        ("Jean---Pierre", "more than two hyphens in a row"),
        ("Jean - - - Pierre", "more than two hyphens in a row"),
        ("O''Neil", "two apostrophes in a row"),
        ("Jean-'Pierre", "a hyphen cannot be next to an apostrophe"),
        ("A" * (MAX_NAME_LENGTH + 1), "is too long (101 characters after normalisation, max 100)"),
    ],
)
def test_badly_formed_names_are_refused(raw: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise_name(raw, field="used_name")
    assert caught.value.code == "invalid_trait"
    assert caught.value.message.startswith("used_name: ")
    assert fragment in caught.value.message


def test_maximum_length_is_accepted() -> None:
    assert normalise_name("a" * MAX_NAME_LENGTH, field="birth_name") == "A" * MAX_NAME_LENGTH
    # the limit applies after normalisation: collapsed spaces do not count
    assert (
        normalise_name("  " + "a" * MAX_NAME_LENGTH + "  ", field="birth_name")
        == "A" * MAX_NAME_LENGTH
    )


@pytest.mark.parametrize(
    "value", ["DUPONT", "D'ARTAGNAN DE L'HERAULT", "JEAN--PIERRE", "MARIE-ANNE DE LA TOUR"]
)
def test_normalisation_is_idempotent(value: str) -> None:
    assert normalise_name(value, field="birth_name") == value
    assert normalise_name(normalise_name(value.lower(), field="f"), field="f") == value


# -- first names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jean Pierre", ["JEAN", "PIERRE"]),
        ("Pierre-alain", ["PIERRE-ALAIN"]),
        ("Jean, Pierre-Alain, Marie", ["JEAN", "PIERRE-ALAIN", "MARIE"]),
        ("Jean,Pierre", ["JEAN", "PIERRE"]),
        ("  Éloïse   Maëlle ", ["ELOISE", "MAELLE"]),
        ("Jean - Pierre Marie", ["JEAN-PIERRE", "MARIE"]),
        ("Jean -Pierre", ["JEAN-PIERRE"]),
        ("Jean D' Arc", ["JEAN", "D'ARC"]),
        ("Jean,, Paul,", ["JEAN", "PAUL"]),
        (["Anne-Sophie", "Claire"], ["ANNE-SOPHIE", "CLAIRE"]),
        (["Anne Sophie"], ["ANNE", "SOPHIE"]),  # INSi's list is space-separated
        (["Zoë", "", "Inès"], ["ZOE", "INES"]),
    ],
)
def test_normalise_first_names(raw: str | list[str], expected: list[str]) -> None:
    assert normalise_first_names(raw, field="first_names") == expected


def test_first_name_error_position_is_in_the_whole_string() -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise_first_names("Jean, Pa3l", field="first_names")
    assert "first_names: character '3' at position 9" in caught.value.message
    assert caught.value.details[0]["position"] == 9


def test_first_name_error_in_a_list_names_the_element() -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise_first_names(["Jean", "Pa3l"], field="first_names")
    assert caught.value.message.startswith("first_names[1]: character '3' at position 3")


@pytest.mark.parametrize("raw", ["", "  ", " , ", [], ["", " "]])
def test_at_least_one_first_name_is_required(raw: str | list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise_first_names(raw, field="first_names")
    assert caught.value.message == "first_names: at least one first name is required"


def test_first_name_cannot_start_with_a_hyphen() -> None:
    with pytest.raises(ValidationFailed, match="first_names: must not start with a hyphen"):
        normalise_first_names("Marie, -Pierre", field="first_names")


# -- sex ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("M", "M"), ("m", "M"), (" F ", "F"), ("f", "F"), ("male", "M"), ("Female", "F")],
)
def test_normalise_sex(raw: str, expected: str) -> None:
    assert normalise_sex(raw) == expected


@pytest.mark.parametrize("raw", ["", "X", "U", "unknown", "H", "1", "MF"])
def test_invalid_sex(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise_sex(raw)
    assert caught.value.code == "invalid_trait"
    assert caught.value.message == f"sex: {raw!r} is not a valid sex (expected M or F)"


# -- partial dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts", "iso", "complete"),
    [
        ("1984-12-05", (1984, 12, 5), "1984-12-05", date(1984, 12, 5)),
        ("1984-12-00", (1984, 12, 0), "1984-12-00", None),
        ("1984-00-00", (1984, 0, 0), "1984-00-00", None),
        ("2024-02-29", (2024, 2, 29), "2024-02-29", date(2024, 2, 29)),  # leap year
        ("1850-01-01", (1850, 1, 1), "1850-01-01", date(1850, 1, 1)),
        (" 1984-12-05 ", (1984, 12, 5), "1984-12-05", date(1984, 12, 5)),
        ("1984-07", (1984, 7, 0), "1984-07-00", None),  # FHIR partial dates
        ("1984", (1984, 0, 0), "1984-00-00", None),
        ("2025-06-15", (2025, 6, 15), "2025-06-15", date(2025, 6, 15)),  # today
        ("2025-06-00", (2025, 6, 0), "2025-06-00", None),  # may be today
        ("2025-00-00", (2025, 0, 0), "2025-00-00", None),
    ],
)
def test_parse_partial_date(
    text: str, parts: tuple[int, int, int], iso: str, complete: date | None
) -> None:
    value = PartialDate.parse(text, field="birth_date", today=TODAY)
    assert (value.year, value.month, value.day) == parts
    assert value.isoformat() == iso == str(value)
    assert value.as_date() == complete
    assert value.is_complete == (complete is not None)
    assert value.month_known == (parts[1] != 0)
    assert value.day_known == (parts[2] != 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "birth_date: is empty (expected YYYY-MM-DD, with 00 for an unknown day or month)"),
        ("12/05/1984", "birth_date: '12/05/1984' is not a date in the format YYYY-MM-DD"),
        ("1984-1-5", "is not a date in the format YYYY-MM-DD"),
        ("84-12-05", "is not a date in the format YYYY-MM-DD"),
        ("1984-12-05T10:00", "is not a date in the format YYYY-MM-DD"),
        ("2023-02-29", "birth_date: day 29 does not exist in February 2023 (it has 28 days)"),
        ("2023-02-30", "birth_date: day 30 does not exist in February 2023"),
        ("2023-04-31", "birth_date: day 31 does not exist in April 2023 (it has 30 days)"),
        ("1984-13-01", "birth_date: month 13 is out of range (01-12, or 00 when unknown)"),
        ("1984-00-05", "birth_date: a known day (05) with an unknown month (00) is not allowed"),
        ("1849-12-31", "birth_date: year 1849 is before 1850"),
        ("0000-00-00", "birth_date: year 0 is before 1850"),
        ("2025-06-16", "birth_date: 2025-06-16 is in the future"),
        ("2025-07-00", "birth_date: 2025-07-00 is in the future"),
        ("2026-00-00", "birth_date: 2026-00-00 is in the future"),
    ],
)
def test_invalid_partial_dates(text: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        PartialDate.parse(text, field="birth_date", today=TODAY)
    assert caught.value.code == "invalid_date"
    assert message in caught.value.message
    assert caught.value.message.startswith("birth_date: ")
    assert caught.value.details[0]["field"] == "birth_date"


def test_future_is_checked_against_the_real_date_by_default() -> None:
    with pytest.raises(ValidationFailed, match="is in the future"):
        PartialDate.parse("9999-01-01", field="birth_date")


def test_direct_construction_is_checked() -> None:
    with pytest.raises(ValueError, match="does not exist in February"):
        PartialDate(2023, 2, 30)
    with pytest.raises(ValueError, match="unknown month"):
        PartialDate(1984, 0, 5)


def test_partial_dates_order_unknown_parts_first() -> None:
    dates = [
        PartialDate(1984, 12, 5),
        PartialDate(1984, 0, 0),
        PartialDate(1984, 12, 0),
        PartialDate(1983, 12, 31),
    ]
    assert [d.isoformat() for d in sorted(dates)] == [
        "1983-12-31",
        "1984-00-00",
        "1984-12-00",
        "1984-12-05",
    ]
    assert PartialDate.from_date(date(1984, 12, 5)) == PartialDate(1984, 12, 5)


# -- phonetic key ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("DUPONT", "DUPOND"),
        ("FAURE", "FORT"),
        ("THOMAS", "TOMAS"),
        ("PHILIPPE", "FILIPE"),
        ("LEFEBVRE", "LEFEVRE"),
        ("GAUTHIER", "GAUTIER"),
        ("GAUTHIER", "GOTHIER"),
        ("RENAULT", "RENAUD"),
        ("RENAUD", "RENO"),
        ("LAURENT", "LORENT"),
        ("ROUSSEAU", "ROUSSO"),
        ("CHEVALIER", "CHEVALLIER"),
        ("CHEVALIER", "SCHEVALIER"),
        ("KARINE", "CARINE"),
        ("BERTRAND", "BERTRANT"),
        ("DE LA TOUR", "DELATOUR"),
        ("D'ARTAGNAN", "DARTAGNAN"),
        ("MICHEL", "MICHELLE"),
        ("Lefèvre", "LEFEVRE"),  # raw input is normalised leniently
        ("dupont", "DUPONT"),
    ],
)
def test_names_that_sound_alike_share_a_key(a: str, b: str) -> None:
    assert phonetic_key(a) == phonetic_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("MARTIN", "MARTINEZ"),
        ("MARTIN", "MARTINE"),  # nasal IN vs INE
        ("JEAN", "JEANNE"),
        ("DUPONT", "DUPUIS"),
        ("ROUSSEAU", "ROUSEAU"),  # a single S between vowels sounds Z
        ("GUERIN", "GERIN"),  # hard G vs soft G
        ("BERNARD", "BERTRAND"),
        ("PETIT", "PETITJEAN"),
        ("FRANCOIS", "FRANCOISE"),
    ],
)
def test_names_that_sound_different_have_different_keys(a: str, b: str) -> None:
    assert phonetic_key(a) != phonetic_key(b)


@pytest.mark.parametrize(
    ("name", "key"),
    [("DUPONT", "DUP3"), ("LAURENT", "LOR1"), ("MARTIN", "MART2"), ("PHILIPPE", "FILIP"), ("", "")],
)
def test_phonetic_key_values(name: str, key: str) -> None:
    assert phonetic_key(name) == key
