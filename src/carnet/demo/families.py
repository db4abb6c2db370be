"""Families, insurance rights and card holders for the synthetic population.

``write_population_files(out, size, seed)`` writes, in the import formats:

* ``register.csv``: the register (``carnet registry import``), from ``generate_population``;
* ``rights.csv``: one coverage period per living beneficiary (``carnet rights import``). Adults
  are insured in their own right (quality 00); children under 18 are attached to a parent
  (quality 06) who keeps their own INS, twins share a parent and get ranks 1 and 2. Special
  situations at rough national rates: ALD rising with age (~12 M people in France), C2S (~7 M),
  maternity, invalidity, a little AME among NIA holders;
* ``card_holders.csv``: the adults who activated the digital card (``nir,birth_date,email``, about
  one in ten: ~2 M activations in 2025 out of 69 M), for the card benchmarks and demos.

Parents are chosen in a second pass over the register file: the first pass keeps a bounded
sample of possible parents (alive, 18–80 years old), up to three per birth name (so that most
children share their parent's name) and a few hundred per birth year (the fallback), never the
whole population. Memory therefore stays bounded whatever the size. The same seed gives the same
files.
"""

from __future__ import annotations

import csv
import random
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from carnet.demo.population import AS_OF, CSV_COLUMNS, generate_population

# The rights import header (carnet.rights.importer.HEADER).
RIGHTS_COLUMNS = (
    "nir", "birth_date", "rank", "insured_nir", "quality", "regime", "fund", "centre", "start",
    "end", "situations",
)  # fmt: skip
CARD_HOLDER_COLUMNS = ("nir", "birth_date", "email")

# Share of beneficiaries per mandatory scheme (régime général dominates; rough orders).
_REGIMES: tuple[tuple[float, str], ...] = (
    (0.880, "01"),
    (0.935, "02"),
    (0.945, "04"),
    (0.950, "05"),
    (0.953, "06"),
    (0.956, "07"),
    (0.971, "08"),
    (0.973, "10"),
    (1.000, "90"),
)
_NAMES_KEPT = 400_000  # birth names remembered for parent matching (bounded memory)
_PER_NAME = 3
_PER_YEAR = 300
_CARD_SHARE = 0.10


@dataclass(frozen=True, slots=True)
class _Parent:
    matricule: str
    year: int


def _key(raw: str) -> str:
    decomposed = unicodedata.normalize("NFKD", raw.upper())
    return "".join(c for c in decomposed if c.isalnum())


def _year(birth_date: str) -> int:
    return int(birth_date[:4])


def _full_date(birth_date: str) -> date:
    """A partial date's earliest day (00 month/day → 01)."""
    year, month, day = (int(part) for part in birth_date.split("-"))
    return date(year, month or 1, day or 1)


def _stable(value: str) -> int:
    return zlib.crc32(value.encode())


class _ParentPool:
    def __init__(self, rng: random.Random, as_of: date) -> None:
        self.rng = rng
        self.as_of = as_of
        self.by_name: dict[str, list[_Parent]] = {}
        self.by_year: dict[int, list[_Parent]] = {}
        self.seen_per_year: dict[int, int] = {}

    def offer(self, row: dict[str, str]) -> None:
        if row["death_date"]:
            return
        year = _year(row["birth_date"])
        age = self.as_of.year - year
        if not 18 <= age <= 80:
            return
        parent = _Parent(row["nir"], year)
        name = _key(row["birth_name"])
        slot = self.by_name.get(name)
        if slot is None:
            if len(self.by_name) < _NAMES_KEPT:
                self.by_name[name] = [parent]
        elif len(slot) < _PER_NAME:
            slot.append(parent)
        # Reservoir sampling per birth year: a uniform sample of bounded size.
        seen = self.seen_per_year.get(year, 0) + 1
        self.seen_per_year[year] = seen
        reservoir = self.by_year.setdefault(year, [])
        if len(reservoir) < _PER_YEAR:
            reservoir.append(parent)
        else:
            index = self.rng.randrange(seen)
            if index < _PER_YEAR:
                reservoir[index] = parent

    def parent_for(self, birth_name: str, child_year: int) -> _Parent | None:
        for candidate in self.by_name.get(_key(birth_name), ()):
            if 18 <= child_year - candidate.year <= 45:
                return candidate
        for _ in range(20):
            year = child_year - self.rng.randint(20, 40)
            reservoir = self.by_year.get(year)
            if reservoir:
                return self.rng.choice(reservoir)
        return None


def _regime(matricule: str) -> tuple[str, str, str]:
    """Scheme, fund and centre: stable per insured person (their dependants share them)."""
    h = _stable(matricule)
    draw = (h % 100_000) / 100_000
    regime = next(code for limit, code in _REGIMES if draw < limit)
    return regime, f"{(h >> 8) % 999 + 1:03d}", f"{(h >> 4) % 9999 + 1:04d}"


