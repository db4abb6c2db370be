"""Places of birth: INSEE COG commune codes (from npm data) and country codes (a file of ours).

Communes come from the npm package ``@etalab/decoupage-administratif``, installed by ``make setup``
(``npm ci``) in three vintages (see ``package.json``): 6.0.0 (COG 2026), ``cog-2023`` (3.1.1) and
``cog-2019`` (0.8.0, which also ships ``historique-communes.json``, the history of every commune
since 1943). A birth place is the code the commune had *at the time of birth*, so the registry is
the union of:

* every entry of every vintage: current communes, delegated and associated communes, and the
  municipal arrondissements of Paris, Lyon and Marseille (75101…, 69381…, 13201…);
* every code listed in ``anciensCodes`` (codes retired by mergers or moves);
* every code of the 1943-2019 history (e.g. 75012, Boulogne-Billancourt while it was in the Seine
  before 1968, or 20004, Ajaccio before Corsica was split in 1976).

Countries (99xxx) are not in any npm package: ``data/countries.csv`` is written from the INSEE COG
country file; 99100 (France) is not a birth place abroad and is absent.

Loading: the JSON (~30 MB) is parsed once, and a compact pickle is written under
``$CARNET_DATA_DIR/cache`` (default ``./var``), named after the package versions, so that later
loads take a few tens of milliseconds. The npm data is looked up in ``$CARNET_COG_DIR`` (a
``node_modules`` directory), else in the ``node_modules`` found walking up from this package, else
in ``./node_modules``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import pickle
import tempfile
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["COG_PACKAGES", "PlaceRegistry", "find_cog_dir", "get_places"]

log = logging.getLogger(__name__)

# (directory under node_modules, role) newest first: the first vintage that knows a code names it.
COG_PACKAGES: tuple[str, ...] = ("@etalab/decoupage-administratif", "cog-2023", "cog-2019")
HISTORY_FILE = "historique-communes.json"
_CACHE_FORMAT = 1
_ABROAD = "99"
_FRANCE = "99100"

_CURRENT_TYPES = ("commune-actuelle", "arrondissement-municipal")
# When a vintage lists a code twice (a commune nouvelle keeps the code of one of its delegated
# communes), the first type in this order wins.
_TYPE_RANK = {
    "commune-actuelle": 0,
    "arrondissement-municipal": 1,
    "commune-deleguee": 2,
    "commune-associee": 3,
}
# Communes whose births are registered by municipal arrondissement: the arrondissements replace
# them in ``weighted_communes``.
_CITIES_WITH_ARRONDISSEMENTS = frozenset({"75056", "69123", "13055"})


def normalise_code(code: str) -> str:
    return code.strip().upper()


def department_of(code: str) -> str:
    """The department encoded in a 5-character INSEE code: 3 characters overseas, 99 abroad.

    This is the department when the code was assigned, as a NIR carries it: ``75012``
    (Boulogne-Billancourt before 1968) gives 75, ``20004`` (Ajaccio before 1976) gives 20.
    """
    return code[:3] if code[:2] in ("97", "98") else code[:2]


class PlaceRegistry:
    """Known birth places (communes past and present, countries) and what they became."""

    def __init__(
        self,
        communes: Mapping[str, tuple[str | None, str | None]],
        countries: Mapping[str, str],
        weighted: tuple[list[str], list[int]],
    ) -> None:
        # code -> (latest name, code of the current commune covering it); plain tuples load fast
        self._communes = communes
        self._countries = dict(countries)
        self._weighted = weighted

    # -- loading ----------------------------------------------------------------------------------

    @classmethod
    def load(cls, cog_dir: Path | None = None, data_dir: Path | None = None) -> PlaceRegistry:
        """Build the registry from the npm data, through the pickle cache when it is up to date."""
        cog_dir = cog_dir or find_cog_dir()
        data_dir = data_dir or Path(os.environ.get("CARNET_DATA_DIR") or "var")
        versions = _package_versions(cog_dir)
        cache = data_dir / "cache" / f"cog-places-v{_CACHE_FORMAT}-{'_'.join(versions)}.pickle"
        payload = _read_cache(cache)
        if payload is None:
            payload = _build(cog_dir)
            _write_cache(cache, payload)
        return cls(payload["communes"], _read_countries(), payload["weighted"])

    # -- queries ----------------------------------------------------------------------------------

    def is_known(self, code: str) -> bool:
        """A commune code of any vintage since 1943, or a country code (99100 France excluded)."""
        code = normalise_code(code)
        return code in self._communes or code in self._countries

    def name(self, code: str) -> str | None:
        """The latest known name (``Paris``, ``Ajaccio``, ``Algérie``), None when unknown."""
        code = normalise_code(code)
        if code in self._countries:
            return self._countries[code]
        place = self._communes.get(code)
        return place[0] if place else None

    def department(self, code: str) -> str | None:
        """The department the code encodes (see ``department_of``): ``75``, ``2A``, ``971``, ``99``.

        None for an unknown code.
        """
        code = normalise_code(code)
        return department_of(code) if self.is_known(code) else None

    def is_abroad(self, code: str) -> bool:
        """True for a known country code (99xxx other than 99100)."""
        return normalise_code(code) in self._countries

    def current_code(self, code: str) -> str | None:
        """The code of the current commune covering this place, when it can be derived.

        A current commune or municipal arrondissement is its own current code; a delegated or
        associated commune gives its chef-lieu (the commune nouvelle); a retired code (merger,
        change of department such as 20004 → 2A004 or 75012 → 92012) gives what it became. A
        country gives itself. None for an unknown code or a commune that was dissolved.
        """
        code = normalise_code(code)
        if code in self._countries:
            return code
        place = self._communes.get(code)
        return place[1] if place else None

    def weighted_communes(self) -> tuple[list[str], list[int]]:
        """Current communes and their population, for drawing synthetic birth places.

        Paris, Lyon and Marseille are replaced by their municipal arrondissements (where births are
        registered); communes without inhabitants are left out. Returns copies.
        """
        codes, weights = self._weighted
        return list(codes), list(weights)

    def countries(self) -> list[tuple[str, str]]:
        """(code, name) of the known countries and territories, by code."""
        return sorted(self._countries.items())

    def __len__(self) -> int:
        return len(self._communes) + len(self._countries)


@lru_cache(maxsize=1)
def get_places() -> PlaceRegistry:
    """The process-wide registry (loaded on first use)."""
    return PlaceRegistry.load()


# -- locating the npm data ------------------------------------------------------------------------


def find_cog_dir() -> Path:
    """The ``node_modules`` directory holding the COG packages (see the module docstring)."""
    configured = os.environ.get("CARNET_COG_DIR")
    if configured:
        candidates = [Path(configured)]
    else:
        here = Path(__file__).resolve().parent
        candidates = [parent / "node_modules" for parent in here.parents]
        candidates.append(Path.cwd() / "node_modules")
    for candidate in candidates:
        if (candidate / COG_PACKAGES[0] / "data" / "communes.json").is_file():
            return candidate
    where = f"CARNET_COG_DIR={configured}" if configured else "node_modules (package parents, ./)"
    raise RuntimeError(
        f"INSEE COG data not found in {where}: run `make setup` (or `npm ci`) to install "
        f"{', '.join(COG_PACKAGES)}, or point CARNET_COG_DIR at the node_modules directory"
    )


def _package_versions(cog_dir: Path) -> list[str]:
    versions = []
    missing = []
    for package in COG_PACKAGES:
        manifest = cog_dir / package / "package.json"
        if not (cog_dir / package / "data" / "communes.json").is_file() or not manifest.is_file():
            missing.append(package)
            continue
        versions.append(str(json.loads(manifest.read_text(encoding="utf-8"))["version"]))
    if missing:
        raise RuntimeError(
            f"INSEE COG data incomplete in {cog_dir}: missing {', '.join(missing)}; "
            "run `make setup` (or `npm ci`) to install the versions pinned in package.json"
        )
    return versions


# -- cache ----------------------------------------------------------------------------------------


def _read_cache(path: Path) -> dict[str, Any] | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        # Our own file under CARNET_DATA_DIR, written by _write_cache: the directory is trusted.
        payload = pickle.loads(data)  # noqa: S301
    except Exception:  # a truncated or foreign file: rebuild it
        log.warning("ignoring unreadable COG cache %s", path)
        return None
    if not isinstance(payload, dict) or payload.get("format") != _CACHE_FORMAT:
        return None
    return payload


def _write_cache(path: Path, payload: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=path.name, suffix=".tmp", delete=False
        ) as tmp:
            tmp.write(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        os.chmod(tmp.name, 0o644)  # a shared, non-secret cache
        os.replace(tmp.name, path)  # atomic: concurrent loaders see the old file or the new one
    except OSError as exc:  # a read-only data directory only costs speed
        log.warning("cannot write the COG cache %s: %s", path, exc)


# -- building -------------------------------------------------------------------------------------


def _read_json(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        data: list[dict[str, Any]] = json.load(handle)
    return data


def _best_entries(entries: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One entry per code: the current commune before the delegated one sharing its code."""
    best: dict[str, dict[str, Any]] = {}
    for entry in entries:
        code = entry["code"]
        previous = best.get(code)
        rank = _TYPE_RANK.get(entry["type"], 9)
        if previous is None or rank < _TYPE_RANK.get(previous["type"], 9):
            best[code] = entry
    return best


