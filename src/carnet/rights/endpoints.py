"""HTTP API of the rights domain: the ADRi-like rights query."""

from __future__ import annotations

from fastapi import APIRouter

from carnet.dependencies import RightsRead, UnitOfWorkDep
from carnet.exceptions import AppError
from carnet.rights import schemas
from carnet.rights.service import rights_service

router = APIRouter(prefix="/api/v1/rights", tags=["rights"])


@router.post(
    "/query",
    response_model=schemas.RightsAnswer,
    summary="A beneficiary's health-insurance rights at a date (ADRi acquerirLesDroits), audited",
    responses={
        404: {"description": "beneficiary_not_found: no beneficiary matches (never says why)"},
        409: {"description": "ambiguous_beneficiary: query with the beneficiary's own NIR"},
    },
)
async def query_rights(
    body: schemas.RightsQuery, principal: RightsRead, uow: UnitOfWorkDep
) -> schemas.RightsAnswer:
    result = await uow.run(rights_service.query, principal, body)
    # Raised after the commit: the audit event of a refused query is kept.
    if isinstance(result, AppError):
        raise result
    return result
