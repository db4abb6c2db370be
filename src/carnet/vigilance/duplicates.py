"""Scoring of probable duplicates and collisions between two local identities of one structure.

``compare(a, b)`` gives a score between 0 and 1 and, for every trait, the similarity found and why.
It is pure (no database) so that the per-identity search and the batch report score alike.

Per trait (the best applicable rule wins):

* birth name (weight 0.30): identical 1.0; same French phonetic key (DUPONT/DUPOND) 0.95; one
  typing error (substitution, insertion, deletion, two adjacent letters swapped) 0.90, or 0.75 in a
  3-letter name and 0.50 in a shorter one; one identity's *used* name is the other's birth name
  (someone registered under her used name) 0.90; two typing errors (7+ letters) 0.80; the words of
  a compound name in another order (MARTIN-DURAND / DURAND MARTIN) 0.90; the same name apart from
  its particles, left out or glued (DE LA FONTAINE / FONTAINE / LAFONTAINE, D'ARTAGNAN /
  ARTAGNAN) 0.85; one compound name contains the other (MARTIN / MARTIN-DURAND) 0.80; otherwise
  Jaro-Winkler scaled so that unrelated names score 0 (``max(0, (jw - 0.7) / 0.3) * 0.6``).
* first names (0.25): identical lists 1.0; same names in another order, or a compound name written
  with a space or a hyphen 0.95; one list is the beginning of the other (JEAN / JEAN PIERRE) 0.95;
  same first first name 0.90; the first first name of one is among the other's first names, or is
  the other's used first name 0.85; masculine/feminine forms (PAUL/PAULE, JEAN/JEANNE) 0.40; else
  the name rules above applied to the first first names, times 0.9, but *without* the
  Jaro-Winkler fallback: first names that are neither a typing error nor a sound-alike nor parts
  of one another are different (twins JEAN-PAUL / JEAN-MARC, MAXIME / MAXENCE score 0 there, so
  that twins sharing every other trait stay below the default threshold).
* birth date (0.25): identical 1.0; compatible partial dates (an unknown day or month agrees with
  anything) 0.90; day and month transposed (1980-03-12 / 1980-12-03) 0.90; one part differs by one
  typing error (day, month, or year such as 1980/1908) 0.70; one typing error on the whole date
  0.60; otherwise 0.
* sex (0.15): same 1.0, else 0.
* birth place (0.05): same INSEE code, or codes of the same commune over time, 1.0, else 0; not
  scored (its weight is spread over the others) when one side does not know it.

INS: the same matricule on both identities is a certain duplicate (score 1.0), unless their traits
score below ``COLLISION_TRAITS_BELOW``, in which case it is a potential *collision* (one INS shared
by two persons: attribute COLP). Two different matricules mean two different persons unless one INS
is wrong: the score is capped at 0.5.

Blocking (which pairs get scored at all; never every pair of a structure). Indexed columns of
``local_identities``, per structure: ``birth_name_key`` and ``used_name_key`` (phonetic keys),
``birth_year``, ``birth_date``, ``ins_matricule``.

* One identity (``GET .../duplicates``): the active identities of its structure whose birth-name or
  used-name key equals its birth-name or used-name key *and* whose birth date is in the same year
  or on the same (possibly transposed) month and day; whose birth date is its own, its day/month
  transposition, or its partial forms (YYYY-MM-00, YYYY-00-00), or any day of its month when its
  own day is unknown; or which hold the same INS. Four or five index probes, the date condition of
  the name probes being read from the name indexes.
* A whole structure (``carnet identities duplicates``): the identities are streamed sorted by one
  key at a time and compared within equal keys: (name key, birth year), (name key, unordered
  month/day: catches a mistyped year), (birth year + unordered month/day: catches any name error,
  transposed dates included), INS. An identity with a used name is blocked under both names.

What blocking misses: two errors at once across the keys (a name mistyped beyond its phonetic key
*and* a different birth date; a partial date *and* a name error), which the score would rate low
anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from rapidfuzz.distance import OSA, JaroWinkler

from carnet.identity.places import get_places
from carnet.identity.traits import phonetic_key

WEIGHTS = {
    "birth_name": 0.30,
    "first_names": 0.25,
    "birth_date": 0.25,
    "sex": 0.15,
    "birth_place": 0.05,
}
DEFAULT_THRESHOLD = 0.8
COLLISION_TRAITS_BELOW = 0.6
DIFFERENT_INS_CAP = 0.5

Kind = Literal["certain_duplicate", "potential_duplicate", "potential_collision", "different"]
_SUGGESTED: dict[str, str | None] = {
    "certain_duplicate": "DOUA",
    "potential_duplicate": "DPOT",
    "potential_collision": "COLP",
    "different": None,
}
# Endings that turn a masculine first name into its feminine form (PAUL/PAULE, JEAN/JEANNE,
# DANIEL/DANIELLE, ANTOINE/ANTOINETTE, HENRI/HENRIETTE).
_FEMININE_ENDINGS = ("E", "NE", "LE", "TTE", "ETTE")
# Particles and articles of family names (DE LA FONTAINE, D'ARTAGNAN, DU BELLAY, LE GOFF), left
# out or glued to the name by one desk and not by another.
PARTICLES = frozenset(
    {"D", "DA", "DAL", "DE", "DEL", "DELLA", "DEN", "DER", "DES", "DI", "DU", "L", "LA", "LE"}
    | {"LES", "VAN", "VON"}
)
_SEPARATORS = re.compile(r"[ '\-]+")


@dataclass(frozen=True, slots=True)
class Profile:
    """What the scoring needs to know about one identity (normalised traits)."""

    id: int
    birth_name: str
    first_names: tuple[str, ...]
    sex: str
    birth_date: str
    birth_place: str | None = None
    used_name: str | None = None
    used_first_name: str | None = None
    ins_matricule: str | None = None
    ipp: str | None = None
    birth_name_key: str = ""
    used_name_key: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> Profile:
        """From a ``local_identities`` row or ORM object."""
        return cls(
            id=row.id,
            birth_name=row.birth_name,
            first_names=tuple(row.first_names.split()),
            sex=row.sex,
            birth_date=row.birth_date,
            birth_place=row.birth_place,
            used_name=row.used_name,
            used_first_name=row.used_first_name,
            ins_matricule=row.ins_matricule,
            ipp=row.ipp,
            birth_name_key=row.birth_name_key or _cached_key(row.birth_name),
            used_name_key=row.used_name_key,
        )


@dataclass(frozen=True, slots=True)
class TraitScore:
    trait: str
    score: float
    reason: str


@dataclass(slots=True)
class Match:
    score: float
    kind: Kind
    reasons: list[TraitScore] = field(default_factory=list)

    @property
    def suggested_attribute(self) -> str | None:
        return _SUGGESTED[self.kind]


# -- names -------------------------------------------------------------------------------------


# Names repeat a lot (first names above all): the phonetic key is computed once per name.
_cached_key = lru_cache(maxsize=100_000)(phonetic_key)


def _key(name: str, known: str | None = None) -> str:
    return known if known else _cached_key(name)


def _words(name: str) -> list[str]:
    return [word for word in _SEPARATORS.split(name) if word]


def _core(words: Sequence[str]) -> str:
    """The name without its particles, letters only (DE LA FONTAINE → FONTAINE)."""
    return "".join(word for word in words if word not in PARTICLES)


@lru_cache(maxsize=256)
def _only_particles(letters: str) -> bool:
    """Whether ``letters`` is a run of particles written together (LA, DELA, DU…)."""
    if not letters:
        return True
    return any(
        letters.startswith(particle) and _only_particles(letters[len(particle) :])
        for particle in PARTICLES
    )


def _same_apart_from_particles(x_words: list[str], y_words: list[str]) -> bool:
    """DE LA FONTAINE / FONTAINE / LAFONTAINE / DELAFONTAINE, D'ARTAGNAN / ARTAGNAN."""
    x_core, y_core = _core(x_words), _core(y_words)
    if not x_core or not y_core:
        return False
    if x_core == y_core:
        return True
    # A particle glued to the name on one side (LAFONTAINE): what precedes the other's core.
    for words, core in ((x_words, y_core), (y_words, x_core)):
        letters = "".join(words)
        if letters.endswith(core) and _only_particles(letters[: -len(core)]):
            return True
    return False


