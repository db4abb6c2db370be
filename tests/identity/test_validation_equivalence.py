"""The fast record validation behaves exactly like the original one.

``tests/identity/_reference`` holds frozen copies of the original ``traits``, ``nir`` and record
validation of ``service``. Every test here feeds the same inputs to the current code and to the
reference and asserts that both return the same value (same types and fields) or raise the same
error (same class, code, status, message and details). Each input is given to the current code
twice, so that an answer served from a cache is checked as well as a computed one.

Inputs: thousands of synthetic register rows (``carnet.demo.population``) and mutations of them
(typed names, spaced NIRs, wrong keys, inconsistent traits…), hand-written tricky values, and a
seeded random fuzz of unicode strings, first-name lists, matricules and dates.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

import pytest

from carnet.demo.population import generate_population
from carnet.exceptions import AppError
from carnet.identity import nir, service, traits
from tests.identity._reference import reference_nir, reference_service, reference_traits

Outcome = tuple[Any, ...]
_PLAIN = frozenset({str, int, bool})

# -- comparing outcomes ---------------------------------------------------------------------------


def snapshot(value: Any) -> Any:
    """A comparable picture of a result: class names, fields and derived properties, recursively."""
    if value is None or type(value) in _PLAIN:
        return (type(value).__name__, value)
    if isinstance(value, reference_nir.Matricule | nir.Matricule):
        derived = (
            value.month_known,
            value.month,
            value.is_provisional,
            value.is_abroad,
            value.formatted(),
            str(value),
        )
        fields = tuple(getattr(value, f.name) for f in dataclasses.fields(value))
        return ("Matricule", snapshot(fields), derived)
    if isinstance(value, reference_traits.PartialDate | traits.PartialDate):
        return ("PartialDate", value.year, value.month, value.day, value.isoformat(), str(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return (
            type(value).__name__,
            tuple((f.name, snapshot(getattr(value, f.name))) for f in fields),
        )
    if isinstance(value, list | tuple):
        return (type(value).__name__, [snapshot(item) for item in value])
    return (type(value).__name__, value)


def outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    try:
        result = function(*args, **kwargs)
    except AppError as exc:
        return ("error", type(exc).__name__, exc.code, exc.status_code, exc.message, exc.details)
    except Exception as exc:  # an unexpected exception must be the same too
        return ("raised", type(exc).__name__, str(exc))
    return ("ok", snapshot(result))


def check(new: Callable[..., Any], old: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """Assert that ``new`` behaves like ``old`` on these arguments (twice, for the caches)."""
    expected = outcome(old, *args, **kwargs)
    first = outcome(new, *args, **kwargs)
    assert first == expected, (args, kwargs)
    assert outcome(new, *args, **kwargs) == expected, ("second call", args, kwargs)
    return expected


def check_record(row: dict[str, Any]) -> Outcome:
    return check(service.validate_record, reference_service.validate_record, **row)


# -- generated rows and their mutations -----------------------------------------------------------


@lru_cache(maxsize=1)
def population() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for seed in (1, 20261123):
        rows.extend(generate_population(2500, seed))
    return rows


_ACCENTS = {"E": "ÉÈÊËéèêë", "A": "ÀÂÄàâä", "C": "Çç", "I": "ÎÏîï", "O": "ÔÖôö", "U": "ÙÛÜùûü"}


def _accentuate(rng: random.Random, text: str) -> str:
    out = []
    for char in text:
        if char.upper() in _ACCENTS and rng.random() < 0.3:
            out.append(rng.choice(_ACCENTS[char.upper()]))
        elif char == "'" and rng.random() < 0.5:
            out.append(rng.choice("’‘`´ʼ′"))
        elif char == "-" and rng.random() < 0.3:
            out.append(rng.choice(["\u2010", "\u2011", "\u2013", " - ", " -", "--"]))
        elif char == " " and rng.random() < 0.3:
            out.append(rng.choice(["  ", "\t", "\u00a0", " , ", ","]))
        else:
            out.append(char)
    text = "".join(out)
    return text.replace("OE", "Œ").replace("AE", "Æ") if rng.random() < 0.3 else text


def _spaced(matricule: str) -> str:
    parts = (matricule[:1], matricule[1:3], matricule[3:5], matricule[5:7], matricule[7:10])
    return " ".join((*parts, matricule[10:13], matricule[13:])).lower()


def _digit_changed(rng: random.Random, text: str, position: int) -> str:
    if not text or position >= len(text):
        return text
    return text[:position] + rng.choice("0123456789AB ") + text[position + 1 :]


def _mutations() -> list[Callable[[random.Random, dict[str, str]], None]]:
    def names(rng: random.Random, row: dict[str, str]) -> None:
        row["birth_name"] = _accentuate(
            rng, rng.choice([str.lower, str.title, str])(row["birth_name"])
        )
        row["first_names"] = _accentuate(rng, row["first_names"].title())
        row["used_name"] = _accentuate(rng, row["used_name"])

    def bad_name(rng: random.Random, row: dict[str, str]) -> None:
        field = rng.choice(["birth_name", "first_names", "used_name", "used_first_name"])
        value = row[field] or "X"
        where = rng.randrange(len(value) + 1)
        insert = rng.choice(["3", "@", "😀", "Ж", "_", ".", "--", "-'", "''", "\u200b", "²", "ﬁ"])
        row[field] = value[:where] + insert + value[where:]

    def spaced_nir(rng: random.Random, row: dict[str, str]) -> None:
        row["nir"] = _spaced(row["nir"]) if rng.random() < 0.5 else " " + row["nir"].lower() + "."

    def wrong_digit(rng: random.Random, row: dict[str, str]) -> None:
        row["nir"] = _digit_changed(rng, row["nir"], rng.randrange(16))

    def wrong_key(rng: random.Random, row: dict[str, str]) -> None:
        row["nir"] = row["nir"][:13] + f"{rng.randrange(100):02d}"

    def sex(rng: random.Random, row: dict[str, str]) -> None:
        row["sex"] = rng.choice(["m", "f", " F ", "male", "Female", "X", "", "M", "F"])

    def birth_date(rng: random.Random, row: dict[str, str]) -> None:
        value = row["birth_date"]
        row["birth_date"] = rng.choice(
            [
                value[:7],
                value[:4],
                value[:8] + "00",
                value[:5] + "00-00",
                value[:5] + "00-12",
                value[:8] + "31",
                value[:8] + "29",
                value[:5] + "13" + value[7:],
                f"{rng.randrange(1840, 2030)}{value[4:]}",
                value.replace("-", "/"),
                f" {value} ",
                "",
            ]
        )

    def place(rng: random.Random, row: dict[str, str]) -> None:
        row["birth_place"] = rng.choice(
            [row["birth_place"].lower(), " " + row["birth_place"], "", "99999", "00000", "99100"]
        )

    def death(rng: random.Random, row: dict[str, str]) -> None:
        row["death_date"] = rng.choice(
            [row["birth_date"], "1850-00-00", "2099-01-01", row["birth_date"][:4], "bad", " "]
        )

    def previous(rng: random.Random, row: dict[str, str]) -> None:
        row["previous_nirs"] = rng.choice(
            [row["nir"], _spaced(row["nir"]), "123", row["nir"] + " " + row["nir"][:13] + "00"]
        )

    def kind(rng: random.Random, row: dict[str, str]) -> None:
        row["kind"] = rng.choice(["nir", " nia ", "NIX", ""])

    return [
        names, bad_name, spaced_nir, wrong_digit, wrong_key, sex, birth_date, place, death,
        previous, kind,
    ]  # fmt: skip


def mutated_rows() -> Iterator[dict[str, str]]:
    rng = random.Random(69_000_000)
    mutations = _mutations()
    for row in population():
        copy = dict(row)
        for mutation in rng.sample(mutations, rng.choice([1, 1, 1, 2, 3])):
            mutation(rng, copy)
        yield copy


def test_generated_rows_validate_identically() -> None:
    outcomes = [check_record(row) for row in population()]
    assert all(kind == "ok" for kind, *_ in outcomes)  # the generator only makes valid rows


def test_mutated_rows_validate_identically() -> None:
    outcomes = [check_record(row) for row in mutated_rows()]
    codes = {result[2] for result in outcomes if result[0] == "error"}
    # the mutations reach the ok path and every kind of refusal
    assert sum(result[0] == "ok" for result in outcomes) > 500
    expected = {"invalid_nir", "invalid_trait", "invalid_date", "invalid_place"}
    assert expected | {"invalid_traits", "nir_traits_mismatch"} <= codes


# -- hand-written tricky inputs -------------------------------------------------------------------

TRICKY_NAMES = [
    "DUPONT", "dupont", "Dupont", "Lefèvre", "LEFÈVRE", "Œdipe", "cœur", "Lætitia", "ÆSOP",
    "Straße", "STRAẞE", "Søren", "Łukasz", "Đorđević", "Þórr", "Ðan", "ıldız", "İlker", "Nguyễn",
    "E\u0301lodie", "ﬁnn", "ﬂeur", "Ǆuro", "ǅuro", "ǆuro", "ĳssel", "Ĳssel", "ŉ", "ﬀ", "ﬆ",
    "D’Artagnan", "D‘Artagnan", "D‛Artagnan", "D`Artagnan", "D´Artagnan", "Dʼartagnan", "D′Arc",
    "d'Artagnan", "O'NEIL", "O''NEIL", "'NEIL", "NEIL'", "O' NEIL", "O 'NEIL", "O ' NEIL",
    "Jean--Pierre", "Jean---Pierre", "Jean - - Pierre", "Jean -- Pierre", "Jean- -Pierre",
    "DE - LA", "DE -LA", "DE- LA", "-DUPONT", "DUPONT-", "--", "-", "'", " ", "", "\t\n",
    "Jean\u2010Paul", "Jean\u2011Paul", "Jean\u2013Paul", "Jean\u2014Paul", "Jean\u2212Paul",
    "Jean\u00a0Paul", "Jean\u2009Paul", "Jean\u3000Paul", "Jean\x1fPaul", "Jean\x85Paul",
    "Ana\u200bis", "Zoe\u0308", "Dupont3", "Du@pont", "Jean_Paul", "J.-P. Martin", "Martin😀",
    "👨‍👩‍👧", "Иван", "Ivanов", "Ωmega", "李", "Anne,Marie", "  Zoé!", "Dupont²", "Dupont½",
    "Ⅻ", "ｄｕｐｏｎｔ", "ＤＵＰＯＮＴ", "𝐃𝐔𝐏𝐎𝐍𝐓", "Ⓓupont", "\ud800", "a\udfffb", "\x00", "A\x7f",
    "a" * 100, "a" * 101, "A" * 100, "A" * 101, "  " + "a" * 100 + "  ", "ß" * 50, "ß" * 51,
    "Œ" * 51, "A B" * 40, "A-" * 60 + "A", ("Marie-Ève de la Tour d'Auvergne " * 10).strip(),
    "x" * 10_000, "DE LA TOUR", "DE  LA  TOUR", " DE LA TOUR ", "De La Tour", "MARIE ANNE",
]  # fmt: skip

TRICKY_FIRST_NAMES: list[str | list[str]] = [
    "Jean Pierre", "Pierre-alain", "Jean, Pierre-Alain, Marie", "Jean,Pierre", "  Éloïse  Maëlle ",
    "Jean - Pierre Marie", "Jean -Pierre", "Jean D' Arc", "Jean,, Paul,", "", "  ", " , ", ",",
    "Jean, Pa3l", "Jean,Pa3l,Mar1e", "Marie, -Pierre", "Marie,Pierre-", "Zoë😀", "Jean\tPaul",
    ["Anne-Sophie", "Claire"], ["Anne Sophie"], ["Zoë", "", "Inès"], [], ["", " "],
    ["Jean", "Pa3l"], ["Jean", "-Paul"], ["Jean, Paul"], ["ﬁnn", "Œdipe"],
]  # fmt: skip

TRICKY_DATES = [
    "1950-03-15", "1950-03-00", "1950-00-00", "1950-03", "1950", "1950-00", "1950-00-15",
    "1849-12-31", "1850-01-01", "1850-00-00", "2024-02-29", "2023-02-29", "1900-02-29",
    "2000-02-29", "1950-04-31", "1950-13-01", "1950-12-32", "1950-3-15", "1950/03/15",
    "19500315", " 1950-03-15 ", "", "   ", "abcd", "１９５０-０３-１５", "١٩٥٠-٠٣-١٥", "9999-12-31",
    "0000-00-00", "1950-03-15T00:00", "1950-03-15\n", "2100-01-01",
]  # fmt: skip

TRICKY_MATRICULES = [
    "184127645108946", "1 84 12 76 451 089 46", "1.84.12.76.451.089.46", "184127645108947",
    "184127645108900", "184127645108998", "18412764510894", "1841276451089466", "", "   ",
    "160032A00401297", "160032a004012", "2710 82B 03300 4", "1 55 06 20 004 003",
    "190079710532100", "190079790532100", "190079790032100", "285119881804500", "199059910012300",
    "199059909912300", "199059935212300", "199000035212300", "399059935212300", "999059935212300",
    "799059935212300", "899059935212300", "199999935212300", "199139935212300", "199209935212300",
    "199429935212300", "199439935212300", "199509935212300", "199517500012300", "199517512300000",
    "１84127645108946", "18412764510894６", "1841276451089\u00a046", "18412764510894ß", "Ⅻ",
    "1 84 12 76 451 089 46\t", "184127645108946.", "2B", "2A2A2A2A2A2A2A2",
]  # fmt: skip


@pytest.mark.parametrize("raw", TRICKY_NAMES)
def test_tricky_names(raw: str) -> None:
    for field in ("birth_name", "used_name"):  # a cached value must not carry the other field
        check(traits.normalise_name, reference_traits.normalise_name, raw, field=field)
    check(traits.phonetic_key, reference_traits.phonetic_key, raw)


@pytest.mark.parametrize("raw", TRICKY_FIRST_NAMES)
def test_tricky_first_names(raw: str | list[str]) -> None:
    for field in ("first_names", "first_name"):
        check(
            traits.normalise_first_names, reference_traits.normalise_first_names, raw, field=field
        )


@pytest.mark.parametrize("raw", ["M", "F", "m", "f", " M ", "male", "FEMALE", "X", "", "Ⓜ", "ﬀ"])
def test_tricky_sexes(raw: str) -> None:
    check(traits.normalise_sex, reference_traits.normalise_sex, raw)


@pytest.mark.parametrize("text", TRICKY_DATES)
def test_tricky_dates(text: str) -> None:
    for today in (None, date(1950, 3, 14), date(1950, 3, 15), date(2024, 2, 28)):
        new = traits.PartialDate.parse
        check(new, reference_traits.PartialDate.parse, text, field="birth_date", today=today)


def test_dates_around_today() -> None:
    now = datetime.now().astimezone().date()
    for day in (now - timedelta(days=1), now, now + timedelta(days=1), now + timedelta(days=40)):
        for text in (day.isoformat(), day.isoformat()[:7], day.isoformat()[:4]):
            check(traits.PartialDate.parse, reference_traits.PartialDate.parse, text, field="d")


@pytest.mark.parametrize("raw", TRICKY_MATRICULES)
def test_tricky_matricules(raw: str) -> None:
    for field in ("nir", "previous_nirs"):
        check(nir.parse_matricule, reference_nir.parse_matricule, raw, field=field)


def _tricky_rows() -> Iterator[dict[str, str]]:
    base = {
        "nir": "184127645108946",
        "kind": "NIR",
        "birth_name": "Dupont",
        "first_names": "Jean Pierre",
        "sex": "M",
        "birth_date": "1984-12-03",
        "birth_place": "76451",
        "used_name": "",
        "used_first_name": "",
        "death_date": "",
        "previous_nirs": "",
    }
    changes: list[dict[str, str]] = [
        {},
        {"kind": "nia"},
        {"kind": "X"},
        {"birth_name": "Dupont3", "first_names": "", "sex": "X", "birth_date": "1984-13-01"},
        {"birth_name": "Dupont3", "birth_place": "00000"},
        {"sex": "F"},
        {"birth_date": "1985-12-03"},
        {"birth_date": "1984-11-03"},
        {"birth_date": "1984-00-00"},
        {"birth_place": "75056"},
        {"birth_place": "99350"},
        {"birth_place": ""},
        {"sex": "F", "birth_date": "1985-11-03", "birth_place": "99352"},
        {"death_date": "1984-12-02"},
        {"death_date": "1984-12-00"},
        {"death_date": "1984-12-03"},
        {"death_date": "2999-01-01"},
        {"used_name": "Martin’s", "used_first_name": "Jé"},
        {"used_name": "M@rtin"},
        {"used_first_name": "-"},
        {"previous_nirs": "184127645108946 1 84 12 76 451 089 46"},
        {"previous_nirs": "18412764510894x"},
        {"nir": "1841276451089 46", "birth_name": "Ǆuro", "first_names": "ﬁnn, Œdipe"},
    ]
    for change in changes:
        yield {**base, **change}


def test_tricky_rows() -> None:
    for row in _tricky_rows():
        check_record(row)


# -- random fuzz ----------------------------------------------------------------------------------

_PIECES = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 4
    + "abcdefghijklmnopqrstuvwxyz" * 4
    + "     --''"
    + "àâäçéèêëîïôöùûüÿñÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸÑ"
    + "œŒæÆßẞøØłŁđĐðÐþÞı"
    + "’‘‛`´ʼ′\u2010\u2011\u2013\u2014\t\u00a0\u2009\u3000\n"
    + "\u0301\u0300\u0308\u0327\u200b\u200d"
    + "0123456789@_.,;!?²½ﬁﬂĳǄ"
    + "ЖИвαβΩ李😀👍"
)


def _random_text(rng: random.Random) -> str:
    length = rng.choice([0, 1, 2, 3, 5, 8, 12, 20, 40, 99, 100, 101, 130])
    chars = []
    for _ in range(length):
        draw = rng.random()
        if draw < 0.9:
            chars.append(rng.choice(_PIECES))
        elif draw < 0.95:
            chars.append(chr(rng.randrange(0x80, 0x3000)))
        else:
            chars.append(chr(rng.randrange(0x110000)))
    return "".join(chars)


def test_fuzz_names_and_phonetic_keys() -> None:
    rng = random.Random(2026)
    for _ in range(4000):
        raw = _random_text(rng)
        if rng.random() < 0.5:
            raw = raw.upper()
        field = rng.choice(["birth_name", "used_name", "used_first_name"])
        check(traits.normalise_name, reference_traits.normalise_name, raw, field=field)
        check(traits.phonetic_key, reference_traits.phonetic_key, raw)


def test_fuzz_first_names() -> None:
    rng = random.Random(2027)
    for _ in range(2000):
        raw: str | list[str]
        if rng.random() < 0.7:
            raw = _random_text(rng)
        else:
            raw = [_random_text(rng) for _ in range(rng.randrange(4))]
        new, old = traits.normalise_first_names, reference_traits.normalise_first_names
        check(new, old, raw, field="first_names")


def test_fuzz_matricules() -> None:
    rng = random.Random(2028)
    valid = [row["nir"] for row in population()[:500]]
    for _ in range(3000):
        draw = rng.random()
        if draw < 0.4:
            raw = _digit_changed(rng, rng.choice(valid), rng.randrange(15))
        elif draw < 0.6:
            raw = "".join(rng.choice("0123456789") for _ in range(13))
            raw += rng.choice([nir_key_of(raw), f"{rng.randrange(100):02d}"])
        elif draw < 0.7:
            raw = "".join(rng.choice("0123456789 .AaBb2\t-") for _ in range(rng.randrange(20)))
        elif draw < 0.8:  # a character missing or added: 13 to 17 characters
            raw = rng.choice(valid)
            where = rng.randrange(16)
            raw = rng.choice([raw[:where] + raw[where + 1 :], raw[:where] + "7" + raw[where:]])
            raw = rng.choice([raw, raw[:-1], raw + "1"])
        else:
            raw = _spaced(rng.choice(valid))
        for field in ("nir", "previous_nirs"):
            check(nir.parse_matricule, reference_nir.parse_matricule, raw, field=field)


@pytest.mark.parametrize("value", [None, 12, b"184127645108946", ["DUPONT"]])
def test_values_of_another_type_fail_alike(value: Any) -> None:
    check(traits.normalise_name, reference_traits.normalise_name, value, field="birth_name")
    new, old = traits.normalise_first_names, reference_traits.normalise_first_names
    check(new, old, value, field="first_names")
    check(new, old, [value], field="first_names")
    check(nir.parse_matricule, reference_nir.parse_matricule, value)
    check(traits.PartialDate.parse, reference_traits.PartialDate.parse, value, field="birth_date")
    check(traits.normalise_sex, reference_traits.normalise_sex, value)


def test_cold_and_bounded_caches_answer_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """Emptied caches, and a transliteration table too small to remember every character."""
    monkeypatch.setattr(traits, "_TABLE_LIMIT", 40)
    traits.clear_caches()
    try:
        rng = random.Random(2031)
        for _ in range(1000):
            raw = _random_text(rng)
            check(traits.normalise_name, reference_traits.normalise_name, raw, field="birth_name")
        assert len(traits._TABLE) <= 40
    finally:
        traits.clear_caches()
    for row in population()[:300]:
        check_record(row)


def test_the_local_date_changes_at_midnight(monkeypatch: pytest.MonkeyPatch) -> None:
    """The date remembered for a second of the clock is refreshed when the second changes."""
    midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    midnight += timedelta(days=3)  # a local midnight in the future
    new_day = midnight.date().isoformat()
    clock = [midnight.timestamp() - 0.5]
    monkeypatch.setattr(traits, "time", SimpleNamespace(time=lambda: clock[0]))
    traits.clear_caches()
    try:
        with pytest.raises(AppError, match=f"birth_date: {new_day} is in the future"):
            traits.PartialDate.parse(new_day, field="birth_date")
        clock[0] = midnight.timestamp()
        assert traits.PartialDate.parse(new_day, field="birth_date").isoformat() == new_day
        clock[0] = midnight.timestamp() + 0.9
        assert traits.PartialDate.parse(new_day, field="birth_date").isoformat() == new_day
    finally:
        traits.clear_caches()


def nir_key_of(first13: str) -> str:
    return f"{97 - int(first13) % 97:02d}"


def test_fuzz_dates() -> None:
    rng = random.Random(2029)
    for _ in range(3000):
        year = rng.choice([rng.randrange(1840, 2030), rng.randrange(10_000)])
        month = rng.choice([rng.randrange(13), rng.randrange(100)])
        day = rng.choice([rng.randrange(32), 0, 28, 29, 30, 31, rng.randrange(100)])
        text = rng.choice(
            [f"{year:04d}-{month:02d}-{day:02d}", f"{year:04d}-{month:02d}", f"{year:04d}"]
        )
        today = rng.choice([None, date(rng.randrange(1850, 2100), 6, 15)])
        new = traits.PartialDate.parse
        check(new, reference_traits.PartialDate.parse, text, field="birth_date", today=today)


def test_fuzz_trait_consistency() -> None:
    """nir_trait_mismatches on valid matricules with random, partly inconsistent traits."""
    rng = random.Random(2030)
    rows = population()[:1500]
    places = [row["birth_place"] for row in rows] + ["2A004", "20004", "97601", "99350", "92012"]
    for row in rows:
        matricule = nir.parse_matricule(row["nir"])
        old_matricule = reference_nir.parse_matricule(row["nir"])
        text = rng.choice(
            [row["birth_date"], f"{rng.randrange(1900, 2020)}-{rng.randrange(13):02d}"]
        )
        birth = traits.PartialDate.parse(text, field="birth_date")
        old_birth = reference_traits.PartialDate.parse(text, field="birth_date")
        sex = rng.choice(["M", "F", "m", " f", "X"])
        place = rng.choice([row["birth_place"], rng.choice(places), None, " ", "2a004 "])
        assert outcome(
            nir.nir_trait_mismatches, matricule, sex=sex, birth_date=birth, birth_place=place
        ) == outcome(
            reference_nir.nir_trait_mismatches,
            old_matricule,
            sex=sex,
            birth_date=old_birth,
            birth_place=place,
        )
