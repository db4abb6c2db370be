"""Bodies of the directory API, and the types other domains use (``ProfessionalRef``,
``ActingProfessional``: see ``DirectoryService.acting_professional``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from carnet.directory.identifiers import normalise_idnat_ps, normalise_rpps
from carnet.exceptions import AppError
from carnet.vigilance.service import normalise_structure_identifier


class ProfessionalRef(BaseModel):
    """Which professional acts: exactly one of ``rpps`` / ``idnat_ps``; where, optionally."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpps: str | None = Field(
        default=None, max_length=20, description="RPPS number (11 digits)", examples=["10001234567"]
    )
    idnat_ps: str | None = Field(
        default=None,
        max_length=60,
        description="National professional id (idNat_PS), e.g. 8 + RPPS",
        examples=["810001234567"],
    )
    structure_identifier: str | None = Field(
        default=None,
        max_length=30,
        description="FINESS or SIRET of the place where the act happens (one of the "
        "professional's places of practice)",
        examples=["350000741"],
    )

    @field_validator("rpps")
    @classmethod
    def _rpps(cls, value: str | None) -> str | None:
        return normalise_rpps(value)

    @field_validator("idnat_ps")
    @classmethod
    def _idnat(cls, value: str | None) -> str | None:
        return normalise_idnat_ps(value)

    @field_validator("structure_identifier")
    @classmethod
    def _structure(cls, value: str | None) -> str | None:
        try:
            return normalise_structure_identifier(value)
        except AppError as exc:
            raise ValueError(exc.message) from None

    @model_validator(mode="after")
    def _exactly_one(self) -> ProfessionalRef:
        if (self.rpps is None) == (self.idnat_ps is None):
            raise ValueError("give exactly one of rpps and idnat_ps")
        return self


@dataclass(frozen=True, slots=True)
class ActingProfessional:
    """A professional of the directory as an act records them, with the place of the act.

    ``structure_*`` are None when the place is not known: no ``structure_identifier`` was given,
    the client is bound to the professional only, and the professional has several places.
    """

    professional_id: int
    rpps: str | None
    idnat_ps: str
    family_name: str
    given_name: str
    profession_code: str
    profession_label: str
    specialty_code: str | None
    specialty_label: str | None
    structure_id: int | None
    structure_identifier: str | None
    structure_name: str | None


class Coded(BaseModel):
    system: str
    code: str
    label: str | None = Field(description="None for a code the platform's table does not know")


class PracticeOut(BaseModel):
    structure_id: int
    structure_identifier: str
    structure_name: str
    commune: str | None


class ProfessionalOut(BaseModel):
    rpps: str | None
    idnat_ps: str
    family_name: str
    given_name: str
    profession: Coded
    specialty: Coded | None
    active: bool
    practices: list[PracticeOut]
    updated_at: datetime


class ProfessionalPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[ProfessionalOut]
