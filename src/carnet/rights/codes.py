"""Code tables of the rights domain: schemes (régimes), qualities, special situations.

domain.md §7.1 names the affiliation organisation as régime / caisse (fund) / centre and the
special situations (C2S, ALD, maternity, invalidity…) but gives no code table. The values below
are the conventional SESAM-Vitale "grand régime" and "qualité" codes as commonly seen in billing
software; none is confirmed by domain.md ([UNCONFIRMED]). They are configuration, not schema: the
database stores the code only (no CHECK constraint), so this module is the one place to change
when the official nomenclature is at hand, and a change needs no migration.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    label: str
    # False: a conventional value not confirmed by domain.md (kept configurable, see above).
    confirmed: bool = False


def _table(*codes: Code) -> dict[str, Code]:
    return {c.code: c for c in codes}


# Mandatory schemes ("grand régime", 2 digits). domain.md §4.1 confirms that CNAM (régime
# général), MSA (agricole) and MGEN (a fund managing the régime général for national-education
# staff) issue cards, not their codes.
REGIMES: dict[str, Code] = _table(
    Code("01", "Régime général (CNAM)"),
    Code("02", "Régime agricole (MSA)"),
    Code("03", "Travailleurs indépendants (historique, repris par le régime général)"),
    Code("04", "SNCF"),
    Code("05", "RATP"),
    Code("06", "ENIM (marins)"),
    Code("07", "CANSSM (mines)"),
    Code("08", "Militaires (CNMSS)"),
    Code("10", "Clercs et employés de notaire (CRPCEN)"),
    Code("90", "Autre régime (90)"),
    Code("91", "Autre régime (91)"),
    Code("92", "Autre régime (92)"),
    Code("93", "Autre régime (93)"),
    Code("94", "Autre régime (94)"),
    Code("95", "Autre régime (95)"),
    Code("96", "Autre régime (96)"),
)

# Quality of the beneficiary towards the insured person (ouvrant droit). "00" is the insured
# person themselves; every other quality is a dependant (ayant droit).
QUALITY_INSURED = "00"
QUALITIES: dict[str, Code] = _table(
    Code(QUALITY_INSURED, "Assuré (ouvrant droit)"),
    Code("02", "Conjoint"),
    Code("06", "Enfant"),
    Code("09", "Autre ayant droit"),
)
# Words accepted in import files for the quality, besides the codes (accents optional).
QUALITY_WORDS: dict[str, str] = {
    "assure": "00",
    "conjoint": "02",
    "enfant": "06",
    "autre": "09",
}

# Special situations (domain.md §7.1: "C2S/CMU, ALD exemption, maternity, invalidity…").
ALD = "ALD"
C2S = "C2S"
SITUATIONS: dict[str, Code] = _table(
    Code(ALD, "Affection de longue durée (exonération du ticket modérateur)", confirmed=True),
    Code(C2S, "Complémentaire santé solidaire", confirmed=True),
    Code("MAT", "Maternité", confirmed=True),
    Code("INV", "Invalidité", confirmed=True),
    Code("AME", "Aide médicale de l'État"),
    Code("AT", "Accident du travail / maladie professionnelle"),
)
# ALD numbers: 1 to 30 for the listed affections ("ALD 30"), 31 for a non-listed one, 32 for
# several affections (polypathologie).
ALD_NUMBERS = range(1, 33)
# The qualifier of a C2S with a financial participation (C2S "participative").
C2S_PARTICIPATION = "P"

# Birth rank ("rang de naissance"): one digit, 1 unless twins (or more) share a birth date.
RANKS = range(1, 10)
