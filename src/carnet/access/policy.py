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
    profession_code: str | None = None
    readable_type_codes: frozenset[str] | None = None
    # The grant row behind a professional's or a relative's access (consent, care, emergency…).
    basis: str | None = None

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
