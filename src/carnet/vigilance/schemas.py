"""Request and response bodies of identity-vigilance (structures, local identities, duplicates).

Traits arrive as raw strings with generous limits: the service normalises them like the register
(``carnet.identity.service.normalise_traits``) so that every refusal names the field. Responses
carry everything a FHIR Patient needs (status, attributes, validation mode and date, collection
method, INSi date); the INS (``ins``) is present **only for a QUAL identity**.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["PROV", "RECUP", "VALI", "QUAL"]
# FR Core fr-core-vs-mode-validation-identity (domain.md §2.2).
ValidationMode = Literal["CN", "PA", "CS", "eCN", "IN", "AV", "LECV", "AN", "LEP", "CC", "ANCV"]
# FR Core method of collection; INSI is set by an INSi retrieval only.
CollectionMethod = Literal["SM", "CV", "INSI", "CB", "RFID", "AV"]
MAX_ID = 2**63 - 1
# Ordered birth first names: a list, or one string separated by spaces or commas.
FirstNames = (
    Annotated[str, Field(min_length=1, max_length=500)]
    | Annotated[list[Annotated[str, Field(max_length=200)]], Field(min_length=1, max_length=20)]
)
AttributeCode = Annotated[str, Field(min_length=1, max_length=10)]

_VERSION = Field(
    default=None,
    ge=1,
    le=2**31 - 1,
    description="The version read (optimistic concurrency); the If-Match header works too",
)


# -- structures --------------------------------------------------------------------------------


class StructureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["Centre hospitalier de Rennes"])
    identifier: str | None = Field(
        default=None, max_length=20, description="FINESS (9) or SIRET (14)", examples=["350000741"]
    )


class StructureOut(BaseModel):
    id: int
    name: str
    identifier: str | None
    created_at: datetime


# -- local identities --------------------------------------------------------------------------


class LocalIdentityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    birth_name: str = Field(min_length=1, max_length=200, examples=["DUPONT"])
    first_names: FirstNames = Field(
        description="Ordered birth first names (list, or space/comma separated)",
        examples=[["JEAN", "PIERRE"]],
    )
    sex: str = Field(min_length=1, max_length=6, examples=["M"])
    birth_date: str = Field(
        min_length=1, max_length=10, description="YYYY-MM-DD, 00 for an unknown month or day"
    )
    birth_place: str | None = Field(default=None, max_length=5, description="INSEE COG code")
    used_name: str | None = Field(default=None, max_length=200)
    used_first_name: str | None = Field(default=None, max_length=200)
    ipp: str | None = Field(default=None, max_length=64, description="Local patient identifier")
    collection_method: CollectionMethod = Field(
        default="SM", description="How the traits were collected (INSI is set by a retrieval)"
    )
    attributes: list[AttributeCode] = Field(default=[], max_length=20, examples=[["HOMD"]])


class _OptionalTraits(BaseModel):
    """The five strict traits, each optional (as given, normalised by the service)."""

    model_config = ConfigDict(extra="forbid")

    birth_name: str | None = Field(default=None, min_length=1, max_length=200)
    first_names: FirstNames | None = None
    sex: str | None = Field(default=None, min_length=1, max_length=6)
    birth_date: str | None = Field(default=None, min_length=1, max_length=10)
    birth_place: str | None = Field(default=None, max_length=5)


class LocalIdentityUpdate(_OptionalTraits):
    """Fields to change (absent = unchanged; null clears an optional one)."""

    used_name: str | None = Field(default=None, max_length=200)
    used_first_name: str | None = Field(default=None, max_length=200)
    ipp: str | None = Field(default=None, max_length=64)
    validation_mode: ValidationMode | None = Field(
        default=None,
        description=(
            "The high-trust document the new strict traits were checked against: keeps (renews) "
            "the document check when a strict trait changes; without it the identity drops to PROV"
        ),
    )
    version: int | None = _VERSION


class InsOut(BaseModel):
    matricule: str
    kind: Literal["NIR", "NIA"]
    oid: str


class TraitsOut(BaseModel):
    birth_name: str
    first_names: list[str]
    sex: Literal["M", "F"]
    birth_date: str
    birth_place: str | None


class LocalIdentity(BaseModel):
    id: int
    structure_id: int
    ipp: str | None
    status: Status
    attributes: list[str]
    active: bool
    merged_into_id: int | None
    traits: TraitsOut
    used_name: str | None
    used_first_name: str | None
    validation_mode: ValidationMode | None
    validation_date: date | None
    collection_method: CollectionMethod | None
    insi_retrieved_at: datetime | None
    ins: InsOut | None = Field(
        default=None, description="The INS, only for a qualified (QUAL) identity"
    )
    version: int
    created_at: datetime
    updated_at: datetime


class IdentitySearch(BaseModel):
    """Search criteria (all optional, combined with AND)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None,
        max_length=200,
        description="Birth or used name; sounds-alike by default (DUPONT finds DUPOND)",
    )
    exact: bool = Field(default=False, description="Match the normalised name exactly")
    first_name: str | None = Field(default=None, max_length=200)
    birth_date: str | None = Field(
        default=None, max_length=10, description="YYYY-MM-DD, YYYY-MM or YYYY"
    )
    sex: str | None = Field(default=None, max_length=6)
    status: Status | None = None
    ipp: str | None = Field(default=None, max_length=64)
    include_inactive: bool = False
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10_000)


class IdentityPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[LocalIdentity]


class InsiCall(BaseModel):
    first_name: str
    with_birth_place: bool
    code: Literal["00", "01", "02"]


class TraitDifference(BaseModel):
    trait: str
    local: str | None
    insi: str | None


class InsiRetrievalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = _VERSION


class InsiRetrievalResponse(BaseModel):
    code: Literal["00", "01", "02"]
    label: str
    outcome: Literal["retrieved", "incoherent", "not_found", "several"]
    differences: list[TraitDifference] = []
    calls: list[InsiCall]
    identity: LocalIdentity


class DocumentTraits(_OptionalTraits):
    """The traits as read on the document (optional): they must agree with the identity's."""


class DocumentCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    validation_mode: ValidationMode
    validation_date: date | None = Field(
        default=None, description="When the document was checked (default: today, Paris time)"
    )
    checked_traits: DocumentTraits | None = None
    version: int | None = _VERSION


class AttributeChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = _VERSION


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: int = Field(ge=1, le=MAX_ID, description="The identity that is kept")
    reason: str = Field(min_length=1, max_length=400)
    version: int | None = _VERSION


class UnmergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, min_length=1, max_length=400)
    version: int | None = _VERSION


class TraitScoreOut(BaseModel):
    trait: str
    score: float
    reason: str


class DuplicateCandidate(BaseModel):
    identity_id: int
    ipp: str | None
    status: Status
    score: float
    kind: Literal["certain_duplicate", "potential_duplicate", "potential_collision"]
    suggested_attribute: str | None
    reasons: list[TraitScoreOut]


class DuplicatesResponse(BaseModel):
    identity_id: int
    threshold: float
    candidates: list[DuplicateCandidate]


class DuplicatePair(BaseModel):
    """One line of the batch report."""

    identity_a: int
    identity_b: int
    ipp_a: str | None
    ipp_b: str | None
    score: float
    kind: Literal["certain_duplicate", "potential_duplicate", "potential_collision"]
    suggested_attribute: str | None
    reasons: list[TraitScoreOut]


class HistoryEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    detail: str | None
