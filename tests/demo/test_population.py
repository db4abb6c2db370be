"""The synthetic population: deterministic, valid row by row, and with the features it promises."""

from __future__ import annotations

import collections
import io
import itertools
import subprocess
import sys
from collections.abc import Iterator
from datetime import date

import pytest
from stdnum.fr import nir as stdnum_nir

from carnet.demo import population
from carnet.demo.population import (
    AS_OF,
    CSV_COLUMNS,
    generate_population,
    nir_key,
    population_groups,
    write_csv,
    write_population_csv,
)
from carnet.identity.places import get_places
from carnet.identity.service import validate_record
from carnet.identity.traits import normalise_first_names, normalise_name

Row = dict[str, str]


@pytest.fixture(scope="module")
def sample() -> list[Row]:
    return list(generate_population(20_000, seed=7))


def _name(row: Row) -> str:
    return normalise_name(row["birth_name"], field="birth_name")


def _first_names(row: Row) -> list[str]:
    return normalise_first_names(row["first_names"], field="first_names")


def _adjacent(rows: list[Row]) -> Iterator[tuple[Row, Row]]:
    return itertools.pairwise(rows)


def test_a_seed_gives_the_same_rows_and_another_seed_others() -> None:
    first = list(generate_population(2_000, seed=11))
    assert first == list(generate_population(2_000, seed=11))
    other = list(generate_population(2_000, seed=12))
    assert {r["nir"] for r in first} != {r["nir"] for r in other}
    assert len(first) == 2_000
    assert list(generate_population(0, seed=1)) == []
    # Ages and deaths are relative to a reference date: nothing happens after it.
    early = list(generate_population(3_000, seed=11, as_of=date(2024, 3, 15)))
    assert max(r["birth_date"] for r in early) <= "2024-03-15"
    assert max(r["death_date"] for r in early) <= "2024-03-15"
    with pytest.raises(ValueError, match="size"):
        generate_population(-1, seed=1)


def test_groups_generated_alone_are_the_stream_cut_by_birth_year() -> None:
    whole = list(generate_population(3_000, seed=11))
    groups = population_groups(3_000, seed=11)
    assert sum(rows for _, rows in groups) == 3_000
    assert len({yy for yy, _ in groups}) == len(groups)
    at = 0
    for yy, rows in groups:  # the stream is the groups, one after the other, in this order
        assert {int(row["birth_date"][2:4]) for row in whole[at : at + rows]} == {yy}
        at += rows
    some = {yy for yy, _ in groups[3:9]}
    alone = list(generate_population(3_000, seed=11, groups=some))
    assert alone == [row for row in whole if int(row["birth_date"][2:4]) in some]


def test_workers_write_the_same_file_as_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(population, "PARALLEL_FROM", 0)  # forked workers inherit it
    one, two = io.StringIO(), io.StringIO()
    assert write_population_csv(one, 4_000, 5, workers=1) == 4_000
    seen: list[int] = []
    assert write_population_csv(two, 4_000, 5, workers=2, progress=seen.append) == 4_000
    assert two.getvalue() == one.getvalue()
    assert seen == sorted(seen)
    assert seen[-1] == 4_000
    assert len(seen) > 10  # one report a group


def test_every_row_passes_the_register_validation(sample: list[Row]) -> None:
    assert all(tuple(row) == CSV_COLUMNS for row in sample[:10])
    for row in sample[:4_000]:
        record = validate_record(**row)
        assert record.matricule.value == row["nir"]
    # Matricules are unique, NIAs and former NIAs included.
    matricules = [row["nir"] for row in sample] + [
        m for row in sample for m in row["previous_nirs"].split()
    ]
    assert len(matricules) == len(set(matricules))


def test_nir_fields_follow_the_traits(sample: list[Row]) -> None:
    for row in sample:
        nir = row["nir"]
        digit = nir[0]
        if row["kind"] == "NIA":
            assert digit == ("7" if row["sex"] == "M" else "8")
        else:
            assert digit == ("1" if row["sex"] == "M" else "2")
        assert nir[1:3] == row["birth_date"][2:4]
        month = row["birth_date"][5:7]
        if month == "00":
            assert 20 <= int(nir[3:5]) <= 30 or nir[3:5] == "50"
        else:
            assert nir[3:5] == month
        assert nir[13:] == nir_key(nir[:13])
    for first13 in ("2690575056123", "175052A004001", "180112B033007", "1850799352020"):
        assert nir_key(first13) == stdnum_nir.calc_check_digits(first13)


def test_twins_share_name_date_place_with_consecutive_order_numbers(sample: list[Row]) -> None:
    twins = [
        (a, b)
        for a, b in _adjacent(sample)
        if a["birth_date"] == b["birth_date"]
        and a["birth_place"] == b["birth_place"]
        and _name(a) == _name(b)
        and a["nir"][1:10] == b["nir"][1:10]
        and int(b["nir"][10:13]) == int(a["nir"][10:13]) + 1
    ]
    assert 200 < len(twins) < 500  # ~1.6 % of births are twin pairs
    assert all(_first_names(a)[0] != _first_names(b)[0] for a, b in twins)


