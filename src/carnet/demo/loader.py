"""Demo set-up (``carnet demo load``) and INSi-like queries drawn from a population file.

``load_demo`` makes a fresh platform usable in one command, and is idempotent:

1. the synthetic population (``carnet.demo.population``) is written to
   ``$CARNET_DATA_DIR/demo-population-<size>-s<seed>.csv`` and loaded with the register importer,
   unless the register already holds at least ``size`` persons;
2. the demo care structure "Centre hospitalier de démonstration" and a demo API client bound to it
   (scopes ``ins.read identities.read identities.write audit.read``) are created once; their ids and
   the client secret are kept in ``$CARNET_DATA_DIR/demo.json`` (mode 0600) and reused while the
   credentials still authenticate;
3. a few identities worth trying are picked from the population file (``scan_queries``).

``scan_queries`` turns a population file into search requests whose INSi answer is known in
advance (00 one identity, 01 none, 02 several), computed with the search's matching rules over
the whole file in two streaming passes: the first samples candidates (reservoir sampling, plus the
twins and homonym groups, which the generator writes on adjacent lines), the second counts, for
every candidate, the lines it would match. Memory depends on the number of queries, not on the size
of the file. The benchmark (``bench/lookup.py``) uses it too.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.auth.principal import Principal
from carnet.auth.service import AuthService, OAuthError
from carnet.db import Database
from carnet.demo.population import write_population_csv
from carnet.exceptions import ValidationFailed
from carnet.identity.importer import ImportReport, import_register
from carnet.identity.models import Person
from carnet.identity.places import get_places
from carnet.identity.traits import normalise_first_names, normalise_name
from carnet.vigilance.schemas import StructureCreate
from carnet.vigilance.service import vigilance_service

__all__ = [
    "DEMO_CLIENT_NAME",
    "DEMO_SCOPES",
    "DEMO_STRUCTURE_NAME",
    "DemoSetup",
    "SearchQuery",
    "count_persons",
    "load_demo",
    "population_path",
    "scan_queries",
    "write_population",
]

DEMO_CLIENT_NAME = "Carnet demo software"
DEMO_SCOPES = ("audit.read", "identities.read", "identities.write", "ins.read")
DEMO_STRUCTURE_NAME = "Centre hospitalier de démonstration"
STATE_FILE = "demo.json"
# The demo loader acts as the platform operator (a principal bound to no structure). The demo
# structure gets no FINESS number: inventing one could name a real establishment.
_OPERATOR = Principal(client_id="demo-loader", scopes=frozenset())

# Categories of ``scan_queries`` and the INSi code each one must give.
EXPECTED = {
    "existing": "00",
    "plain": "00",
    "twin": "00",
    "nia": "00",
    "nia_history": "00",
    "partial_date": "00",
    "accents": "00",
    "homonyms": "02",
    "homonyms_with_place": "00",
    "absent": "01",
}


# -- the register and the demo records ---------------------------------------------------------


def count_persons(database: Database) -> int:
    """How many persons the register holds.

    A plain count, not an access to anyone's data (nothing to audit); the identity service offers
    no count, so this one reads the table directly.
    """
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(Person)) or 0)


def population_path(data_dir: Path, size: int, seed: int) -> Path:
    return data_dir / f"demo-population-{size}-s{seed}.csv"


def write_population(path: Path, size: int, seed: int, *, workers: int = 1) -> int:
    """Write the population atomically (a crash never leaves a truncated file behind), generated
    on ``workers`` processes (the file is the same for any number)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", newline="", dir=path.parent, prefix=path.name, suffix=".tmp",
        delete=False,
    ) as tmp:  # fmt: skip
        try:
            count = write_population_csv(tmp, size, seed, workers=workers)
        except BaseException:
            os.unlink(tmp.name)
            raise
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)
    return count


