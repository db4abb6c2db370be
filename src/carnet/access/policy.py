"""The vocabulary of the health-space authorization chokepoint (``access.service.authorize``).

Domains that hold a space's data (documents, profile, space lifecycle) ask the chokepoint for a
``SpaceGrant`` before touching anything, then filter what they return with it: a grant says who
acts (``ActorKind``), on which person's space, in which ``Area`` and for which ``Action``, and
which documents that actor may see (``may_see``, or the same rules as SQL-friendly fields for
listings). This module holds only pure values and rules: no database, no FastAPI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Area(StrEnum):
    """What part of a space a request touches."""

    DOCUMENTS = "documents"
    PROFILE = "profile"
    HISTORY = "history"  # the access history (who read or changed what)
    SETTINGS = "settings"  # privacy settings, blocks, consents, relatives' access
    LIFECYCLE = "lifecycle"  # objection, opening, closure, deletion request


class Action(StrEnum):
    READ = "read"
    WRITE = "write"


class ActorKind(StrEnum):
    HOLDER = "holder"  # the person themself
    REPRESENTATIVE = "representative"  # a parent managing a minor child's space
    AIDANT = "aidant"  # a relative the holder gave access to (scope and end date)
    PROFESSIONAL = "professional"  # with consent or within a care relationship
    EMERGENCY = "emergency"  # break-glass access, with a reason
    REGULATOR = "regulator"  # the emergency (SAMU-Centre 15) regulating doctor


# DMP visibility flags (TRE_A07 StatutVisibiliteDocument, domain.md §5.1; DMP clients use bits).
MASQUE_PS = 1  # hidden from professionals, except its author
INVISIBLE_PATIENT = 2  # hidden from the patient pending an announcement consultation (R1111-53)
INVISIBLE_REPRESENTANTS_LEGAUX = 4  # hidden from the legal representatives (a minor's secret)
VISIBILITY_FLAGS = MASQUE_PS | INVISIBLE_PATIENT | INVISIBLE_REPRESENTANTS_LEGAUX

# What a relative (aidant) may be given, as "area:action" (``aidant_scope``).
AIDANT_SCOPES = (
    "documents:read",
    "documents:write",
    "profile:read",
    "profile:write",
    "history:read",
)


def aidant_scope(area: Area, action: Action) -> str:
    return f"{area.value}:{action.value}"


# The DMP document types (XDS typeCode, JDV_J66 subset, domain.md §5.3) the access matrix knows.
# A matrix rule ``*`` ("every type") of a profession that refuses none of these also covers types
# not listed here; otherwise a non-listed type is readable only when a rule names it.
DMP_TYPE_CODES: dict[str, str] = {
    "11490-0": "Lettre de liaison de sortie",
    "11502-2": "Compte rendu de biologie",
    "18748-4": "Compte rendu d'imagerie",
    "34133-9": "Synthèse d'épisode de soins",
    "60591-5": "Volet de synthèse médicale (VSM)",
    "57833-6": "Prescription de produits de santé",
    "57832-8": "Prescription de soins",
    "60593-1": "Dispensation médicamenteuse",
    "11369-6": "Historique des vaccinations",
    "87273-9": "Note de vaccination",
    "15507-7": "Compte rendu de passage aux urgences",
    "34874-8": "Compte rendu opératoire",
    "89601-9": "Certificat médical",
    "96874-3": "Certificat de vaccination COVID-19",
    "57057-5": "Synthèse d'accouchement",
    "DOCPAT01": "Synthèse (déposée par le patient)",
    "DOCPAT02": "Traitement (déposé par le patient)",
    "DOCPAT03": "Compte rendu (déposé par le patient)",
    "DOCPAT04": "Imagerie (déposée par le patient)",
    "DOCPAT05": "Biologie (déposée par le patient)",
    "DOCPAT06": "Prévention (déposée par le patient)",
    "DOCPAT07": "Certificat (déposé par le patient)",
    "DOCPAT08": "Profil médical Mon Espace Santé",
    "DOCPAT09": "Document administratif (déposé par le patient)",
    "EXPPAT_3": "Directives anticipées",
    "PROT_ALD": "Protocole de soins ALD",
    "REMB": "Données de remboursement",
    "PRESC-BIO": "Prescription d'actes de biologie",
    "PRESC-KINE": "Prescription d'actes de kinésithérapie",
    "PRESC-INF": "Prescription d'actes infirmiers",
    "PIECE-IDENTITE": "Pièce d'identité",
}

ANY_TYPE = "*"


@dataclass(frozen=True, slots=True)
class MatrixRule:
    profession_code: str
    specialty_code: str  # "" for any specialty
    type_code: str  # ANY_TYPE for every type
    allowed: bool


def readable_type_codes(
    rules: list[MatrixRule], profession_code: str, specialty_code: str | None
) -> frozenset[str] | None:
    """The document types a profession (and specialty) may read under the access matrix.

    The most specific rule wins: (specialty, type) > (any specialty, type) > (specialty, ``*``) >
    (any specialty, ``*``); no rule: refused. None means every type (a ``*`` allowed and no known
    type refused), an empty set none at all (a profession the matrix does not know).
    """
    specialty = specialty_code or ""
    table: dict[tuple[str, str], bool] = {
        (r.specialty_code, r.type_code): r.allowed
        for r in rules
        if r.profession_code == profession_code and r.specialty_code in ("", specialty)
    }

    def allowed(type_code: str) -> bool:
        for key in (
            (specialty, type_code),
            ("", type_code),
            (specialty, ANY_TYPE),
            ("", ANY_TYPE),
        ):
            if key in table:
                return table[key]
        return False

    default = allowed(ANY_TYPE)
    named = {t for (_, t) in table if t != ANY_TYPE}
    codes = set(DMP_TYPE_CODES) | named
    readable = {c for c in codes if allowed(c)}
    if default and readable == codes:
        return None
    return frozenset(readable)


# Person-side actors and professional-side actors.
PERSON_ACTORS = frozenset({ActorKind.HOLDER, ActorKind.REPRESENTATIVE, ActorKind.AIDANT})
PROFESSIONAL_ACTORS = frozenset({ActorKind.PROFESSIONAL, ActorKind.EMERGENCY, ActorKind.REGULATOR})


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What the visibility rules need to know about one document."""

    type_code: str
    visibility: int
    author_professional_id: int | None
    author_person_id: int | None
    # While INVISIBLE_PATIENT is set: the moment it becomes visible to the patient anyway
    # (1 month after upload, R1111-53). None: no automatic end.
    patient_visible_from: datetime | None = None


