"""Bodies of the access API: privacy settings, blocks, consents, relatives, history, emergency."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from carnet.access.policy import AIDANT_SCOPES

RppsField = Field(
    min_length=11, max_length=11, pattern=r"^\d{11}$", description="RPPS number (11 digits)"
)


class Privacy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    emergency_access_refused: bool = Field(
        description="Refuse break-glass access by professionals and the emergency regulator "
        "(L1111-17)"
    )
    notify_by_email: bool = Field(
        description="Receive an e-mail for each access by someone other than the holder "
        "(emergency accesses are always notified)"
    )


class ProfessionalOut(BaseModel):
    professional_id: int
    rpps: str | None
    family_name: str
    given_name: str
    profession_code: str
    profession_label: str
    specialty_code: str | None = None


class BlockCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rpps: str = RppsField


class BlockOut(BaseModel):
    professional: ProfessionalOut
    created_at: datetime


class ConsentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rpps: str = RppsField
    ends_at: datetime | None = Field(
        default=None, description="When the consent ends (none: until revoked)"
    )


class GrantOut(BaseModel):
    professional: ProfessionalOut
    basis: Literal["consent", "care", "emergency", "regulation"]
    reason: str | None
    granted_at: datetime
    expires_at: datetime | None


class AidantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person: str = Field(
        min_length=13, max_length=15, description="The relative's NIR (13 digits + key)"
    )
    scope: str = Field(
        min_length=1,
        max_length=200,
        description="Space-separated: " + " ".join(AIDANT_SCOPES),
        examples=["documents:read profile:read"],
    )
    ends_at: datetime | None = Field(
        default=None, description="End of access (none: until revoked)"
    )

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        items = value.split()
        unknown = [s for s in items if s not in AIDANT_SCOPES]
        if not items or unknown:
            known = " ".join(AIDANT_SCOPES)
            raise ValueError(f"unknown scope(s) {' '.join(unknown) or '(none)'}; known: {known}")
        return " ".join(s for s in AIDANT_SCOPES if s in items)


class AidantOut(BaseModel):
    id: int
    person_id: int
    name: str
    scope: str
    created_at: datetime
    ends_at: datetime | None


class HistoryEntry(BaseModel):
    id: int
    at: datetime
    actor_kind: str
    who: str | None
    professional_id: int | None = Field(
        default=None, description="The professional's directory id (professional actors)"
    )
    professional_rpps: str | None = Field(
        default=None,
        description="The professional's RPPS (absent for one known by another idNat_PS): "
        "what POST …/blocks takes",
    )
    profession_code: str | None
    profession_label: str | None
    what: str
    resource: str | None
    reason: str | None
    notified: bool


class HistoryPage(BaseModel):
    items: list[HistoryEntry]
    next_cursor: int | None = Field(description="Pass as ?cursor= for the next (older) page")


class EmergencyAccessCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=10, max_length=500, description="Why the access is needed (mandatory)"
    )
    kind: Literal["emergency", "regulation"] = Field(
        default="emergency",
        description="emergency: break-glass by a professional; regulation: the SAMU-Centre 15 "
        "regulating doctor (scope dmp.regulation)",
    )

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        stripped = " ".join(value.split())
        if len(stripped) < 10:
            raise ValueError("give the reason in at least 10 characters")
        return stripped


class EmergencyAccessOut(BaseModel):
    person_id: int
    kind: Literal["emergency", "regulation"]
    reason: str
    granted_at: datetime
    expires_at: datetime
    notified: bool