@dataclass
class _State:
    client_id: str | None = None
    client_secret: str | None = None
    structure_id: int | None = None
    population: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> _State:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        return cls(
            client_id=data.get("client_id"),
            client_secret=data.get("client_secret"),
            structure_id=data.get("structure_id"),
            population=data.get("population") or {},
        )

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_suffix(".json.tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(self), out, indent=2, ensure_ascii=False)
        os.replace(path.with_suffix(".json.tmp"), path)


def _ensure_structure(session: Session, known_id: int | None) -> int:
    """The demo structure: the recorded one if it is still there, else the one of that name."""
    structures = vigilance_service.list_structures(session, _OPERATOR)
    for structure in structures:
        if structure.id == known_id and structure.name == DEMO_STRUCTURE_NAME:
            return structure.id
    for structure in structures:
        if structure.name == DEMO_STRUCTURE_NAME:
            return structure.id
    created = vigilance_service.create_structure(
        session, _OPERATOR, StructureCreate(name=DEMO_STRUCTURE_NAME)
    )
    return created.id


def _ensure_client(
    session: Session, auth: AuthService, state: _State, structure_id: int
) -> tuple[str, str, bool]:
    """(client id, secret, reused): the recorded client while its credentials still work."""
    if state.client_id and state.client_secret:
        try:
            client = auth.authenticate_basic(session, state.client_id, state.client_secret)
        except OAuthError:
            client = None
        if (
            client is not None
            and client.structure_id == structure_id
            and set(client.scopes.split()) == set(DEMO_SCOPES)
        ):
            return state.client_id, state.client_secret, True
    created = auth.create_client(
        session, name=DEMO_CLIENT_NAME, scopes=list(DEMO_SCOPES), structure_id=structure_id
    )
    assert created.client_secret is not None  # a client_secret_basic client
    return created.client_id, created.client_secret, False


@dataclass
class DemoSetup:
    """What ``load_demo`` did and what to show the user."""

    population_file: Path | None
    generated: bool
    imported: ImportReport | None
    persons: int
    client_id: str
    client_secret: str
    client_reused: bool
    structure_id: int
    examples: list[SearchQuery]


def load_demo(
    database: Database,
    auth: AuthService,
    data_dir: Path,
    *,
    size: int,
    seed: int,
    progress: bool = True,
    say: Callable[[str], None] = lambda _: None,
) -> DemoSetup:
    """Set up the demo (see the module docstring); safe to run again and again."""
    if size < 1:
        raise ValueError("size must be at least 1")
    data_dir.mkdir(parents=True, exist_ok=True)
    state_path = data_dir / STATE_FILE
    state = _State.read(state_path)
    path = population_path(data_dir, size, seed)

    persons = count_persons(database)
    generated, report = False, None
    population_file: Path | None = path
    if persons >= size:
        say(f"The register already holds {persons:,} persons (≥ {size:,}): nothing to import.")
        recorded = state.population.get("file")
        if not path.is_file():
            population_file = Path(recorded) if recorded and Path(recorded).is_file() else None
    else:
        if not path.is_file():
            say(f"Generating {size:,} synthetic persons (seed {seed}) into {path} …")
            write_population(path, size, seed)
            generated = True
        say(f"Importing {path} into the register …")
        report = import_register(database, path, skip_invalid=False, progress=progress)
        if not report.committed:
            shown = "; ".join(f"line {line}: {reason}" for line, reason in report.errors[:5])
            raise RuntimeError(
                f"the demo population was refused by the importer ({report.invalid} invalid "
                f"lines): {shown}"
            )
        persons = count_persons(database)
        state.population = {"file": str(path), "size": size, "seed": seed}

    with database.session() as session:
        structure_id = _ensure_structure(session, state.structure_id)
        client_id, secret, reused = _ensure_client(session, auth, state, structure_id)
    state.structure_id, state.client_id, state.client_secret = structure_id, client_id, secret
    state.write(state_path)

    examples = demo_examples(population_file) if population_file is not None else []
    return DemoSetup(
        population_file=population_file,
        generated=generated,
        imported=report,
        persons=persons,
        client_id=client_id,
        client_secret=secret,
        client_reused=reused,
        structure_id=structure_id,
        examples=examples,
    )


# -- queries with a known answer ---------------------------------------------------------------


@dataclass(frozen=True)
class SearchQuery:
    """A body for ``POST /api/v1/ins/search`` and the code the register must answer."""

    category: str
    expected: str
    body: dict[str, str]
    rows: tuple[dict[str, str], ...] = ()  # the population lines it was built from


@lru_cache(maxsize=262_144)
def _name(raw: str) -> str:
    return normalise_name(raw, field="birth_name")


@lru_cache(maxsize=262_144)
def _first_names(raw: str) -> tuple[str, ...]:
    return tuple(normalise_first_names(raw, field="first_names"))


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle)


