"""A synthetic national register: a deterministic stream of realistic, valid register rows.

``generate_population(size, seed)`` yields rows in the register import format (``CSV_COLUMNS``):
the same seed gives the same rows (for a given Faker version and COG vintage), and every row passes
``carnet.identity.service.validate_record``. Memory stays bounded: rows are produced one at a time,
and the only state is a counter per birth register (``order numbers``) of the current group.

The rows come in *groups*, one per two-digit birth year (``yy``: 1925 and 2025 share one, since
the NIR only holds the year's last two digits and order numbers are unique per ``yy``, month and
place). Each group draws from its own random generator, derived from the seed and ``yy``, so a group
can be generated alone: ``population_groups`` lists them in the stream's order with their sizes,
``generate_population(..., groups=…)`` yields some of them, and the workers of
``write_population_csv`` generate them side by side while the output stays the same for a seed.

What the population looks like (rates are per person unless stated; figures are rough, public
orders of magnitude, not statistics to quote):

* **Ages** follow a rough French pyramid (INSEE shape: small cohorts born during the World Wars,
  the baby boom of 1946-1974, ~700k births a year since 2015), up to 105 years old on ``AS_OF``.
  Women outnumber men among the elderly. Some old people are recorded as deceased (the register
  keeps them): ~0.3 % under 50 up to ~75 % over 95, with a death date in the last twelve years.
* **Birth places** in France are current communes drawn in proportion to their population (Paris,
  Lyon and Marseille by arrondissement), through ``get_places().weighted_communes()``. The code is
  the one *at the time of birth* when the registry can derive it: births before 1968 in today's
  Hauts-de-Seine, Seine-Saint-Denis, Val-de-Marne, Essonne and Val-d'Oise carry their Seine (75xxx)
  or Seine-et-Oise (78xxx) code and NIR department; births in Corsica before 1976 carry the 20xxx
  code and department 20; births in Mayotte before 2011 get NIR department 985. Communes merged
  into a "commune nouvelle" keep the current code: the registry knows the delegated communes but
  does not expose a list of them, so births before a merger are not given their former code.
* **Born abroad** (~7 %, more among working ages): INSEE country codes weighted towards the main
  countries of birth of immigrants in France (Algeria, Morocco, Portugal, Tunisia, Italy, Spain,
  Turkey, West Africa…), with names from that country's pool (a fifth are French expatriates'
  children with French names). Births in Algeria before 1962 and in Morocco and Tunisia before
  1956 sometimes carry the former departments 91-94, 95, 96 in the NIR.
* **Names**: French last names and first names from Faker's ``fr_FR`` lists (plus ``fr_BE``,
  ``fr_CH``, ``fr_QC`` last names), first names also from a small table of popular names by
  generation, compound first names (Jean-Pierre, Marie-Ève), one to four first names (more for
  older people); particles (``de La Fontaine``, ``du …``, ``d'…``); hyphenated compound names;
  double names of the 2005 law written with a double hyphen (``DUPONT--MARTIN``, born 2005-2010)
  then with a space (born since 2011). Children of immigrants (born in France) get a name from
  their family's origin and often a French first name.
* **Twins** (~3 % of persons): same birth name, date and place, consecutive order numbers.
* **Homonyms** (~0.8 % of persons): two or three persons with the same birth name, first first
  name, sex and birth date but different birth places: an INSi-like search by traits answers 02
  until the birth place (or the other first names, when they differ) is added.
* **NIA holders**: recent arrivals born abroad still waiting for their NIR (kind NIA, first digit 7
  for men and 8 for women; which provisional digit goes with which sex is unconfirmed, see
  domain.md §1.3), and former NIA holders whose NIR lists the NIA in ``previous_nirs``.
* **Partial birth dates**, mostly for births abroad: unknown day (``1961-04-00``, NIR month 04) and
  unknown day and month (``1958-00-00``, NIR month code 20-30 or 50); some births abroad are
  registered on 1 January, as civil status often does for an unknown date.
* **Used names**: most married women use their spouse's name (sometimes joined to their own).
* **Raw input**: ~60 % of rows are already in the register's form (uppercase, no diacritics); the
  others are as typed (``Lefèvre``, ``N'Diaye``, ``Marie-Ève``), lowercase, or with typographic
  apostrophes (``N’Diaye``): the importer normalises them.

Rows come grouped by the last two digits of the birth year (in a shuffled order of those groups):
order numbers must be unique per birth register, i.e. per (year digits, month code, place), and
keeping the counters of one group only is what bounds the memory.
"""

from __future__ import annotations

import bisect
import calendar
import collections
import csv
import dataclasses
import importlib
import io
import itertools
import multiprocessing
import random
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import IO, Generic, TypeVar

from carnet.exceptions import ValidationFailed
from carnet.identity.importer import HEADER
from carnet.identity.places import get_places
from carnet.identity.traits import normalise_name

__all__ = [
    "AS_OF",
    "CSV_COLUMNS",
    "generate_population",
    "population_groups",
    "write_csv",
    "write_population_csv",
]

# The register import format's columns, defined once by the importer that reads them.
CSV_COLUMNS: tuple[str, ...] = HEADER