@dataclass(frozen=True, slots=True)
class SpaceGrant:
    """The chokepoint's answer: this actor may do ``action`` on ``area`` of ``person_id``'s space.

    ``readable_type_codes`` is the access matrix's answer for a professional's profession
    (None: every type). ``audit_actor`` is how the audit trail names the actor.
    """

    person_id: int
    area: Area
    action: Action
    actor: ActorKind
    audit_actor: str
    actor_person_id: int | None = None
    professional_id: int | None = None
    # The professional's RPPS (None for one known by another idNat_PS only), for the history.
    professional_rpps: str | None = None
    profession_code: str | None = None
    readable_type_codes: frozenset[str] | None = None
    # The grant row behind a professional's or a relative's access (consent, care, emergency…).
    basis: str | None = None
    # How the holder's access history names the actor ("Dr Claire Morel (RPPS 10001234567)").
    actor_label: str | None = None
    # The software client acting (professionals), for the history.
    client_id: str | None = None
    specialty_code: str | None = None
    profession_label: str | None = None
    # The break-glass reason (emergency, regulator), copied into each history row.
    reason: str | None = None

    @property
    def is_professional(self) -> bool:
        return self.actor in PROFESSIONAL_ACTORS

    @property
    def is_holder(self) -> bool:
        return self.actor is ActorKind.HOLDER

    def may_see(self, doc: DocumentFacts, now: datetime) -> bool:
        """The visibility rules for one document (listings apply the same rules in SQL)."""
        if self.is_professional:
            if doc.author_professional_id is not None and doc.author_professional_id == (
                self.professional_id
            ):
                return True  # an author always sees their own document
            if doc.visibility & MASQUE_PS:
                return False
            return self.readable_type_codes is None or doc.type_code in self.readable_type_codes
        # Person-side actors.
        if doc.visibility & INVISIBLE_PATIENT and (
            doc.patient_visible_from is None or now < doc.patient_visible_from
        ):
            return False
        return not (
            self.actor is ActorKind.REPRESENTATIVE
            and doc.visibility & INVISIBLE_REPRESENTANTS_LEGAUX
        )