class _Reservoir:
    """A uniform sample of ``k`` items from a stream (algorithm R)."""

    def __init__(self, k: int, rng: random.Random) -> None:
        self.k, self.rng, self.seen = k, rng, 0
        self.items: list[Any] = []

    def add(self, item: Any) -> None:
        self.seen += 1
        if len(self.items) < self.k:
            self.items.append(item)
        else:
            index = int(self.rng.random() * self.seen)
            if index < self.k:
                self.items[index] = item


@dataclass
class _Candidate:
    category: str
    name: str
    first_name: str
    sex: str
    birth_date: str
    place: str | None
    body: dict[str, str]
    rows: tuple[dict[str, str], ...]
    matches: int = 0


def _candidate(
    category: str, row: dict[str, str], *, raw: bool = False, place: bool = False, **override: str
) -> _Candidate | None:
    try:
        name = override.get("birth_name") or _name(row["birth_name"])
        first = _first_names(row["first_names"])[0]
    except ValidationFailed:  # pragma: no cover - the population file is valid
        return None
    birth_date = override.get("birth_date", row["birth_date"])
    body = {
        "birth_name": row["birth_name"].strip() if raw else name,
        "first_name": row["first_names"].split()[0] if raw else first,
        "sex": row["sex"],
        "birth_date": birth_date,
    }
    if place:
        body["birth_place"] = row["birth_place"]
    return _Candidate(
        category, name, first, row["sex"], birth_date, row["birth_place"] if place else None,
        body, (row,),
    )  # fmt: skip


def _absent(row: dict[str, str], rng: random.Random) -> _Candidate | None:
    """A query for someone who is not there: a typing slip in the birth name or the day."""
    year, month, day = (int(part) for part in row["birth_date"].split("-"))
    if rng.random() < 0.5 and day and 1 < day < 28:
        shifted = f"{year:04d}-{month:02d}-{day + rng.choice((-1, 1)):02d}"
        return _candidate("absent", row, birth_date=shifted)
    name = _name(row["birth_name"])
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    at = rng.choice(letters)
    typo = name[:at] + ("E" if name[at] != "E" else "A") + name[at + 1 :]
    return _candidate("absent", row, birth_name=typo)


def _accented_compound(row: dict[str, str]) -> bool:
    name, first = row["birth_name"], row["first_names"].split()[0]
    return not (name + first).isascii() and any(
        sep in name or sep in first for sep in ("-", " ", "'", "\u2019")
    )