def name_similarity(
    x: str,
    y: str,
    *,
    x_key: str | None = None,
    y_key: str | None = None,
    fuzzy: bool = True,
) -> tuple[float, str]:
    """Similarity of two normalised names, with the reason.

    ``fuzzy`` False: two names that match no rule score 0 instead of a scaled Jaro-Winkler (for
    first names, where JEAN-PAUL / JEAN-MARC or MAXIME / MAXENCE are different persons: twins).
    """
    if x == y:
        return 1.0, "identical"
    if _key(x, x_key) == _key(y, y_key):
        return 0.95, f"sounds alike ({x} / {y})"
    shortest = min(len(x), len(y))
    distance = OSA.distance(x, y, score_cutoff=3)
    if distance == 1:
        # One letter weighs more in a short name: VU/VE or ROY/ROE are less surely the same.
        score = 0.90 if shortest >= 4 else 0.75 if shortest == 3 else 0.50
        return score, f"one typing error ({x} / {y})"
    x_words, y_words = _words(x), _words(y)
    if len(x_words) > 1 and sorted(x_words) == sorted(y_words):
        return 0.90, f"same names in another order ({x} / {y})"
    if _same_apart_from_particles(x_words, y_words):
        return 0.85, f"same name apart from the particle ({x} / {y})"
    if distance == 2 and shortest >= 7:
        return 0.80, f"two typing errors ({x} / {y})"
    x_set, y_set = set(x_words), set(y_words)
    smaller = x_set if len(x_set) < len(y_set) else y_set
    if (x_set < y_set or y_set < x_set) and smaller - PARTICLES:
        return 0.80, f"one compound name contains the other ({x} / {y})"
    if not fuzzy:
        return 0.0, f"different ({x} / {y})"
    jaro = JaroWinkler.normalized_similarity(x, y)
    return round(max(0.0, (jaro - 0.7) / 0.3) * 0.6, 3), f"different ({x} / {y})"


