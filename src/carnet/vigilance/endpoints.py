"""REST API of identity-vigilance: care structures and their local identities (RNIV).

Optimistic concurrency: every identity response carries ``ETag: W/"<version>"``; changes accept
the version read through ``If-Match`` or a body field ``version`` (required to PATCH traits), and a
stale one is a 409. A client bound to a structure gets a 404 for any other structure.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, status

from carnet.dependencies import IdentitiesRead, IdentitiesWrite, SessionDep
from carnet.exceptions import BadRequest
from carnet.vigilance import schemas
from carnet.vigilance.duplicates import DEFAULT_THRESHOLD
from carnet.vigilance.service import resolve_version, vigilance_service

router = APIRouter(prefix="/api/v1/structures", tags=["identity-vigilance"])

StructureId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Care structure id")]
IdentityId = Annotated[int, Path(ge=1, le=schemas.MAX_ID, description="Local identity id")]
AttributeCode = Annotated[str, Path(min_length=1, max_length=10, description="e.g. DOUT, HOMA")]
IfMatch = Annotated[
    str | None,
    Header(max_length=40, description='The version read, as an entity tag: W/"3" (or 3)'),
]


def parse_if_match(value: str | None) -> int | None:
    if value is None:
        return None
    tag = value.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    if not tag.isdigit() or len(tag) > 9:
        raise BadRequest(
            f'If-Match: expected the version as an entity tag such as W/"3", not {value!r}',
            code="invalid_if_match",
        )
    return int(tag)


def _etag(response: Response, identity: schemas.LocalIdentity) -> schemas.LocalIdentity:
    response.headers["ETag"] = f'W/"{identity.version}"'
    return identity


# -- structures ----------------------------------------------------------------------------------


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.StructureOut,
    summary="Create a care structure (operator clients only)",
)
def create_structure(
    body: schemas.StructureCreate, principal: IdentitiesWrite, session: SessionDep
) -> schemas.StructureOut:
    return vigilance_service.create_structure(session, principal, body)


@router.get("", response_model=list[schemas.StructureOut], summary="The structures within reach")
def list_structures(principal: IdentitiesRead, session: SessionDep) -> list[schemas.StructureOut]:
    return vigilance_service.list_structures(session, principal)


@router.get("/{structure_id}", response_model=schemas.StructureOut, summary="One structure")
def get_structure(
    structure_id: StructureId, principal: IdentitiesRead, session: SessionDep
) -> schemas.StructureOut:
    return vigilance_service.get_structure(session, principal, structure_id)


# -- local identities ----------------------------------------------------------------------------


@router.post(
    "/{structure_id}/identities",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.LocalIdentity,
    summary="Create a local identity (status PROV)",
)
def create_identity(
    structure_id: StructureId,
    body: schemas.LocalIdentityCreate,
    principal: IdentitiesWrite,
    session: SessionDep,
    response: Response,
) -> schemas.LocalIdentity:
    identity = vigilance_service.create_identity(session, principal, structure_id, body)
    response.headers["Location"] = f"/api/v1/structures/{structure_id}/identities/{identity.id}"
    return _etag(response, identity)


@router.get(
    "/{structure_id}/identities",
    response_model=schemas.IdentityPage,
    summary="Search the structure's identities (name sounds-alike, first name, birth date…)",
)
def search_identities(
    structure_id: StructureId,
    query: Annotated[schemas.IdentitySearch, Query()],
    principal: IdentitiesRead,
    session: SessionDep,
) -> schemas.IdentityPage:
    return vigilance_service.search_identities(session, principal, structure_id, query)


@router.get(
    "/{structure_id}/identities/{identity_id}",
    response_model=schemas.LocalIdentity,
    summary="Read a local identity",
)
def read_identity(
    structure_id: StructureId,
    identity_id: IdentityId,
    principal: IdentitiesRead,
    session: SessionDep,
    response: Response,
) -> schemas.LocalIdentity:
    identity = vigilance_service.get_identity(
        session, principal, identity_id, structure_id=structure_id
    )
    return _etag(response, identity)


@router.patch(
    "/{structure_id}/identities/{identity_id}",
    response_model=schemas.LocalIdentity,
    summary="Change traits, used names or IPP (version required)",
)
def update_identity(
    structure_id: StructureId,
    identity_id: IdentityId,
    body: schemas.LocalIdentityUpdate,
    principal: IdentitiesWrite,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> schemas.LocalIdentity:
    version = resolve_version(body.version, parse_if_match(if_match))
    identity = vigilance_service.update_identity(
        session, principal, structure_id, identity_id, body, version
    )
    return _etag(response, identity)


@router.get(
    "/{structure_id}/identities/{identity_id}/history",
    response_model=list[schemas.HistoryEntry],
    summary="The changes of a local identity",
)
def identity_history(
    structure_id: StructureId,
    identity_id: IdentityId,
    principal: IdentitiesRead,
    session: SessionDep,
) -> list[schemas.HistoryEntry]:
    return vigilance_service.history(session, principal, structure_id, identity_id)


@router.post(
    "/{structure_id}/identities/{identity_id}/insi-retrieval",
    response_model=schemas.InsiRetrievalResponse,
    summary="Retrieve the INS from the register by the identity's traits (INSi-like)",
)
def insi_retrieval(
    structure_id: StructureId,
    identity_id: IdentityId,
    principal: IdentitiesWrite,
    session: SessionDep,
    response: Response,
    body: schemas.InsiRetrievalRequest | None = None,
    if_match: IfMatch = None,
) -> schemas.InsiRetrievalResponse:
    version = resolve_version(body.version if body else None, parse_if_match(if_match))
    result = vigilance_service.retrieve_ins(session, principal, structure_id, identity_id, version)
    _etag(response, result.identity)
    return result


@router.post(
    "/{structure_id}/identities/{identity_id}/document-check",
    response_model=schemas.LocalIdentity,
    summary="Record a check against a high-trust identity document (VALI, or QUAL from RECUP)",
)
def document_check(
    structure_id: StructureId,
    identity_id: IdentityId,
    body: schemas.DocumentCheckRequest,
    principal: IdentitiesWrite,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> schemas.LocalIdentity:
    version = resolve_version(body.version, parse_if_match(if_match))
    identity = vigilance_service.check_document(
        session, principal, structure_id, identity_id, body, version
    )
    return _etag(response, identity)


@router.post(
    "/{structure_id}/identities/{identity_id}/attributes/{code}",
    response_model=schemas.LocalIdentity,
    summary="Set an identity attribute (DOUT, FICT, HOMA, HOMD, DPOT, DOUA, COLP, COLV…)",
)
def add_attribute(
    structure_id: StructureId,
    identity_id: IdentityId,
    code: AttributeCode,
    principal: IdentitiesWrite,
    session: SessionDep,
    response: Response,
    body: schemas.AttributeChange | None = None,
    if_match: IfMatch = None,
) -> schemas.LocalIdentity:
    version = resolve_version(body.version if body else None, parse_if_match(if_match))
    identity = vigilance_service.add_attribute(
        session, principal, structure_id, identity_id, code, version
    )
    return _etag(response, identity)


@router.delete(
    "/{structure_id}/identities/{identity_id}/attributes/{code}",
    response_model=schemas.LocalIdentity,
    summary="Remove an identity attribute",
)
def remove_attribute(
    structure_id: StructureId,
    identity_id: IdentityId,
    code: AttributeCode,
    principal: IdentitiesWrite,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> schemas.LocalIdentity:
    identity = vigilance_service.remove_attribute(
        session, principal, structure_id, identity_id, code, parse_if_match(if_match)
    )
    return _etag(response, identity)


@router.get(
    "/{structure_id}/identities/{identity_id}/duplicates",
    response_model=schemas.DuplicatesResponse,
    summary="Probable duplicates and collisions of an identity in its structure",
)
def duplicates(
    structure_id: StructureId,
    identity_id: IdentityId,
    principal: IdentitiesRead,
    session: SessionDep,
    threshold: Annotated[float, Query(ge=0.0, le=1.0)] = DEFAULT_THRESHOLD,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> schemas.DuplicatesResponse:
    return vigilance_service.find_duplicates(
        session, principal, structure_id, identity_id, threshold, limit
    )


@router.post(
    "/{structure_id}/identities/{identity_id}/merge",
    response_model=schemas.LocalIdentity,
    summary="Merge this identity (deactivated, DESA) into another one of the structure",
)
def merge(
    structure_id: StructureId,
    identity_id: IdentityId,
    body: schemas.MergeRequest,
    principal: IdentitiesWrite,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> schemas.LocalIdentity:
    version = resolve_version(body.version, parse_if_match(if_match))
    identity = vigilance_service.merge(session, principal, structure_id, identity_id, body, version)
    return _etag(response, identity)


@router.post(
    "/{structure_id}/identities/{identity_id}/unmerge",
    response_model=schemas.LocalIdentity,
    summary="Undo the merge of this identity: restore it as it was",
)
def unmerge(
    structure_id: StructureId,
    identity_id: IdentityId,
    principal: IdentitiesWrite,
    session: SessionDep,
    response: Response,
    body: schemas.UnmergeRequest | None = None,
    if_match: IfMatch = None,
) -> schemas.LocalIdentity:
    version = resolve_version(body.version if body else None, parse_if_match(if_match))
    identity = vigilance_service.unmerge(
        session, principal, structure_id, identity_id, body, version
    )
    return _etag(response, identity)