def _history_successors(
    history: list[dict[str, Any]],
) -> tuple[dict[str, str | None], dict[str, str]]:
    """From the 1943-2019 history: code → its 2019 heir (None: dissolved), and code → name."""
    by_id = {record["id"]: record for record in history}

    def code_of(record_id: str) -> str:
        return record_id.split("-", 1)[1].split("@", 1)[0]

    def follow(record_id: str) -> str | None:
        seen: set[str] = set()
        while record_id in by_id and record_id not in seen:
            seen.add(record_id)
            record = by_id[record_id]
            if "dateFin" in record:
                if "successeur" not in record:
                    return None  # dissolved ("suppression") or split without a single heir
                record_id = record["successeur"]
            elif record["type"] != "COM" and "pole" in record:
                record_id = record["pole"]  # associated, delegated or merged part: its chef-lieu
            else:
                return str(record["code"])
        return code_of(record_id) if record_id not in seen else None

    records_by_code: dict[str, list[dict[str, Any]]] = {}
    for record in history:
        records_by_code.setdefault(record["code"], []).append(record)
    successors: dict[str, str | None] = {}
    names: dict[str, str] = {}
    for code, records in records_by_code.items():
        ongoing = [r for r in records if "dateFin" not in r]
        if ongoing:  # still alive in 2019: as a commune if possible, else through its chef-lieu
            start = min(ongoing, key=lambda r: r["type"] != "COM")
        else:
            start = max(records, key=lambda r: r["dateFin"])
        successors[code] = follow(start["id"])
        names[code] = max(records, key=lambda r: r.get("dateDebut", ""))["nom"]
    return successors, names


