"""Request and response bodies of the apCV-like card reading (domain.md §4.4).

The four steps mirror the SESAM-Vitale apCV services: authenticate the card "in proximity"
(``POST /contexts``, the raw QR text), restore the context for one beneficiary
(``GET /contexts/{id}``), sign an invoice (``POST /contexts/{id}/signatures``), destroy the
context (``DELETE /contexts/{id}``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from carnet.directory.schemas import ProfessionalRef
from carnet.identity.schemas import InsIdentity

Quality = Literal["holder", "dependant"]
# An opaque per-context reference: random, so a reference from another context never matches.
BeneficiaryRef = str


class ContextCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qr: str = Field(
        min_length=1,
        max_length=1000,
        description="The raw text of the card's QR code, as a scanner types it (starts with CV1:)",
    )
    professional: ProfessionalRef = Field(
        description="The professional reading the card (must be the client's, or practise at "
        "the client's structure)"
    )


class BeneficiarySummary(BaseModel):
    ref: BeneficiaryRef = Field(description="Names this beneficiary in this context's calls")
    quality: Quality
    rank: int | None = Field(default=None, description="Birth rank (twins), when known")
    first_name: str = Field(description="First birth first name")
    first_names: list[str]
    birth_name: str
    used_name: str | None = None
    used_first_name: str | None = None
    sex: Literal["M", "F"]
    birth_date: str


class ContextCreated(BaseModel):
    context_id: str
    expires_at: datetime
    delegated: bool = Field(description="Presented by a delegate of the holder, not the holder")
    beneficiaries: list[BeneficiarySummary]


class IdentityReliability(BaseModel):
    """FR Core identity reliability of an identity read through the card (domain.md §2.1–2.2):
    qualified, collected by the "application carte Vitale" (AV), validated by it (AV)."""

    status: Literal["QUAL"] = "QUAL"
    collection_method: Literal["AV"] = "AV"
    validation_mode: Literal["AV"] = "AV"
    validation_date: date


class Situation(BaseModel):
    code: str = Field(examples=["ALD"])
    label: str
    start: date
    end: date | None
    ald_number: int | None = None
    participation: bool | None = None


class Coverage(BaseModel):
    """The AMO rights at the date of care (ADRi-like, domain.md §7.1); ``covered`` false, and
    nothing else, when no coverage period includes that date."""

    covered: bool
    date_of_care: date
    regime: str | None = None
    regime_label: str | None = None
    fund: str | None = None
    centre: str | None = None
    quality: str | None = Field(default=None, description="00 insured, 02 spouse, 06 child…")
    quality_label: str | None = None
    insured_matricule: str | None = Field(
        default=None,
        description="The insured person's NIR (NIRAssure: what the invoice bills under)",
    )
    start: date | None = None
    end: date | None = None
    validity_start: date | None = None
    validity_end: date | None = None
    situations: list[Situation] = []


class BeneficiaryRead(BaseModel):
    context_id: str
    beneficiary: BeneficiaryRef
    quality: Quality
    rank: int | None = None
    delegated: bool
    identity: InsIdentity
    reliability: IdentityReliability
    rights: Coverage
    read_at: datetime


InvoiceType = Literal["FSE", "DRE"]


class SignatureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    beneficiary: BeneficiaryRef = Field(min_length=1, max_length=64)
    invoice_type: InvoiceType
    invoice_hash: str = Field(
        pattern=r"^[0-9a-fA-F]{64}$",
        description="SHA-256 of the invoice (FSE or DRE), 64 hexadecimal characters",
    )
    amount: str | None = Field(
        default=None, max_length=20, pattern=r"^\d{1,9}(\.\d{1,2})?$", examples=["26.50"]
    )
    summary: str | None = Field(default=None, max_length=500, description="Free invoice summary")


class SignatureOut(BaseModel):
    signature: str = Field(description="Compact JWS (ES256); verify it with GET /api/v1/apcv/jwks")
    kid: str
    alg: Literal["ES256"] = "ES256"
    signed_at: datetime


# -- the holder's reading history --------------------------------------------------------------


class ReadingProfessional(BaseModel):
    rpps: str | None
    first_name: str | None
    last_name: str | None
    profession_code: str | None
    profession_label: str | None


class ReadingPlace(BaseModel):
    name: str | None
    identifier: str | None


class ReadingPerson(BaseModel):
    first_name: str | None
    last_name: str | None


class ReadingDelegation(BaseModel):
    id: int
    delegate: ReadingPerson


class Reading(BaseModel):
    id: int
    read_at: datetime
    role: Literal["holder", "delegate"] = Field(
        description="holder: a reading of your card or about you; delegate: a card you "
        "presented for someone else through their delegation"
    )
    delegated: bool = Field(description="Presented through a delegation")
    beneficiary: ReadingPerson
    quality: Quality
    about_me: bool
    professional: ReadingProfessional
    place: ReadingPlace
    delegation: ReadingDelegation | None = None


class ReadingPage(BaseModel):
    readings: list[Reading]
    next_before: int | None = Field(
        default=None, description="Pass as ?before= to get the next (older) page"
    )
