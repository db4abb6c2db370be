"""Request parts shared by the health-space adapters (REST and FHIR)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

ProfessionalRpps = Annotated[
    str | None,
    Header(
        alias="X-Professional-RPPS",
        description="The acting professional's RPPS, for software bound to a structure",
    ),
]