class QuerySampler:
    """Candidate searches drawn from a stream of population rows (pass 1 of ``scan_queries``).

    Uniform samples per category (with some spare: a candidate whose match count turns out
    different from its category's expected answer is dropped), plus the homonym groups the
    generator writes as consecutive rows. ``scale`` shrinks the samples for a part of the stream
    (a worker's groups) whose candidates are merged with others'."""

    def __init__(self, counts: dict[str, int], rng: random.Random, *, scale: float = 1.0) -> None:
        unknown = set(counts) - set(EXPECTED)
        if unknown:
            raise ValueError(f"unknown categories: {', '.join(sorted(unknown))}")
        self.counts, self.rng = counts, rng
        spare = {
            category: math.ceil((n + n // 2 + 10) * scale) if n else 0
            for category, n in counts.items()
        }
        self.samples = {category: _Reservoir(spare.get(category, 0), rng) for category in EXPECTED}
        self.absent_rows = _Reservoir(spare.get("absent", 0), rng)
        self.group: list[dict[str, str]] = []
        self.previous: dict[str, str] | None = None

    def add(self, row: dict[str, str]) -> None:
        samples, previous = self.samples, self.previous
        samples["existing"].add(row)
        self.absent_rows.add(row)
        complete = not row["birth_date"].endswith("-00")
        plain = (
            row["kind"] == "NIR"
            and complete
            and not row["birth_place"].startswith("99")
            and not row["previous_nirs"]
            and not row["death_date"]
        )
        if plain:
            samples["plain"].add(row)
        if row["kind"] == "NIA":
            samples["nia"].add(row)
        if row["previous_nirs"]:
            samples["nia_history"].add(row)
        if not complete:
            samples["partial_date"].add(row)
        if _accented_compound(row):
            samples["accents"].add(row)
        if previous is not None and previous["birth_date"] == row["birth_date"]:
            same_name = _name(previous["birth_name"]) == _name(row["birth_name"])
            if (
                same_name
                and previous["birth_place"] == row["birth_place"]
                and previous["nir"][1:10] == row["nir"][1:10]
                and abs(int(previous["nir"][10:13]) - int(row["nir"][10:13])) == 1
            ):
                samples["twin"].add((previous, row))
            if (
                same_name
                and previous["sex"] == row["sex"]
                and previous["birth_place"] != row["birth_place"]
                and _first_names(previous["first_names"])[0] == _first_names(row["first_names"])[0]
            ):
                if not self.group:
                    self.group.append(previous)
                self.group.append(row)
            else:
                self._close_group()
        else:
            self._close_group()
        self.previous = row

    def _close_group(self) -> None:
        if len(self.group) >= 2:
            self.samples["homonyms"].add(tuple(self.group))
        self.group = []

    def candidates(self) -> list[_Candidate]:
        """The sampled candidates (the stream is over); their ``matches`` are still to count."""
        self._close_group()
        rng, samples = self.rng, self.samples
        candidates: list[_Candidate] = []

        def add(candidate: _Candidate | None) -> None:
            if candidate is not None:
                candidates.append(candidate)

        for category in ("existing", "plain", "nia", "nia_history", "partial_date"):
            for row in samples[category].items:
                add(_candidate(category, row))
        for row in samples["accents"].items:
            add(_candidate("accents", row, raw=True))
        for pair in samples["twin"].items:
            add(_candidate("twin", pair[int(rng.random() * 2)]))
        for members in samples["homonyms"].items:
            homonyms = _candidate("homonyms", members[0])
            if homonyms is not None:
                homonyms.rows = tuple(members)
                add(homonyms)
            if self.counts.get("homonyms_with_place"):
                add(_candidate("homonyms_with_place", members[0], place=True))
        for row in self.absent_rows.items:
            add(_absent(row, rng))
        return candidates


def candidate_matches(candidate: _Candidate, first_names: Sequence[str], place: str) -> bool:
    """Whether a register entry with the candidate's birth name, date and sex answers it: the
    search's rules (the first name among the birth first names; the place, when given, naming
    the same commune). ``first_names`` normalised, in order."""
    if candidate.first_name not in first_names:
        return False
    if candidate.place is not None and candidate.place != place:
        places = get_places()
        current = places.current_code(candidate.place)
        if current is None or current != places.current_code(place):
            return False
    return True


def choose_queries(
    candidates: Iterable[_Candidate], counts: dict[str, int]
) -> dict[str, list[SearchQuery]]:
    """Up to ``counts[category]`` counted candidates whose answer is their category's."""
    result: dict[str, list[SearchQuery]] = {category: [] for category in counts}
    for candidate in candidates:
        wanted = counts.get(candidate.category, 0)
        chosen = result.get(candidate.category)
        if chosen is None or len(chosen) >= wanted:
            continue
        code = "00" if candidate.matches == 1 else ("01" if candidate.matches == 0 else "02")
        if code == EXPECTED[candidate.category]:
            chosen.append(SearchQuery(candidate.category, code, candidate.body, candidate.rows))
    return result


def scan_queries(
    path: Path, counts: dict[str, int], *, seed: int = 0
) -> dict[str, list[SearchQuery]]:
    """Up to ``counts[category]`` queries per category (see ``EXPECTED``), drawn from ``path``.

    Every returned query gives its expected code against a register loaded with exactly this
    file: the matches are counted over the whole file with the search's rules (birth name, birth
    date and sex equal; the one first name among the birth first names; the place, when given,
    naming the same commune).
    """
    sampler = QuerySampler(counts, random.Random(seed))  # noqa: S311 - sampling, not security
    for row in _rows(path):  # pass 1: sample candidates
        sampler.add(row)
    candidates = sampler.candidates()

    # Pass 2: count what each candidate matches in the whole file.
    index: dict[tuple[str, str, str], list[_Candidate]] = {}
    for candidate in candidates:
        index.setdefault((candidate.name, candidate.birth_date, candidate.sex), []).append(
            candidate
        )
    dates = {key[1] for key in index}
    for row in _rows(path):
        if row["birth_date"] not in dates:
            continue
        found = index.get((_name(row["birth_name"]), row["birth_date"], row["sex"]))
        if not found:
            continue
        first_names = _first_names(row["first_names"])
        for candidate in found:
            if candidate_matches(candidate, first_names, row["birth_place"]):
                candidate.matches += 1
    return choose_queries(candidates, counts)


def demo_examples(path: Path) -> list[SearchQuery]:
    """One identity of each kind worth trying, in the order they are shown."""
    order = (
        "plain", "homonyms", "homonyms_with_place", "twin", "nia", "nia_history",
        "partial_date", "accents",
    )  # fmt: skip
    found = scan_queries(path, dict.fromkeys(order, 1), seed=1)
    examples = []
    for category in order:
        examples.extend(found[category])
    return examples


# -- the card demo: professionals, rights, a professional's client, a card holder ---------------

DEMO_DOCTOR_RPPS = "10100000017"  # Dr Claire Morel, general practitioner, in data/directory.csv
DEMO_CARD_SCOPES = ("apcv", "directory.read", "dmp", "ins.read", "rights.read")
DEMO_CARD_CLIENT_NAME = "Demo doctor's practice software"
CARD_STATE_FILE = "demo-card.json"


@dataclass
class CardDemo:
    professional_rpps: str
    client_id: str
    client_secret: str
    # A card holder with children attached (nir, birth_date, email), None without rights data.
    holder: dict[str, str] | None
    dependants: int
    professional_id: int


def load_card_demo(
    database: Database,
    auth: AuthService,
    data_dir: Path,
    population_file: Path | None,
    *,
    seed: int,
    say: Callable[[str], None] = lambda _: None,
) -> CardDemo:
    """Directory, rights and a professional's client for trying the card (idempotent)."""
    from carnet.access.service import access_service
    from carnet.demo.families import write_rights_files
    from carnet.directory.importer import import_directory
    from carnet.directory.service import directory_service
    from carnet.rights.importer import import_rights

    directory = import_directory(database, Path(__file__).parent / "data" / "directory.csv")
    if not directory.committed:
        raise RuntimeError("the demo directory was refused by the importer")
    state_path = data_dir / CARD_STATE_FILE
    card_state: dict[str, Any] = (
        json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {}
    )

    holder: dict[str, str] | None = None
    dependants = 0
    if population_file is not None:
        out = data_dir / f"{population_file.stem}-rights"
        if card_state.get("rights") != str(population_file) or not (out / "rights.csv").is_file():
            say(f"Deriving families and insurance rights into {out} …")
            write_rights_files(population_file, out, seed)
            say("Importing the rights …")
            report = import_rights(database, out / "rights.csv", skip_invalid=True)
            if report.invalid:
                say(f"{report.invalid} rights lines skipped")
            card_state["rights"] = str(population_file)
        parents: dict[str, int] = {}
        with (out / "rights.csv").open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["insured_nir"]:
                    parents[row["insured_nir"]] = parents.get(row["insured_nir"], 0) + 1
        with (out / "card_holders.csv").open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if parents.get(row["nir"], 0) >= 2:
                    holder, dependants = dict(row), parents[row["nir"]]
                    break

    with database.session() as session:
        # The health spaces' access matrix: the shipped one, unless an operator loaded theirs.
        access_service.ensure_matrix(session, actor="system:demo")
        professional_id = directory_service.professional_id_for_binding(session, DEMO_DOCTOR_RPPS)
        client_id, secret = card_state.get("client_id"), card_state.get("client_secret")
        usable = False
        if client_id and secret:
            try:
                client = auth.authenticate_basic(session, client_id, secret)
                usable = client.professional_id == professional_id and set(
                    client.scopes.split()
                ) == set(DEMO_CARD_SCOPES)
            except OAuthError:
                usable = False
        if not usable:
            created = auth.create_client(
                session,
                name=DEMO_CARD_CLIENT_NAME,
                scopes=list(DEMO_CARD_SCOPES),
                professional_id=professional_id,
            )
            assert created.client_secret is not None
            client_id, secret = created.client_id, created.client_secret
    card_state.update({"client_id": client_id, "client_secret": secret})
    fd = os.open(state_path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(card_state, handle, indent=2)
    os.replace(state_path.with_suffix(".tmp"), state_path)
    return CardDemo(
        DEMO_DOCTOR_RPPS, str(client_id), str(secret), holder, dependants, professional_id
    )
