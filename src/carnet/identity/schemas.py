"""Request and response bodies of the INS register API.

Inputs are raw strings with generous length limits: the service normalises and validates them,
so that every refusal names the field and the offending character or rule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class InsSearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    birth_name: str = Field(min_length=1, max_length=200, examples=["DUPONT"])
    first_name: str | list[str] = Field(
        description="One birth first name, or the full ordered list (list or space-separated)",
        examples=["JEAN", ["JEAN", "PIERRE"]],
    )
    sex: str = Field(min_length=1, max_length=6, examples=["M"])
    birth_date: str = Field(
        min_length=1,
        max_length=10,
        description="YYYY-MM-DD, 00 for an unknown month or day",
        examples=["1984-12-01"],
    )
    birth_place: str | None = Field(
        default=None, max_length=5, description="INSEE COG code", examples=["75056"]
    )


class InsIdentifier(BaseModel):
    matricule: str
    kind: Literal["NIR", "NIA"]
    oid: str


class InsHistoryEntry(InsIdentifier):
    ended_at: datetime | None = None


class ReferenceTraits(BaseModel):
    birth_name: str
    first_names: list[str]
    first_names_text: str = Field(
        description="INSi ListePrenom: the birth first names, space-separated"
    )
    sex: Literal["M", "F"]
    birth_date: str
    birth_place: str | None


class InsIdentity(BaseModel):
    ins: InsIdentifier
    traits: ReferenceTraits
    used_name: str | None = None
    used_first_name: str | None = None
    death_date: str | None = None
    history: list[InsHistoryEntry] = []


class InsSearchResponse(BaseModel):
    code: Literal["00", "01", "02"]
    label: str
    identity: InsIdentity | None = None


class InsVerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matricule: str = Field(min_length=1, max_length=30, description="NIR or NIA, 15 characters")
    oid: str | None = Field(default=None, max_length=64)
    birth_name: str = Field(min_length=1, max_length=200)
    first_names: str | list[str]
    sex: str = Field(min_length=1, max_length=6)
    birth_date: str = Field(min_length=1, max_length=10)
    birth_place: str | None = Field(default=None, max_length=5)


class TraitDifference(BaseModel):
    trait: str
    reason: str


class InsVerifyResponse(BaseModel):
    consistent: bool
    status: Literal["consistent", "inconsistent", "unknown_ins", "replaced_ins"]
    differences: list[TraitDifference] = []


class PersonWrite(BaseModel):
    """A register entry written by the register's operator (scope ins.write)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=3, max_length=3, examples=["NIR"])
    birth_name: str = Field(min_length=1, max_length=200)
    first_names: str | list[str] = Field(description="Birth first names in order")
    sex: str = Field(min_length=1, max_length=6)
    birth_date: str = Field(min_length=1, max_length=10)
    birth_place: str | None = Field(default=None, max_length=5)
    used_name: str | None = Field(default=None, max_length=200)
    used_first_name: str | None = Field(default=None, max_length=200)
    death_date: str | None = Field(default=None, max_length=10)
    previous_matricules: list[str] = Field(
        default_factory=list, max_length=20, description="Matricules this person held before"
    )


class PersonWriteResult(BaseModel):
    outcome: Literal["created", "updated", "unchanged"]
    identity: InsIdentity