def _birth_name(a: Profile, b: Profile) -> TraitScore:
    score, reason = name_similarity(
        a.birth_name, b.birth_name, x_key=a.birth_name_key, y_key=b.birth_name_key
    )
    best = TraitScore("birth_name", score, reason)
    for one, other in ((a, b), (b, a)):
        if one.used_name is None or best.score >= 0.90:
            continue
        used, why = name_similarity(
            one.used_name, other.birth_name, x_key=one.used_name_key, y_key=other.birth_name_key
        )
        if used >= 0.90 and 0.90 * used > best.score:
            best = TraitScore(
                "birth_name",
                round(0.90 * used, 3),
                f"the used name of #{one.id} ({one.used_name}) is the birth name of "
                f"#{other.id} ({other.birth_name}): registered under the used name? ({why})",
            )
    return best


def _is_gender_variant(x: str, y: str) -> bool:
    short, long = (x, y) if len(x) < len(y) else (y, x)
    return long.startswith(short) and long[len(short) :] in _FEMININE_ENDINGS


def _first_names(a: Profile, b: Profile) -> TraitScore:
    la, lb = a.first_names, b.first_names
    if la == lb:
        return TraitScore("first_names", 1.0, "identical")
    if sorted(la) == sorted(lb):
        return TraitScore("first_names", 0.95, "same first names in another order")
    if "-".join(la) == "-".join(lb):
        return TraitScore("first_names", 0.95, "compound first name written differently")
    shorter, longer = (la, lb) if len(la) < len(lb) else (lb, la)
    if longer[: len(shorter)] == shorter:
        return TraitScore("first_names", 0.95, "one list of first names is incomplete")
    if la[0] == lb[0]:
        return TraitScore("first_names", 0.90, f"same first first name ({la[0]})")
    for one, other in ((a, b), (b, a)):
        first = one.first_names[0]
        if first in other.first_names or first == other.used_first_name:
            return TraitScore(
                "first_names",
                0.85,
                f"the first name {first} of #{one.id} is among the first names of #{other.id}",
            )
        if one.used_first_name is not None and one.used_first_name in other.first_names:
            return TraitScore(
                "first_names",
                0.85,
                f"the used first name {one.used_first_name} of #{one.id} is a first name of "
                f"#{other.id}",
            )
    if _is_gender_variant(la[0], lb[0]):
        return TraitScore("first_names", 0.40, f"masculine and feminine forms ({la[0]} / {lb[0]})")
    score, reason = name_similarity(la[0], lb[0], fuzzy=False)
    return TraitScore("first_names", round(score * 0.9, 3), reason)


# -- dates -------------------------------------------------------------------------------------


def _parts(value: str) -> tuple[str, str, str]:
    return value[0:4], value[5:7], value[8:10]