def test_homonyms_share_name_first_name_sex_date_but_not_the_place(sample: list[Row]) -> None:
    groups = collections.defaultdict(list)
    for row in sample:
        groups[(_name(row), row["birth_date"], row["sex"], _first_names(row)[0])].append(row)
    homonyms = [
        g for g in groups.values() if len(g) >= 2 and len({r["birth_place"] for r in g}) == len(g)
    ]
    assert len(homonyms) >= 50
    assert any(len(g) == 3 for g in homonyms)
    # Some differ by their other first names too (the INSi retry with every first name works).
    assert any(len({r["first_names"].upper() for r in g}) > 1 for g in homonyms)


def test_nia_holders_and_nirs_that_replaced_a_nia(sample: list[Row]) -> None:
    nia = [row for row in sample if row["kind"] == "NIA"]
    replaced = [row for row in sample if row["previous_nirs"]]
    assert len(nia) > 40
    assert len(replaced) > 25
    for row in nia + replaced:
        assert row["birth_place"].startswith("99")  # born abroad
        assert AS_OF.year - int(row["birth_date"][:4]) < 65
    for row in replaced:
        assert row["kind"] == "NIR"
        (former,) = row["previous_nirs"].split()
        assert former[0] in "78"
        assert former[1:5] == row["nir"][1:5]  # same birth year and month code


def test_partial_birth_dates(sample: list[Row]) -> None:
    unknown_day = [
        r for r in sample if r["birth_date"][5:] != "00-00" and r["birth_date"][8:] == "00"
    ]
    unknown_month = [r for r in sample if r["birth_date"][5:] == "00-00"]
    assert len(unknown_day) > 10
    assert len(unknown_month) > 30
    assert sum(r["birth_place"].startswith("99") for r in unknown_month) > len(unknown_month) / 2


def test_raw_names_exercise_the_normalisation(sample: list[Row]) -> None:
    accented = [r for r in sample if not (r["birth_name"] + r["first_names"]).isascii()]
    lowercase = [r for r in sample if r["birth_name"] != r["birth_name"].upper()]
    typographic = [r for r in sample if "\u2019" in r["birth_name"] + r["first_names"]]
    assert len(accented) > 2_000
    assert len(lowercase) > 4_000
    assert typographic
    # Particles, compound and double names, compound first names.
    names = [r["birth_name"] for r in sample]
    assert any(n.lower().startswith(("de la ", "du ", "d'", "d\u2019")) for n in names)
    double = [r for r in sample if "--" in r["birth_name"]]
    assert double
    assert all("2005" <= r["birth_date"][:4] <= "2010" for r in double)
    assert any("-" in r["first_names"].split()[0] for r in sample)
    assert collections.Counter(len(_first_names(r)) for r in sample).keys() == {1, 2, 3, 4}


def test_birth_places_abroad_and_historical_codes(sample: list[Row]) -> None:
    places = get_places()
    abroad = [r for r in sample if r["birth_place"].startswith("99")]
    assert 0.05 < len(abroad) / len(sample) < 0.10
    countries = collections.Counter(r["birth_place"] for r in abroad)
    assert [code for code, _ in countries.most_common(2)] == ["99352", "99350"]  # Algeria, Morocco
    # Before 1968, today's Hauts-de-Seine… were Seine (75) or Seine-et-Oise (78).
    seine = [
        r
        for r in sample
        if r["birth_place"][:2] in ("75", "78")
        and (places.current_code(r["birth_place"]) or "")[:2] in ("91", "92", "93", "94", "95")
    ]
    assert seine
    assert all(r["birth_date"] < "1968" for r in seine)
    corsica_20 = [r for r in sample if r["birth_place"].startswith("20")]
    assert corsica_20
    assert all(r["birth_date"] < "1976" and r["nir"][5:7] == "20" for r in corsica_20)
    assert not any(r["birth_date"] < "1976" and r["nir"][5:7] in ("2A", "2B") for r in sample)


def test_used_names_and_deaths(sample: list[Row]) -> None:
    women = [r for r in sample if r["sex"] == "F" and r["birth_date"] < "1980"]
    assert 0.4 < sum(bool(r["used_name"]) for r in women) / len(women) < 0.8
    deaths = [r for r in sample if r["death_date"]]
    assert deaths
    assert all(r["birth_date"] < r["death_date"] <= AS_OF.isoformat() for r in deaths)
    assert all(r["birth_date"][:4] <= str(AS_OF.year) for r in sample)


def test_write_csv_and_the_population_command() -> None:
    out = io.StringIO()
    assert write_csv(generate_population(5, seed=3), out) == 5
    assert out.getvalue().splitlines()[0] == ",".join(CSV_COLUMNS)

    result = subprocess.run(
        [sys.executable, "-m", "carnet", "demo", "population", "--size", "100", "--seed", "5"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert len(lines) == 101
    expected = io.StringIO()
    write_csv(generate_population(100, seed=5), expected)
    assert result.stdout == expected.getvalue()
