"""Holder REST API of a health space's documents: ``/api/v1/spaces/{person}/documents``.

``{person}`` is ``me`` (the signed-in holder) or a register person id (a child's space, a
relative's, a professional's patient). Professionals' software name the acting professional in
``X-Professional-RPPS`` when bound to a structure. Who may do what: ``access.service.authorize``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from pydantic import ValidationError

from carnet.config import Settings
from carnet.db import utcnow
from carnet.dependencies import SessionDep, SpaceCaller
from carnet.documents import schemas
from carnet.documents.exceptions import DocumentTooLarge
from carnet.documents.service import documents_service
from carnet.exceptions import ValidationFailed
from carnet.kit.rest import ProfessionalRpps as RppsHeader

router = APIRouter(prefix="/api/v1", tags=["documents"])

DOCUMENTS = "/spaces/{person}/documents"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _read_upload(file: UploadFile, settings: Settings) -> bytes:
    """The uploaded bytes, refusing (413) beyond ``document_max_bytes`` without reading more."""
    data = file.file.read(settings.document_max_bytes + 1)
    if len(data) > settings.document_max_bytes:
        raise DocumentTooLarge(
            f"the file is larger than the limit of {settings.document_max_bytes} bytes"
        )
    return data


def _metadata(**fields: object) -> schemas.DocumentMetadata:
    try:
        return schemas.DocumentMetadata.model_validate(fields)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        raise ValidationFailed(
            "; ".join(f"{d['field']}: {d['message']}" for d in details), details=details
        ) from exc


UploadFileField = Annotated[UploadFile, File(description="The document: PDF, JPEG, PNG, CDA, FHIR")]
ClassCode = Annotated[str, Form(description="classCode (JDV_J06), see GET /api/v1/document-codes")]
TypeCode = Annotated[
    str, Form(description="typeCode (JDV_J07/J66), see GET /api/v1/document-codes")
]
Title = Annotated[str, Form(max_length=255)]
ActDate = Annotated[date | None, Form(description="Date of the act (YYYY-MM-DD)")]
Author = Annotated[str | None, Form(max_length=200, description="Author as shown")]
ContentType = Annotated[
    str | None, Form(description="Overrides the file part's Content-Type when given")
]
Flag = Annotated[bool, Form()]


@dataclass(frozen=True)
class UploadedDocument:
    """A multipart upload (a new document or a new version): checked metadata and content."""

    meta: schemas.DocumentMetadata
    data: bytes
    content_type: str | None
    filename: str | None


def uploaded_document(
    request: Request,
    file: UploadFileField,
    class_code: ClassCode,
    type_code: TypeCode,
    title: Title,
    act_date: ActDate = None,
    author: Author = None,
    content_type: ContentType = None,
    hidden_from_professionals: Flag = False,
    invisible_to_patient: Flag = False,
    hidden_from_legal_representatives: Flag = False,
) -> UploadedDocument:
    meta = _metadata(
        class_code=class_code,
        type_code=type_code,
        title=title,
        act_date=act_date,
        author=author,
        hidden_from_professionals=hidden_from_professionals,
        invisible_to_patient=invisible_to_patient,
        hidden_from_legal_representatives=hidden_from_legal_representatives,
    )
    data = _read_upload(file, _settings(request))
    return UploadedDocument(meta, data, content_type or file.content_type, file.filename)


Upload = Annotated[UploadedDocument, Depends(uploaded_document)]


@router.get("/document-codes", summary="The classCode and typeCode values documents accept")
def document_codes(principal: SpaceCaller) -> schemas.DocumentCodes:
    return documents_service.codes()


@router.post(DOCUMENTS, status_code=201, summary="Upload a document (multipart)")
def upload_document(
    person: str,
    request: Request,
    principal: SpaceCaller,
    session: SessionDep,
    upload: Upload,
    rpps: RppsHeader = None,
) -> schemas.DocumentOut:
    return documents_service.create(
        session,
        _settings(request),
        principal,
        person,
        upload.meta,
        upload.data,
        upload.content_type,
        upload.filename,
        now=utcnow(),
        professional_rpps=rpps,
    )


@router.get(DOCUMENTS, summary="List a space's documents (newest first, filtered, paged)")
def list_documents(
    person: str,
    principal: SpaceCaller,
    session: SessionDep,
    rpps: RppsHeader = None,
    class_code: Annotated[list[str] | None, Query(alias="class")] = None,
    type_code: Annotated[list[str] | None, Query(alias="type")] = None,
    act_from: date | None = None,
    act_to: date | None = None,
    created_from: datetime | None = None,
    created_before: datetime | None = None,
    author: Annotated[str | None, Query(max_length=200)] = None,
    author_professional_id: int | None = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[list[str] | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> schemas.DocumentPage:
    query = schemas.DocumentQuery(
        class_codes=class_code or [],
        type_codes=type_code or [],
        act_from=act_from,
        act_to=act_to,
        created_from=created_from,
        created_before=created_before,
        author=author,
        author_professional_id=author_professional_id,
        text=text,
        statuses=status or ["current"],
        offset=offset,
        limit=limit,
    )
    return documents_service.search(
        session, principal, person, query, now=utcnow(), professional_rpps=rpps
    )


@router.get(DOCUMENTS + "/{document_id}", summary="A document's metadata")
def get_document(
    person: str,
    document_id: str,
    principal: SpaceCaller,
    session: SessionDep,
    rpps: RppsHeader = None,
) -> schemas.DocumentOut:
    return documents_service.get(
        session, principal, person, document_id, now=utcnow(), professional_rpps=rpps
    )


@router.get(DOCUMENTS + "/{document_id}/versions", summary="A document's versions, newest first")
def document_versions(
    person: str,
    document_id: str,
    principal: SpaceCaller,
    session: SessionDep,
    rpps: RppsHeader = None,
) -> list[schemas.DocumentOut]:
    return documents_service.versions(
        session, principal, person, document_id, now=utcnow(), professional_rpps=rpps
    )


@router.get(
    DOCUMENTS + "/{document_id}/content",
    summary="A document's content (decrypted, checksum verified)",
    response_class=Response,
)
def document_content(
    person: str,
    document_id: str,
    request: Request,
    principal: SpaceCaller,
    session: SessionDep,
    rpps: RppsHeader = None,
) -> Response:
    content = documents_service.content(
        session,
        _settings(request),
        principal,
        person,
        document_id,
        now=utcnow(),
        professional_rpps=rpps,
    )
    return content_response(content.data, content.document)


def content_response(data: bytes, document: schemas.DocumentOut) -> Response:
    filename = document.filename or f"{document.id}"
    disposition = f"inline; filename*=UTF-8''{quote(filename, safe='')}"
    return Response(
        data,
        media_type=document.content_type,
        headers={
            "Content-Disposition": disposition,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Digest": f"sha-256={_b64_hex(document.sha256)}",
            "ETag": f'"{document.sha256}"',
        },
    )


def _b64_hex(hex_digest: str) -> str:
    import base64

    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


@router.post(
    DOCUMENTS + "/{document_id}/versions",
    status_code=201,
    summary="Upload a new version replacing this (current) one",
)
def add_version(
    person: str,
    document_id: str,
    request: Request,
    principal: SpaceCaller,
    session: SessionDep,
    upload: Upload,
    rpps: RppsHeader = None,
) -> schemas.DocumentOut:
    return documents_service.add_version(
        session,
        _settings(request),
        principal,
        person,
        document_id,
        upload.meta,
        upload.data,
        upload.content_type,
        upload.filename,
        now=utcnow(),
        professional_rpps=rpps,
    )


@router.delete(
    DOCUMENTS + "/{document_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a document (every version) — its author or the holder",
)
def delete_document(
    person: str,
    document_id: str,
    request: Request,
    principal: SpaceCaller,
    session: SessionDep,
    rpps: RppsHeader = None,
) -> Response:
    documents_service.delete(
        session,
        _settings(request),
        principal,
        person,
        document_id,
        now=utcnow(),
        professional_rpps=rpps,
    )
    return Response(status_code=204)


@router.patch(DOCUMENTS + "/{document_id}/visibility", summary="Change a document's visibility")
def change_visibility(
    person: str,
    document_id: str,
    body: schemas.VisibilityUpdate,
    principal: SpaceCaller,
    session: SessionDep,
    rpps: RppsHeader = None,
) -> schemas.DocumentOut:
    return documents_service.set_visibility(
        session, principal, person, document_id, body, now=utcnow(), professional_rpps=rpps
    )