def _one_typo(x: str, y: str) -> bool:
    return OSA.distance(x, y, score_cutoff=2) == 1


def date_similarity(x: str, y: str) -> tuple[float, str]:
    if x == y:
        return 1.0, "identical"
    (ya, ma, da), (yb, mb, db) = _parts(x), _parts(y)
    unknown = "00"
    if (
        ya == yb
        and (ma == mb or unknown in (ma, mb))
        and (da == db or unknown in (da, db) or unknown in (ma, mb))
    ):
        return 0.90, f"compatible partial dates ({x} / {y}: unknown day or month)"
    complete = unknown not in (ma, da, mb, db)
    if complete and ya == yb and ma == db and da == mb:
        return 0.90, f"day and month transposed ({x} / {y})"
    if ya == yb and ma == mb and _one_typo(da, db):
        return 0.70, f"the day differs by one typing error ({x} / {y})"
    if ya == yb and da == db and _one_typo(ma, mb):
        return 0.70, f"the month differs by one typing error ({x} / {y})"
    if ma == mb and da == db and _one_typo(ya, yb):
        return 0.70, f"the year differs by one typing error ({x} / {y})"
    if _one_typo(x.replace("-", ""), y.replace("-", "")):
        return 0.60, f"one typing error ({x} / {y})"
    return 0.0, f"different ({x} / {y})"


def swapped_date(value: str) -> str | None:
    """The date with day and month exchanged, when that is another possible date."""
    year, month, day = _parts(value)
    if "00" in (month, day) or month == day or int(day) > 12:
        return None
    return f"{year}-{day}-{month}"


# -- places ------------------------------------------------------------------------------------


def same_place(x: str, y: str) -> bool:
    if x == y:
        return True
    places = get_places()
    current = places.current_code(x)
    return current is not None and current == places.current_code(y)


# -- the whole identity ------------------------------------------------------------------------


def traits_score(a: Profile, b: Profile) -> tuple[float, list[TraitScore]]:
    """The weighted similarity of the traits and the per-trait details."""
    date_score, date_reason = date_similarity(a.birth_date, b.birth_date)
    reasons = [
        _birth_name(a, b),
        _first_names(a, b),
        TraitScore("birth_date", date_score, date_reason),
        TraitScore("sex", 1.0, "identical")
        if a.sex == b.sex
        else TraitScore("sex", 0.0, f"different ({a.sex} / {b.sex})"),
    ]
    if a.birth_place and b.birth_place:
        same = same_place(a.birth_place, b.birth_place)
        reasons.append(
            TraitScore(
                "birth_place",
                1.0 if same else 0.0,
                "identical" if same else f"different ({a.birth_place} / {b.birth_place})",
            )
        )
    weight = sum(WEIGHTS[r.trait] for r in reasons)
    score = sum(WEIGHTS[r.trait] * r.score for r in reasons) / weight
    return round(score, 3), reasons


def compare(a: Profile, b: Profile) -> Match:
    score, reasons = traits_score(a, b)
    if a.ins_matricule and b.ins_matricule:
        if a.ins_matricule == b.ins_matricule:
            if score < COLLISION_TRAITS_BELOW:
                reasons.append(
                    TraitScore(
                        "ins",
                        1.0,
                        "same INS matricule on identities whose traits differ: possible "
                        "collision (two persons under one INS)",
                    )
                )
                return Match(1.0, "potential_collision", reasons)
            reasons.append(TraitScore("ins", 1.0, "same INS matricule: certain duplicate"))
            return Match(1.0, "certain_duplicate", reasons)
        reasons.append(
            TraitScore(
                "ins", 0.0, "different INS matricules: different persons unless one is wrong"
            )
        )
        score = min(score, DIFFERENT_INS_CAP)
    return Match(score, "potential_duplicate" if score > 0 else "different", reasons)


def best_pairs(
    profiles: Sequence[Profile], threshold: float
) -> list[tuple[Profile, Profile, Match]]:
    """Every pair of one block scoring at least ``threshold`` (blocks are small by design)."""
    found = []
    for index, a in enumerate(profiles):
        for b in profiles[index + 1 :]:
            if a.id == b.id:
                continue
            match = compare(a, b)
            if match.score >= threshold:
                found.append((a, b, match) if a.id < b.id else (b, a, match))
    return found
