"""What the profile's use cases return, and the REST answers built from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One version of a profile resource (the FHIR JSON as served, None for a deletion)."""

    person_id: int
    resource_type: str
    public_id: str
    version: int
    deleted: bool
    resource: dict[str, Any] | None
    recorded_at: datetime
    author: str

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.public_id}"


@dataclass(frozen=True, slots=True)
class Page:
    items: list[StoredResource]
    total: int


class ResourceList(BaseModel):
    resource_type: str
    total: int = Field(description="matches in the space (items may be a page of them)")
    items: list[dict[str, Any]] = Field(description="FHIR resources, most recent first")


class HistoryEntry(BaseModel):
    version: int
    deleted: bool
    recorded_at: datetime
    author: str = Field(description="who wrote this version (holder:<id>, client:<id>, system)")
    resource: dict[str, Any] | None = Field(description="the FHIR resource; null for a deletion")


class History(BaseModel):
    resource_type: str
    id: str
    versions: list[HistoryEntry] = Field(description="newest first")


class Measurement(BaseModel):
    """The latest value of one vital sign."""

    code: str = Field(description="LOINC code")
    label: str
    effective: str | None = Field(description="effectiveDateTime of the measurement")
    value: float | None = None
    unit: str | None = Field(default=None, description="UCUM code")
    systolic: float | None = None
    diastolic: float | None = None
    id: str = Field(description="the Observation id")
    count: int = Field(description="how many measurements of this kind the space holds")


class HistorySection(BaseModel):
    illnesses: list[dict[str, Any]] = Field(description="Conditions")
    hospitalisations: list[dict[str, Any]] = Field(description="Encounters (hospital stays)")
    operations: list[dict[str, Any]] = Field(description="Procedures")


class TreatmentsSection(BaseModel):
    current: list[dict[str, Any]] = Field(
        description="MedicationStatements active/intended/on-hold"
    )
    past: list[dict[str, Any]] = Field(description="other MedicationStatements")


class ProfileSummary(BaseModel):
    """The medical profile grouped for display (entered-in-error resources left out)."""

    patient: str = Field(description="Patient/{person id}")
    history: HistorySection
    treatments: TreatmentsSection
    allergies: list[dict[str, Any]]
    vaccinations: list[dict[str, Any]]
    measurements: list[Measurement] = Field(description="latest value per vital sign")
    directives: list[dict[str, Any]] = Field(description="advance directives (Consent)")
    contacts: list[dict[str, Any]] = Field(description="people to contact (RelatedPerson)")
