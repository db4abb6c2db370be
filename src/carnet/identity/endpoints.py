"""REST API of the INS register: the INSi-like search and verification."""

from __future__ import annotations

from fastapi import APIRouter, Response

from carnet.dependencies import InsRead, InsWrite, UnitOfWorkDep
from carnet.exceptions import NotFound
from carnet.identity import schemas
from carnet.identity.service import register_service, register_write_service

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


@router.get(
    "/persons/{matricule}",
    response_model=schemas.InsIdentity,
    summary="Read an identity by its current or previous matricule (audited)",
)
async def read_person(
    matricule: str, principal: InsRead, uow: UnitOfWorkDep
) -> schemas.InsIdentity:
    identity = await uow.run(register_service.read_by_matricule, principal, matricule)
    if identity is None:
        raise NotFound("no identity holds this matricule", code="unknown_ins")
    return identity


@router.put(
    "/persons/{matricule}",
    response_model=schemas.PersonWriteResult,
    responses={201: {"model": schemas.PersonWriteResult}},
    summary="Create or update one register entry (register operator, scope ins.write)",
)
async def put_person(
    matricule: str,
    body: schemas.PersonWrite,
    principal: InsWrite,
    uow: UnitOfWorkDep,
    response: Response,
) -> schemas.PersonWriteResult:
    result = await uow.run(register_write_service.upsert, principal, matricule, body)
    if result.outcome == "created":
        response.status_code = 201
    return result
