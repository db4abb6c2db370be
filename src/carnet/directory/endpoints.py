"""HTTP API of the directory domain: read the directory of health professionals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from carnet.dependencies import DirectoryRead, SessionDep
from carnet.directory import schemas
from carnet.directory.service import directory_service

router = APIRouter(prefix="/api/v1/directory", tags=["directory"])

Rpps = Annotated[
    str, Path(pattern=r"^\d{11}$", description="RPPS number (11 digits)", examples=["10001234567"])
]


@router.get(
    "/professionals",
    response_model=schemas.ProfessionalPage,
    summary="Search professionals by family name (prefix; accents and case ignored)",
)
def search_professionals(
    principal: DirectoryRead,
    session: SessionDep,
    name: Annotated[str, Query(min_length=2, max_length=100, description="Family name prefix")],
    profession: Annotated[
        str | None, Query(max_length=4, description="TRE_G15 profession code, e.g. 10")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> schemas.ProfessionalPage:
    return directory_service.search(
        session, principal, name=name, profession=profession, limit=limit, offset=offset
    )


@router.get(
    "/professionals/{rpps}",
    response_model=schemas.ProfessionalOut,
    summary="One professional: profession, specialty and places of practice",
    responses={404: {"description": "No professional with this RPPS number"}},
)
def get_professional(
    rpps: Rpps, principal: DirectoryRead, session: SessionDep
) -> schemas.ProfessionalOut:
    return directory_service.get_professional(session, principal, rpps)
