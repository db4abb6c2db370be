"""Request and response bodies of the rights API (ADRi-like query)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RightsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nir: str = Field(
        min_length=1,
        max_length=30,
        description=(
            "The beneficiary's own NIR/NIA, or the insured person's (ouvrant droit) for a "
            "dependant, as ADRi's NIRcertifie or NIRassure"
        ),
        examples=["184127645108946"],
    )
    birth_date: str = Field(
        min_length=1,
        max_length=10,
        description="The beneficiary's birth date as in the register: YYYY-MM-DD, 00 for an "
        "unknown month or day",
        examples=["2015-06-01"],
    )
    rank: int | None = Field(
        default=None,
        ge=1,
        le=9,
        description="Birth rank (twins); with the insured person's NIR, omitted means 1",
    )
    reference_date: date | None = Field(
        default=None, description="The date of care (ADRi DatedeReference); default today"
    )


class CodeLabel(BaseModel):
    code: str
    label: str


class Period(BaseModel):
    start: date
    end: date | None = Field(description="Last day included; null when open")


class Beneficiary(BaseModel):
    matricule: str
    kind: Literal["NIR", "NIA"]
    birth_name: str
    first_names: list[str]
    used_name: str | None = None
    used_first_name: str | None = None
    sex: Literal["M", "F"]
    birth_date: str


class Insured(BaseModel):
    """The insured person (ouvrant droit) the beneficiary's rights derive from."""

    matricule: str


class SituationOut(BaseModel):
    code: str = Field(examples=["ALD"])
    label: str
    start: date
    end: date | None
    ald_number: int | None = Field(default=None, description="ALD only, when known (1-32)")
    participation: bool | None = Field(
        default=None, description="C2S only: with a financial participation"
    )


class RightsAnswer(BaseModel):
    reference_date: date
    covered: bool
    reason: Literal["no_coverage_at_date", "no_coverage"] | None = Field(
        default=None, description="Why the beneficiary is not covered (covered false only)"
    )
    reason_message: str | None = None
    beneficiary: Beneficiary
    insured: Insured | None = None
    quality: CodeLabel | None = None
    rank: int | None = None
    regime: CodeLabel | None = None
    fund: str | None = Field(default=None, description="Caisse, 3 digits")
    centre: str | None = Field(default=None, description="Centre, 4 digits")
    coverage: Period | None = Field(
        default=None, description="The coverage period that covers the reference date"
    )
    situations: list[SituationOut] = Field(
        default_factory=list, description="Special situations active at the reference date"
    )
    validity: Period | None = Field(
        default=None,
        description="The window within which this answer may be relied on for billing: the "
        "reference date up to one year later, cut at the end of the coverage period",
    )