def _situations(rng: random.Random, row: dict[str, str], age: int, start: date, as_of: date) -> str:
    items: list[str] = []
    span = max((as_of - start).days, 1)

    def since() -> str:
        return date.fromordinal(start.toordinal() + rng.randrange(span)).isoformat()

    p_ald = 0.03 if age < 40 else 0.12 if age < 60 else 0.30 if age < 75 else 0.45
    if rng.random() < p_ald:
        items.append(f"ALD/{rng.randint(1, 32)}:{since()}:")
    if rng.random() < 0.10:
        items.append(f"C2S{'/P' if rng.random() < 0.3 else ''}:{since()}:")
    if row["sex"] == "F" and 20 <= age <= 42 and rng.random() < 0.02:
        begin = date(as_of.year, rng.randint(1, 3), 1)
        end = date(begin.year, begin.month + 8, 28)
        if begin >= start:
            items.append(f"MAT:{begin.isoformat()}:{end.isoformat()}")
    if 40 <= age <= 62 and rng.random() < 0.03:
        items.append(f"INV:{since()}:")
    if row["kind"] == "NIA" and rng.random() < 0.05:
        items.append(f"AME:{since()}:")
    return " ".join(items)


def _email(row: dict[str, str], rng: random.Random) -> str:
    first = _key(row["first_names"].split(" ")[0]).lower() or "x"
    last = _key(row["used_name"] or row["birth_name"]).lower() or "x"
    return f"{first}.{last}.{rng.randrange(10_000)}@example.org"


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


def write_population_files(
    out: Path,
    size: int,
    seed: int,
    *,
    as_of: date = AS_OF,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Write register.csv, rights.csv and card_holders.csv under ``out``; return line counts."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed * 7919 + 17)  # noqa: S311 - reproducible synthetic data
    pool = _ParentPool(rng, as_of)
    register = out / "register.csv"
    count = 0
    with register.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in generate_population(size, seed, as_of=as_of):
            writer.writerow([row[column] for column in CSV_COLUMNS])
            pool.offer(row)
            count += 1
            if progress and count % 100_000 == 0:
                progress("register", count)
    counts = {"register": count}
    counts.update(_write_rights(register, out, pool, rng, as_of, progress))
    return counts


def write_rights_files(
    register: Path, out: Path, seed: int, *, as_of: date = AS_OF
) -> dict[str, int]:
    """rights.csv and card_holders.csv under ``out`` for an existing register file."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed * 7919 + 17)  # noqa: S311 - reproducible synthetic data
    pool = _ParentPool(rng, as_of)
    for row in _rows(register):
        pool.offer(row)
    return _write_rights(register, out, pool, rng, as_of, None)


def _write_rights(
    register: Path,
    out: Path,
    pool: _ParentPool,
    rng: random.Random,
    as_of: date,
    progress: Callable[[str, int], None] | None,
) -> dict[str, int]:
    counts = {"rights": 0, "dependants": 0, "card_holders": 0}

    # Per birth year (rows of one year come together), the (parent, birth date) pairs already
    # used: two children of one parent born the same day need distinct ranks.
    current_year = -1
    used: dict[int, int] = {}
    previous: tuple[str, str, str] | None = None
    previous_parent: _Parent | None = None
    previous_rank = 0
    with (
        (out / "rights.csv").open("w", encoding="utf-8", newline="") as rights_file,
        (out / "card_holders.csv").open("w", encoding="utf-8", newline="") as cards_file,
    ):
        rights = csv.writer(rights_file, lineterminator="\n")
        rights.writerow(RIGHTS_COLUMNS)
        cards = csv.writer(cards_file, lineterminator="\n")
        cards.writerow(CARD_HOLDER_COLUMNS)
        for row in _rows(register):
            if row["death_date"]:
                continue
            year = _year(row["birth_date"])
            if year != current_year:
                current_year, used = year, {}
            age = as_of.year - year
            born = _full_date(row["birth_date"])
            if age >= 18:
                regime, fund, centre = _regime(row["nir"])
                start = max(date(year + 18, born.month, 1), date(1990, 1, 1))
                situations = _situations(rng, row, age, start, as_of)
                rights.writerow(
                    [row["nir"], row["birth_date"], 1, "", "00", regime, fund, centre,
                     start.isoformat(), "", situations]
                )  # fmt: skip
                counts["rights"] += 1
                if age <= 85 and rng.random() < _CARD_SHARE:
                    cards.writerow([row["nir"], row["birth_date"], _email(row, rng)])
                    counts["card_holders"] += 1
                continue
            # A child: twins (same name, date and place, one after the other) share a parent.
            twin_key = (_key(row["birth_name"]), row["birth_date"], row["birth_place"])
            if twin_key == previous and previous_parent is not None:
                parent, rank = previous_parent, previous_rank + 1
            else:
                found = pool.parent_for(row["birth_name"], year)
                if found is None:
                    continue
                parent, rank = found, 1
            slot = _stable(parent.matricule + row["birth_date"])
            rank = max(rank, used.get(slot, 0) + 1)
            if rank > 9:
                continue
            used[slot] = rank
            previous, previous_parent, previous_rank = twin_key, parent, rank
            regime, fund, centre = _regime(parent.matricule)
            start = max(born, date(1990, 1, 1))
            situations = _situations(rng, row, age, start, as_of) if age >= 1 else ""
            rights.writerow(
                [row["nir"], row["birth_date"], rank, parent.matricule, "06", regime, fund,
                 centre, start.isoformat(), "", situations]
            )  # fmt: skip
            counts["rights"] += 1
            counts["dependants"] += 1
            if progress and counts["rights"] % 100_000 == 0:
                progress("rights", counts["rights"])
    return counts