# The population's reference date: ages and death dates are relative to it, so that a seed gives
# the same rows whenever it runs (and no date is ever in the future).
AS_OF = date(2025, 12, 31)
MAX_AGE = 105

T = TypeVar("T")
Name = tuple[str, str]  # (as typed, register form: uppercase without diacritics)


class _Weighted(Generic[T]):
    """Items drawn in proportion to their weights, with one bisection per draw."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, items: Sequence[T], weights: Sequence[float] | None = None) -> None:
        if not items:
            raise ValueError("nothing to draw from")
        self._items = list(items)
        self._cumulative = list(itertools.accumulate(weights or [1.0] * len(items)))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self._items[bisect.bisect_right(self._cumulative, rng.random() * self._total)]

    @property
    def items(self) -> list[T]:
        return self._items


# -- reference tables -------------------------------------------------------------------------

# Persons alive per single year of age, in thousands: a rough French pyramid (interpolated).
_PYRAMID = (
    (0, 680), (5, 760), (10, 820), (15, 830), (20, 790), (25, 750), (30, 780), (35, 820),
    (40, 820), (45, 840), (50, 870), (55, 860), (60, 830), (65, 790), (70, 760), (75, 700),
    (78, 560), (80, 420), (82, 360), (85, 300), (90, 160), (95, 60), (100, 12), (105, 1),
)  # fmt: skip

# (country code, weight, name origin): the main countries of birth of people born abroad.
_COUNTRIES = (
    ("99352", 17.0, "maghreb"), ("99350", 13.0, "maghreb"), ("99139", 9.0, "pt"),
    ("99351", 6.0, "maghreb"), ("99127", 5.0, "it"), ("99134", 4.0, "es"), ("99208", 3.5, "tr"),
    ("99341", 2.5, "westafrica"), ("99326", 2.5, "westafrica"), ("99335", 2.0, "westafrica"),
    ("99322", 2.0, "westafrica"), ("99312", 2.0, "westafrica"), ("99330", 1.5, "westafrica"),
    ("99324", 1.0, "westafrica"), ("99336", 0.8, "westafrica"), ("99397", 1.2, "maghreb"),
    ("99333", 1.5, "mg"), ("99114", 2.5, "ro"), ("99122", 1.0, "pl"), ("99132", 2.0, "gb"),
    ("99109", 2.5, "de"), ("99131", 2.0, "fr"), ("99140", 1.0, "fr"), ("99243", 1.2, "vi"),
    ("99216", 1.5, "cn"), ("99410", 1.0, "fr"), ("99404", 0.8, "gb"), ("99401", 0.6, "fr"),
    ("99416", 0.8, "pt"), ("99205", 0.7, "maghreb"), ("99206", 0.5, "maghreb"),
    ("99390", 0.4, "fr"), ("99137", 0.3, "fr"), ("99138", 0.2, "fr"), ("99135", 0.4, "gb"),
    ("99136", 0.3, "gb"), ("99119", 0.2, "pl"), ("99301", 0.4, "maghreb"),
    ("99327", 0.4, "westafrica"), ("99331", 0.4, "westafrica"), ("99345", 0.4, "westafrica"),
    ("99337", 0.2, "westafrica"),
)  # fmt: skip

# Family origins of people born in France with a non-French name (children of immigrants).
_SECOND_GENERATION = (
    ("maghreb", 42.0), ("pt", 14.0), ("westafrica", 12.0), ("it", 8.0), ("es", 7.0),
    ("tr", 5.0), ("vi", 3.0), ("cn", 3.0), ("pl", 3.0), ("de", 3.0),
)  # fmt: skip

# Popular French first names by generation (INSEE first-name files, from memory: a flavour, not a
# ranking); they are blended with Faker's fr_FR lists.
_ERA_FIRST_NAMES: tuple[tuple[int, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        1939,
        ("Jean", "Pierre", "André", "René", "Louis", "Marcel", "Roger", "Georges", "Robert",
         "Henri", "Maurice", "Raymond", "Paul", "Joseph", "Lucien", "Fernand", "Albert"),
        ("Marie", "Jeanne", "Marguerite", "Germaine", "Yvonne", "Suzanne", "Madeleine", "Louise",
         "Simone", "Denise", "Paulette", "Odette", "Marcelle", "Lucienne", "Renée", "Hélène"),
    ),
    (
        1959,
        ("Jean", "Michel", "Alain", "Bernard", "Gérard", "Daniel", "Jacques", "Claude", "Serge",
         "Christian", "Patrick", "Guy", "Roland", "Gilles", "Dominique", "Francis"),
        ("Monique", "Françoise", "Jacqueline", "Nicole", "Danielle", "Martine", "Christiane",
         "Michèle", "Josiane", "Annie", "Chantal", "Colette", "Brigitte", "Ginette", "Éliane"),
    ),
    (
        1979,
        ("Philippe", "Thierry", "Pascal", "Éric", "Patrick", "Christophe", "Stéphane", "Laurent",
         "Frédéric", "Olivier", "Didier", "Bruno", "Franck", "Hervé", "Joël", "Lionel"),
        ("Sylvie", "Isabelle", "Catherine", "Nathalie", "Valérie", "Sandrine", "Véronique",
         "Christine", "Corinne", "Patricia", "Laurence", "Florence", "Pascale", "Muriel", "Karine"),
    ),
    (
        1999,
        ("Nicolas", "Julien", "Sébastien", "Kévin", "Anthony", "Jérémy", "Romain", "Maxime",
         "Guillaume", "Alexandre", "Mathieu", "Thomas", "Jonathan", "Florian", "Cédric", "Loïc"),
        ("Aurélie", "Émilie", "Julie", "Céline", "Élodie", "Stéphanie", "Camille", "Sarah",
         "Laura", "Marion", "Mélanie", "Audrey", "Pauline", "Manon", "Amandine", "Gaëlle"),
    ),
    (
        9999,
        ("Lucas", "Hugo", "Enzo", "Nathan", "Louis", "Gabriel", "Léo", "Raphaël", "Jules",
         "Arthur", "Mathis", "Théo", "Noah", "Adam", "Maël", "Timéo", "Noé"),
        ("Emma", "Léa", "Chloé", "Manon", "Jade", "Louise", "Alice", "Inès", "Lina", "Camille",
         "Zoé", "Léna", "Mia", "Ambre", "Anaïs", "Maëlys", "Clémence"),
    ),
)  # fmt: skip

_COMPOUND_FIRST_NAMES = (
    ("Jean-Pierre", "Jean-Claude", "Jean-Luc", "Jean-Marc", "Jean-François", "Jean-Paul",
     "Jean-Michel", "Jean-Louis", "Jean-Baptiste", "Pierre-Yves", "Pierre-Alain", "Marc-Antoine",
     "Paul-Henri", "Jean-Noël", "Louis-Marie", "Jean-Christophe", "Jean-Philippe"),
    ("Marie-Ève", "Marie-Claire", "Marie-Christine", "Anne-Sophie", "Marie-Thérèse", "Anne-Marie",
     "Marie-Hélène", "Marie-France", "Marie-Laure", "Anne-Laure", "Marie-Noëlle", "Marie-Agnès",
     "Marie-José", "Marie-Pierre", "Marie-Anne", "Marie-Cécile"),
)  # fmt: skip

# Family names with a particle, as typed (the particle in lowercase, as civil status writes it).
_PARTICLE_NAMES = (
    "de La Fontaine", "de La Tour", "de La Roche", "de La Motte", "de La Croix", "de La Haye",
    "de La Salle", "de La Rivière", "de La Garde", "de La Vallée", "de La Chapelle",
    "de La Forêt", "de La Grange", "du Pont", "du Bois", "du Moulin", "du Mesnil", "du Plessis",
    "du Breuil", "du Val", "du Pré", "de Saint-Martin", "de Saint-Pierre", "de Montfort",
    "de Villiers", "de Beaumont", "de Rochefort", "de Châteaubriant", "de Lestrange",
    "de Bonnefoy", "de Mérindol", "d'Arcy", "d'Aubigny", "d'Estaing", "d'Orval", "d'Albret",
    "d'Ornano", "d'Harcourt", "d'Épinay", "d'Anglemont", "de L'Isle", "de L'Estang",
)  # fmt: skip

# Names for origins that Faker lacks in Latin script (or lacks entirely); common surnames only.
_CURATED: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "westafrica": (
        ("Diallo", "Traoré", "Koné", "Coulibaly", "Camara", "Diop", "N'Diaye", "Ndiaye", "Sow",
         "Ba", "Fofana", "Cissé", "Keïta", "Touré", "Konaté", "Sylla", "Diarra", "Sissoko",
         "Diakité", "Bamba", "Ouattara", "N'Guessan", "Kouassi", "Kouadio", "Yao", "Mbaye", "Guèye",
         "Faye", "Sarr", "Fall", "Dembélé", "Doumbia", "Sangaré", "Kanté", "Bangoura", "Soumaré",
         "Dieng", "Mendy", "N'Dour", "Tall"),
        ("Mamadou", "Moussa", "Ibrahima", "Ousmane", "Abdoulaye", "Cheikh", "Seydou", "Boubacar",
         "Amadou", "Souleymane", "Aliou", "Modibo", "Lamine", "Issa", "Bakary", "Adama", "Kouamé",
         "Désiré", "Serge", "Papa"),
        ("Aminata", "Fatoumata", "Awa", "Mariam", "Kadiatou", "Aïssatou", "Oumou", "Coumba",
         "Ramatoulaye", "Binta", "Hawa", "Fanta", "Adjoua", "Aya", "Mariama", "Ndeye", "Khady",
         "Astou", "Rokia", "Salimata"),
    ),
    "cn": (
        ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun",
         "Ma", "Zhu", "Hu", "Lin"),
        ("Wei", "Jun", "Lei", "Hao", "Yong", "Jie", "Tao", "Ming", "Qiang", "Bo"),
        ("Fang", "Jing", "Na", "Xiu", "Ying", "Hui", "Yan", "Mei", "Xiaoling", "Lan"),
    ),
    "mg": (
        ("Rakoto", "Rakotomalala", "Rasoanaivo", "Randrianarisoa", "Rabemananjara",
         "Razafindrakoto", "Andrianjafy", "Ravelomanana", "Rasolofo", "Randriamampionona"),
        ("Hery", "Tiana", "Fidy", "Njaka", "Mamy", "Rivo", "Haja", "Toky"),
        ("Voahangy", "Lalao", "Hanta", "Fara", "Nirina", "Volana", "Miora", "Soa"),
    ),
    "pl": (
        ("Nowak", "Wójcik", "Kowalczyk", "Woźniak", "Mazur", "Krawczyk", "Kaczmarek", "Zając",
         "Król", "Wróbel", "Pawlak", "Walczak", "Stępień", "Michalak", "Sikora"),
        (),
        (),
    ),
}  # fmt: skip

# Faker locale of each origin (None: curated lists only); pl takes its first names from Faker.
_FAKER_LOCALES = {
    "fr": "fr_FR",
    "maghreb": "fr_DZ",
    "pt": "pt_PT",
    "es": "es_ES",
    "it": "it_IT",
    "tr": "tr_TR",
    "de": "de_DE",
    "gb": "en_GB",
    "ro": "ro_RO",
    "vi": "vi_VN",
    "pl": "pl_PL",
}
_EXTRA_FRENCH_LAST_NAMES = ("fr_BE", "fr_CH", "fr_QC")

# Birth month codes of a NIR when the month is unknown: 20-30 and 50 are the documented values.
_UNKNOWN_MONTH_CODES = _Weighted([f"{m:02d}" for m in range(20, 31)] + ["50"], [1.0] * 11 + [2.0])
# Former departments of Algeria (until 1962), Morocco and Tunisia (until 1956) in old NIRs.
_NORTH_AFRICA = {
    "99352": (1962, _Weighted(["91", "92", "93", "94"], [0.4, 0.3, 0.25, 0.05])),
    "99350": (1956, _Weighted(["95"])),
    "99351": (1956, _Weighted(["96"])),
}
_SUBURBS_1968 = frozenset({"91", "92", "93", "94", "95"})
_CORSICA = frozenset({"2A", "2B"})


# -- name pools -------------------------------------------------------------------------------


def _name(raw: str) -> Name | None:
    """(typed, register form), or None when the value is not a usable name."""
    raw = raw.strip()
    if not raw or any(c.isdigit() for c in raw):
        return None
    try:
        return raw, normalise_name(raw, field="name")
    except ValidationFailed:
        return None


def _names(raws: Iterable[str], *, single_word: bool = False) -> list[Name]:
    seen: set[str] = set()
    result = []
    for raw in raws:
        name = _name(raw)
        if name is None or name[1] in seen or (single_word and " " in name[1]):
            continue  # a first name with a space would read as two first names
        seen.add(name[1])
        result.append(name)
    return result


def _faker_list(locale: str | None, attribute: str) -> list[str]:
    if locale is None:
        return []
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    value = getattr(provider, attribute, ())
    return [str(item) for item in value]


@dataclass(frozen=True)
class _Origin:
    last: _Weighted[Name]
    first: tuple[_Weighted[Name], _Weighted[Name]]  # (male, female)


@dataclass(frozen=True)
class _Pools:
    origins: dict[str, _Origin]
    common_last: _Weighted[Name]  # the most frequent French names, for homonyms
    particles: _Weighted[Name]
    eras: tuple[tuple[int, _Weighted[Name], _Weighted[Name]], ...]
    compound: tuple[_Weighted[Name], _Weighted[Name]]
    marie: Name
    communes: _Weighted[str]
    countries: _Weighted[tuple[str, str]]
    second_generation: _Weighted[str]


@lru_cache(maxsize=1)
def _pools() -> _Pools:
    places = get_places()
    origins: dict[str, _Origin] = {}
    for origin in sorted(set(_FAKER_LOCALES) | set(_CURATED)):
        locale = _FAKER_LOCALES.get(origin)
        curated_last, curated_male, curated_female = _CURATED.get(origin, ((), (), ()))
        last = _names(list(curated_last) or _faker_list(locale, "last_names"))
        male = _names(
            list(curated_male) or _faker_list(locale, "first_names_male"), single_word=True
        )
        female = _names(
            list(curated_female) or _faker_list(locale, "first_names_female"), single_word=True
        )
        if origin == "fr":
            # Faker's fr_FR list is in decreasing frequency: a Zipf-like weighting keeps MARTIN
            # common and the tail rare; the other French-speaking lists widen the tail.
            extra = _names(
                name for loc in _EXTRA_FRENCH_LAST_NAMES for name in _faker_list(loc, "last_names")
            )
            known = {n[1] for n in last}
            extra = [n for n in extra if n[1] not in known]
            weights = [1.0 / (rank + 60) for rank in range(len(last))]
            tail = 0.4 * sum(weights) / max(len(extra), 1)
            origins[origin] = _Origin(
                _Weighted(last + extra, weights + [tail] * len(extra)),
                (_Weighted(male), _Weighted(female)),
            )
            continue
        origins[origin] = _Origin(_Weighted(last), (_Weighted(male), _Weighted(female)))

    eras = tuple(
        (
            until,
            _Weighted(_names(male, single_word=True)),
            _Weighted(_names(female, single_word=True)),
        )
        for until, male, female in _ERA_FIRST_NAMES
    )
    compound = (
        _Weighted(_names(_COMPOUND_FIRST_NAMES[0], single_word=True)),
        _Weighted(_names(_COMPOUND_FIRST_NAMES[1], single_word=True)),
    )
    codes, population = places.weighted_communes()
    countries = [(code, origin) for code, _, origin in _COUNTRIES if places.is_abroad(code)]
    country_weights = [weight for code, weight, _ in _COUNTRIES if places.is_abroad(code)]
    marie = _name("Marie")
    assert marie is not None
    return _Pools(
        origins=origins,
        common_last=_Weighted(origins["fr"].last.items[:40]),
        particles=_Weighted(_names(_PARTICLE_NAMES)),
        eras=eras,
        compound=compound,
        marie=marie,
        communes=_Weighted(codes, [float(p) for p in population]),
        countries=_Weighted(countries, country_weights),
        second_generation=_Weighted(
            [o for o, _ in _SECOND_GENERATION], [w for _, w in _SECOND_GENERATION]
        ),
    )


@lru_cache(maxsize=65536)
def _former_code(current: str, year_bucket: int) -> str:
    """The INSEE code a current commune had for a birth in the given era (see module docstring).

    ``year_bucket`` is 0 (before 1968), 1 (1968-1975) or 2 (1976 and later).
    """
    places = get_places()
    candidates: tuple[str, ...] = ()
    if year_bucket == 0 and current[:2] in _SUBURBS_1968:
        candidates = ("75" + current[2:], "78" + current[2:])
    elif year_bucket <= 1 and current[:2] in _CORSICA:
        candidates = ("20" + current[2:],)
    for code in candidates:
        if places.is_known(code) and places.current_code(code) == current:
            return code
    return current


# -- the NIR ----------------------------------------------------------------------------------


def nir_key(first13: str) -> str:
    """The 2-digit key: 97 - (N mod 97), with 2A → 19 and 2B → 18 in N (domain.md §1.3)."""
    digits = first13
    if digits[5:7] == "2A":
        digits = digits[:5] + "19" + digits[7:]
    elif digits[5:7] == "2B":
        digits = digits[:5] + "18" + digits[7:]
    return f"{97 - int(digits) % 97:02d}"


class _RegisterFull(Exception):
    """A birth register (year, month, place) has no order number left: draw again."""


# -- the generator ----------------------------------------------------------------------------


@dataclass
class _Birth:
    """Where and when someone was born, and what their NIR says about it."""

    year: int
    month: int  # 0 when unknown
    day: int  # 0 when unknown
    month_code: str  # NIR positions 4-5
    birth_place: str  # INSEE code at the time of birth
    nir_place: str  # NIR positions 6-10
    current_place: str  # the current commune or the country, to tell places apart
    origin: str  # name pool
    abroad: bool

    @property
    def text(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    @property
    def earliest(self) -> date:
        return date(self.year, self.month or 1, self.day or 1)


def _year_counts(size: int, as_of: date) -> dict[int, int]:
    """Persons per birth year: ``size`` spread over the pyramid, exactly (largest remainder)."""
    weights = []
    for age in range(MAX_AGE + 1):
        for (a0, w0), (a1, w1) in itertools.pairwise(_PYRAMID):
            if a0 <= age <= a1:
                weights.append(w0 + (w1 - w0) * (age - a0) / (a1 - a0))
                break
    total = sum(weights)
    exact = [size * w / total for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
    for index in by_remainder[: size - sum(counts)]:
        counts[index] += 1
    return {as_of.year - age: n for age, n in enumerate(counts) if n}


def _p_abroad(age: int) -> float:
    if age < 18:
        return 0.025
    if age < 30:
        return 0.08
    if age < 65:
        return 0.095
    return 0.085 if age < 80 else 0.06


def _p_female(age: int) -> float:
    if age < 55:
        return 0.49
    if age < 75:
        return 0.52
    return 0.60 if age < 90 else 0.72


def _p_death(age: int) -> float:
    for limit, p in ((50, 0.003), (65, 0.02), (75, 0.06), (85, 0.18), (95, 0.45)):
        if age < limit:
            return p
    return 0.75


def _p_second_generation(age: int) -> float:
    if age < 30:
        return 0.22
    if age < 50:
        return 0.15
    return 0.10 if age < 70 else 0.06


def _first_name_count(year: int, french: bool) -> _Weighted[int]:
    if not french:
        return _COUNTS_OTHER
    if year < 1950:
        return _COUNTS_OLD
    return _COUNTS_MID if year < 1990 else _COUNTS_RECENT


_COUNTS_OLD = _Weighted([1, 2, 3, 4], [0.15, 0.35, 0.38, 0.12])
_COUNTS_MID = _Weighted([1, 2, 3, 4], [0.25, 0.42, 0.27, 0.06])
_COUNTS_RECENT = _Weighted([1, 2, 3, 4], [0.30, 0.45, 0.20, 0.05])
_COUNTS_OTHER = _Weighted([1, 2, 3, 4], [0.55, 0.35, 0.09, 0.01])

# How a row's names are written in the file: the register's form, or as someone typed them.
_STYLES: tuple[tuple[float, Callable[[Name], str]], ...] = (
    (0.60, lambda n: n[1]),
    (0.93, lambda n: n[0]),
    (0.97, lambda n: n[0].lower()),
    (1.00, lambda n: n[0].replace("'", "\u2019")),
)


def _years_by_group(size: int, as_of: date) -> tuple[dict[int, int], dict[int, list[int]]]:
    counts = _year_counts(size, as_of)
    groups: dict[int, list[int]] = {}
    for year in sorted(counts):
        groups.setdefault(year % 100, []).append(year)
    return counts, groups


def population_groups(size: int, seed: int, *, as_of: date = AS_OF) -> list[tuple[int, int]]:
    """The population's groups in the stream's order: (two-digit birth year, persons)."""
    counts, groups = _years_by_group(size, as_of)
    order = sorted(groups)
    random.Random(seed).shuffle(order)  # noqa: S311 - reproducible synthetic data
    return [(yy, sum(counts[year] for year in groups[yy])) for yy in order]


class _Generator:
    def __init__(self, seed: int, as_of: date) -> None:
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
        self.as_of = as_of
        self.pools = _pools()
        self.orders: dict[tuple[str, str, str], int] = {}

    # -- driving ------------------------------------------------------------------------------

    def run(self, size: int, only: Collection[int] | None = None) -> Iterator[dict[str, str]]:
        counts, groups = _years_by_group(size, self.as_of)
        for yy, _ in population_groups(size, self.seed, as_of=self.as_of):
            if only is not None and yy not in only:
                continue
            # A group's own generator (a string seed is hashed with SHA-512, the same everywhere).
            self.rng = random.Random(f"carnet-population/{self.seed}/{yy}")  # noqa: S311
            self.orders = {}  # order numbers are unique per (year digits, month, place)
            for year in groups[yy]:
                remaining = counts[year]
                while remaining > 0:
                    rows = self._event(year, remaining)
                    remaining -= len(rows)
                    yield from rows

    def _event(self, year: int, room: int) -> list[dict[str, str]]:
        for _ in range(100):
            try:
                draw = self.rng.random()
                if room >= 2 and draw < 0.016:
                    return self._twins(year)
                if room >= 2 and draw < 0.020:
                    return self._homonyms(year, 3 if room >= 3 and draw < 0.0164 else 2)
                return [self._single(year)]
            except _RegisterFull:
                continue
        raise RuntimeError(  # pragma: no cover - needs hundreds of millions of persons
            f"population too large: the birth registers of {year} are full"
        )

    # -- events -------------------------------------------------------------------------------

    def _single(self, year: int) -> dict[str, str]:
        rng = self.rng
        age = self.as_of.year - year
        sex = "F" if rng.random() < _p_female(age) else "M"
        birth = self._birth(year, age, abroad=rng.random() < _p_abroad(age))
        kind, previous = "NIR", ""
        if birth.abroad:
            arrival = rng.random()
            p_nia = 0.03 if age < 16 else (0.07 if age < 65 else 0.0)
            if arrival < p_nia:
                kind = "NIA"
            elif arrival < p_nia * 1.7:
                previous = self._matricule("NIA", sex, birth)
        first_names = self._first_names(birth.origin, sex, year)
        return self._row(
            self._matricule(kind, sex, birth), kind, self._family_name(birth.origin, year),
            first_names, sex, birth, previous,
        )  # fmt: skip

    def _twins(self, year: int) -> list[dict[str, str]]:
        rng = self.rng
        age = self.as_of.year - year
        birth = self._birth(year, age, abroad=rng.random() < _p_abroad(age) / 2)
        family = self._family_name(birth.origin, year)
        first_sex = "F" if rng.random() < 0.49 else "M"
        sexes = [first_sex, first_sex if rng.random() < 0.35 else rng.choice("MF")]
        order = self._order("NIR", birth, 2)
        rows, taken = [], ""
        for rank, sex in enumerate(sexes):
            first_names = self._first_names(birth.origin, sex, year)
            while first_names[0][1] == taken:
                first_names = self._first_names(birth.origin, sex, year)
            taken = first_names[0][1]
            matricule = self._nir("1" if sex == "M" else "2", birth, order + rank)
            rows.append(self._row(matricule, "NIR", family, first_names, sex, birth, ""))
        return rows

    def _homonyms(self, year: int, count: int) -> list[dict[str, str]]:
        """Same birth name, first first name, sex and date; different places (INSi 02)."""
        rng = self.rng
        age = self.as_of.year - year
        sex = "F" if rng.random() < _p_female(age) else "M"
        family = self.pools.common_last.pick(rng)
        first = self._era_first_name(sex, year)
        same_list = rng.random() < 0.5
        births: list[_Birth] = []
        while len(births) < count:
            birth = self._birth(year, age, abroad=False, origin="fr")
            if births:
                first_birth = births[0]
                birth = dataclasses.replace(
                    birth,
                    month=first_birth.month,
                    day=first_birth.day,
                    month_code=first_birth.month_code,
                )
            if all(b.current_place != birth.current_place for b in births):
                births.append(birth)
        first_names = self._first_names("fr", sex, year)
        rows = []
        for birth in births:
            if not same_list:
                first_names = self._first_names("fr", sex, year)
            names = [first] + [n for n in first_names[1:] if n[1] != first[1]]
            rows.append(
                self._row(self._matricule("NIR", sex, birth), "NIR", family, names, sex, birth, "")
            )
        return rows

    # -- traits -------------------------------------------------------------------------------

    def _birth(self, year: int, age: int, *, abroad: bool, origin: str | None = None) -> _Birth:
        rng, pools = self.rng, self.pools
        if abroad:
            country, name_origin = pools.countries.pick(rng)
            if rng.random() < 0.2:
                name_origin = "fr"  # French parents living abroad
            nir_place = country
            former = _NORTH_AFRICA.get(country)
            if former is not None and year < former[0] and rng.random() < 0.5:
                nir_place = former[1].pick(rng) + f"{1 + int(rng.random() * 350):03d}"
            birth_place, current = country, country
        else:
            current = pools.communes.pick(rng)
            bucket = 0 if year < 1968 else (1 if year < 1976 else 2)
            birth_place = _former_code(current, bucket) if bucket < 2 else current
            nir_place = birth_place
            if current[:3] == "976" and year < 2011:
                nir_place = "985" + current[3:]  # Mayotte was coded 985 before 2011
            name_origin = "fr"
            if rng.random() < _p_second_generation(age):
                name_origin = pools.second_generation.pick(rng)
        if origin is not None:
            name_origin = origin
        as_of = self.as_of  # nobody is born after the reference date
        month = 1 + int(rng.random() * (as_of.month if year == as_of.year else 12))
        last_day = _days_in_month(year, month)
        if (year, month) == (as_of.year, as_of.month):
            last_day = as_of.day
        day = 1 + int(rng.random() * last_day)
        partial = rng.random()
        if abroad:
            if partial < 0.03:
                month, day = 0, 0
            elif partial < 0.045:
                day = 0
            elif partial < 0.085 and age >= 40:
                month, day = 1, 1  # civil status often records an unknown date as 1 January
        elif partial < 0.0004:
            month, day = 0, 0
        elif partial < 0.0010:
            day = 0
        month_code = f"{month:02d}" if month else _UNKNOWN_MONTH_CODES.pick(rng)
        return _Birth(
            year, month, day, month_code, birth_place, nir_place, current, name_origin, abroad
        )

    def _family_name(self, origin: str, year: int) -> Name:
        rng = self.rng
        pool = self.pools.origins[origin].last
        name = pool.pick(rng)
        if origin != "fr":
            return name
        draw = rng.random()
        if draw < 0.012:
            return self.pools.particles.pick(rng)
        if 2005 <= year <= 2010 and draw < 0.06:
            other = pool.pick(rng)
            return f"{name[0]}--{other[0]}", f"{name[1]}--{other[1]}"
        if year >= 2011 and draw < 0.08:
            other = pool.pick(rng)
            return f"{name[0]} {other[0]}", f"{name[1]} {other[1]}"
        if year < 2005 and draw < 0.03:
            other = pool.pick(rng)
            return f"{name[0]}-{other[0]}", f"{name[1]}-{other[1]}"
        return name

    def _era_first_name(self, sex: str, year: int) -> Name:
        for until, male, female in self.pools.eras:
            if year <= until:
                return (male if sex == "M" else female).pick(self.rng)
        raise AssertionError("the last era is open-ended")  # pragma: no cover

    def _first_names(self, origin: str, sex: str, year: int) -> list[Name]:
        rng, pools = self.rng, self.pools
        index = 0 if sex == "M" else 1
        french_pool = pools.origins["fr"].first[index]
        own_pool = pools.origins[origin].first[index]
        french = origin == "fr"
        count = _first_name_count(year, french).pick(rng)
        names: list[Name] = []
        if french and rng.random() < (0.08 if 1940 <= year < 1980 else 0.03):
            names.append(pools.compound[index].pick(rng))
        while len(names) < count:
            draw = rng.random()
            if not french:
                # children of immigrants often get a French first name, first or later
                own = draw < (0.75 if not names else 0.6)
                name = own_pool.pick(rng) if own else french_pool.pick(rng)
            elif names and sex == "F" and draw < 0.2:
                name = pools.marie
            elif draw < 0.55:
                # later first names are often the grandparents'
                name = self._era_first_name(sex, year - 30 * (len(names) > 0))
            else:
                name = french_pool.pick(rng)
            if all(n[1] != name[1] for n in names):
                names.append(name)
        return names

    # -- matricules ---------------------------------------------------------------------------

    def _order(self, series: str, birth: _Birth, count: int = 1) -> int:
        key = (series, birth.month_code, birth.nir_place)
        first = self.orders.get(key)
        if first is None:
            first = 1 + int(self.rng.random() * 20)
        if first + count - 1 > 999:
            raise _RegisterFull
        # the gap stands for the births of people outside the sample
        self.orders[key] = first + count + int(self.rng.random() * 3)
        return first

    def _nir(self, sex_digit: str, birth: _Birth, order: int) -> str:
        first13 = f"{sex_digit}{birth.year % 100:02d}{birth.month_code}{birth.nir_place}{order:03d}"
        return first13 + nir_key(first13)

    def _matricule(self, kind: str, sex: str, birth: _Birth) -> str:
        if kind == "NIA":
            # NIAs are provisional numbers (7/8) built like a NIR on the birth abroad
            nia_birth = birth
            if birth.nir_place[:2] != "99":  # a former North African department: use the country
                nia_birth = dataclasses.replace(birth, nir_place=birth.birth_place)
            return self._nir("7" if sex == "M" else "8", nia_birth, self._order("NIA", nia_birth))
        return self._nir("1" if sex == "M" else "2", birth, self._order("NIR", birth))

    # -- the row ------------------------------------------------------------------------------

    def _row(
        self,
        nir: str,
        kind: str,
        family: Name,
        first_names: list[Name],
        sex: str,
        birth: _Birth,
        previous: str,
    ) -> dict[str, str]:
        rng = self.rng
        age = self.as_of.year - birth.year
        draw = rng.random()
        style = next(write for limit, write in _STYLES if draw < limit)

        used_name = ""
        if sex == "F" and age >= 20:
            married = 0.15 if age < 25 else (0.40 if age < 35 else (0.55 if age < 65 else 0.65))
            draw = rng.random()
            if draw < married:
                spouse = self._family_name(
                    birth.origin if rng.random() < 0.8 else "fr", birth.year - 2
                )
                if draw < married * 0.1:
                    spouse = f"{spouse[0]}-{family[0]}", f"{spouse[1]}-{family[1]}"
                used_name = style(spouse)
        elif sex == "M" and age >= 20 and rng.random() < 0.004:
            spouse = self._family_name("fr", birth.year)
            used_name = style((f"{family[0]}-{spouse[0]}", f"{family[1]}-{spouse[1]}"))

        used_first_name = ""
        if len(first_names) > 1 and rng.random() < 0.04:
            used_first_name = style(first_names[1 + int(rng.random() * (len(first_names) - 1))])

        death_date = ""
        if rng.random() < _p_death(age):
            earliest = max(birth.earliest + timedelta(days=1), self.as_of - timedelta(days=4383))
            span = (self.as_of - earliest).days
            if span >= 0:
                death_date = (earliest + timedelta(days=int(rng.random() * (span + 1)))).isoformat()

        return {
            "nir": nir,
            "kind": kind,
            "birth_name": style(family),
            "first_names": " ".join(style(n) for n in first_names),
            "sex": sex,
            "birth_date": birth.text,
            "birth_place": birth.birth_place,
            "used_name": used_name,
            "used_first_name": used_first_name,
            "death_date": death_date,
            "previous_nirs": previous,
        }


@lru_cache(maxsize=2048)
def _days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def generate_population(
    size: int, seed: int, *, as_of: date = AS_OF, groups: Collection[int] | None = None
) -> Iterator[dict[str, str]]:
    """Yield ``size`` synthetic register rows (keys: ``CSV_COLUMNS``), the same for a seed.

    ``groups``: only the rows of these two-digit birth years (see ``population_groups``), as they
    appear in the whole stream."""
    if size < 0:
        raise ValueError(f"size must be zero or more, not {size}")
    if size == 0:
        return iter(())
    return _Generator(seed, as_of).run(size, groups)


# Below this size a process's start costs more than it saves.
PARALLEL_FROM = 100_000


def _group_csv(size: int, seed: int, as_of: date, yy: int) -> str:
    """One group's lines in the import format (a worker's task)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in generate_population(size, seed, as_of=as_of, groups={yy}):
        writer.writerow([row[column] for column in CSV_COLUMNS])
    return out.getvalue()