def _build(cog_dir: Path) -> dict[str, Any]:
    vintages = [
        _best_entries(_read_json(cog_dir / package / "data" / "communes.json"))
        for package in COG_PACKAGES
    ]
    newest = vintages[0]
    history_path = cog_dir / COG_PACKAGES[-1] / "data" / HISTORY_FILE
    history_next, history_names = (
        _history_successors(_read_json(history_path)) if history_path.is_file() else ({}, {})
    )

    names: dict[str, str | None] = {}
    for vintage in vintages:  # newest first: the newest name wins
        for code, entry in vintage.items():
            names.setdefault(code, entry["nom"])
    for code, name in history_names.items():
        names.setdefault(code, name)

    retired: dict[str, str] = {}  # old code → the entry that lists it in anciensCodes
    for vintage in vintages:
        for code, entry in vintage.items():
            for old in entry.get("anciensCodes", ()):
                retired.setdefault(old, code)
    for old, holder in retired.items():  # no record of its own: the name of what it joined
        names.setdefault(old, names.get(holder))

    def resolve(code: str, seen: frozenset[str] = frozenset()) -> str | None:
        if code in seen:
            return None
        seen = seen | {code}
        entry = newest.get(code)
        if entry is not None:
            if entry["type"] in _CURRENT_TYPES:
                return code
            parent = entry.get("chefLieu") or entry.get("commune")
            return resolve(parent, seen) if parent and parent != code else code
        if code in retired:
            return resolve(retired[code], seen)
        for vintage in vintages[1:]:
            old_entry = vintage.get(code)
            if old_entry is not None and old_entry["type"] not in _CURRENT_TYPES:
                parent = old_entry.get("chefLieu") or old_entry.get("commune")
                if parent:
                    return resolve(parent, seen)
        heir = history_next.get(code)
        if heir is not None and heir != code:
            return resolve(heir, seen)
        return None

    communes = {code: (name, resolve(code)) for code, name in names.items()}

    weighted_codes: list[str] = []
    weighted_population: list[int] = []
    for code, entry in sorted(newest.items()):
        if entry["type"] not in _CURRENT_TYPES or code in _CITIES_WITH_ARRONDISSEMENTS:
            continue
        population = int(entry.get("population") or 0)
        if population > 0:
            weighted_codes.append(code)
            weighted_population.append(population)
    return {
        "format": _CACHE_FORMAT,
        "communes": communes,
        "weighted": (weighted_codes, weighted_population),
    }


def _read_countries() -> dict[str, str]:
    source = resources.files("carnet.identity").joinpath("data", "countries.csv")
    text = source.read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#"))
    countries = {}
    for row in rows:
        code = row["code"].strip()
        if code.startswith(_ABROAD) and len(code) == 5 and code != _FRANCE:
            countries[code] = row["name"].strip()
    return countries
