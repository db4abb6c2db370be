"""REST API of the INS register: the INSi-like search and verification."""

from __future__ import annotations

from fastapi import APIRouter

from carnet.dependencies import InsRead, UnitOfWorkDep
from carnet.identity import schemas
from carnet.identity.service import register_service

router = APIRouter(prefix="/api/v1/ins", tags=["ins"])


@router.post(
    "/search",
    response_model=schemas.InsSearchResponse,
    summary="Search an INS by the reference traits (INSi rechercherInsAvecTraitsIdentite)",
)
async def search_ins(
    body: schemas.InsSearchRequest, principal: InsRead, uow: UnitOfWorkDep
) -> schemas.InsSearchResponse:
    return await uow.run(register_service.search, principal, body)


@router.post(
    "/verify",
    response_model=schemas.InsVerifyResponse,
    summary="Check that an INS and traits are consistent with the register",
)
async def verify_ins(
    body: schemas.InsVerifyRequest, principal: InsRead, uow: UnitOfWorkDep
) -> schemas.InsVerifyResponse:
    return await uow.run(register_service.verify, principal, body)