def write_population_csv(
    out: IO[str],
    size: int,
    seed: int,
    *,
    workers: int = 1,
    as_of: date = AS_OF,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the header and the whole population; return the number of rows.

    With several ``workers``, the groups are generated in that many processes and written in the
    stream's order, so the file is the same as with one. At most two groups a worker are in
    flight (a group is about 1 % of the population), which bounds the memory."""
    groups = population_groups(size, seed, as_of=as_of) if size > 0 else []
    if workers <= 1 or size < PARALLEL_FROM:
        count = write_csv(generate_population(size, seed, as_of=as_of), out)
        if progress is not None:
            progress(count)
        return count
    out.write(",".join(CSV_COLUMNS) + "\n")
    written = 0
    # Forked workers inherit the loaded name pools and places (as the importer's workers do).
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: collections.deque[tuple[int, Future[str]]] = collections.deque()
        todo = iter(groups)
        for yy, rows in itertools.islice(todo, 2 * workers):
            pending.append((rows, pool.submit(_group_csv, size, seed, as_of, yy)))
        while pending:
            rows, future = pending.popleft()
            out.write(future.result())
            written += rows
            if progress is not None:
                progress(written)
            for yy, more in itertools.islice(todo, 1):
                pending.append((more, pool.submit(_group_csv, size, seed, as_of, yy)))
    return written


def write_csv(rows: Iterable[dict[str, str]], out: IO[str]) -> int:
    """Write the header and the rows in the import format; return the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([row[column] for column in CSV_COLUMNS])
        count += 1
    return count
