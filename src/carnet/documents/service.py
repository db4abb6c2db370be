"""Use cases of the documents domain: upload, versions, listing, reading, deletion, visibility,
the R1111-53 announcement job and the space purge.

Who may do what is decided by ``access.service.authorize`` (a ``SpaceGrant``); this module only
filters with the grant (``grant.may_see`` for one document, the same rules in SQL for listings)
and audits every access with ``access_service.record`` in the request's transaction. A document
the caller may not see is answered as missing (``DocumentNotFound``): its existence is not told.

Contents are checked (``content.check_content``), their SHA-256 taken, then encrypted with the
space's data key (``carnet.kit.envelope``) and written to the blob store before the row is
flushed. Blob writes and deletions follow the transaction: a blob written by a transaction that
rolls back is removed, and blobs of deleted documents are removed only once the deletion commits.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.access.policy import (
    INVISIBLE_PATIENT,
    INVISIBLE_REPRESENTANTS_LEGAUX,
    MASQUE_PS,
    Action,
    ActorKind,
    Area,
    DocumentFacts,
    SpaceGrant,
)
from carnet.access.service import access_service
from carnet.audit import AuditEntry, get_audit_service
from carnet.auth.principal import Principal
from carnet.cards.service import cards_service
from carnet.config import Settings, get_settings
from carnet.db import utcnow
from carnet.directory.service import directory_service
from carnet.documents import schemas
from carnet.documents.codes import CLASS_CODES, CODES_URL, TYPE_CODES
from carnet.documents.content import check_content
from carnet.documents.exceptions import (
    ContentUnavailable,
    DocumentNotFound,
    DocumentTooLarge,
    UnknownCode,
)
from carnet.documents.models import Document
from carnet.documents.repository import (
    DocumentFilter,
    DocumentRepository,
    StoredRow,
    VisibilityClause,
)
from carnet.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from carnet.kit.blobstore import (
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    FilesystemBlobStore,
    S3BlobStore,
)
from carnet.kit.daily_counts import DailyCounts
from carnet.kit.envelope import Envelope, EnvelopeError, parse_master_key
from carnet.logging import get_logger
from carnet.mail.after_commit import send_after_commit
from carnet.mail.service import MailService

log = get_logger(__name__)

JOB_ACTOR = "job:documents"
ANNOUNCEMENT_BATCH = 500
VERIFY_PAGE = 500  # rows read, or blob keys looked up, at a time by ``verify_blobs``
VERIFY_LISTED = 1000  # problems named in a verification report (all are counted)


# -- the vault: envelope + blob store, from the settings ------------------------------------------


@dataclass(frozen=True)
class Vault:
    envelope: Envelope
    blobs: BlobStore


_vaults: dict[tuple[Any, ...], Vault] = {}
_vaults_lock = threading.Lock()


def vault_for(settings: Settings) -> Vault:
    """The envelope and blob store the settings describe (built once per distinct settings)."""
    blob_dir = settings.blob_dir or Path(settings.data_dir) / "blobs"
    key = (
        settings.space_master_key,
        settings.secret_key,
        settings.blob_store,
        str(blob_dir),
        settings.s3_endpoint_url,
        settings.s3_bucket,
        settings.s3_region,
        settings.s3_access_key_id,
        settings.s3_secret_access_key,
    )
    with _vaults_lock:
        vault = _vaults.get(key)
        if vault is None:
            envelope = Envelope(
                parse_master_key(settings.space_master_key, secret_key=settings.secret_key)
            )
            blobs: BlobStore
            if settings.blob_store == "s3":
                blobs = S3BlobStore(
                    bucket=settings.s3_bucket,
                    endpoint_url=settings.s3_endpoint_url or None,
                    region=settings.s3_region,
                    access_key_id=settings.s3_access_key_id or None,
                    secret_access_key=settings.s3_secret_access_key or None,
                )
            else:
                blobs = FilesystemBlobStore(blob_dir)
            vault = Vault(envelope, blobs)
            _vaults[key] = vault
        return vault


# -- blob actions that follow the transaction ------------------------------------------------------

_ON_COMMIT = "documents.after_commit"
_ON_ROLLBACK = "documents.after_rollback"


def _run_hooks(session: Session, name: str) -> None:
    hooks: list[Callable[[], None]] = session.info.pop(name, [])
    session.info.pop(_ON_COMMIT if name == _ON_ROLLBACK else _ON_ROLLBACK, None)
    for hook in hooks:
        try:
            hook()
        except Exception as exc:  # the transaction is over: never fail it afterwards
            log.warning("blob_cleanup_failed", error=type(exc).__name__)


def _after(
    session: Session,
    *,
    on_commit: Callable[[], None] | None = None,
    on_rollback: Callable[[], None] | None = None,
) -> None:
    if not session.info.get("documents.hooks"):
        session.info["documents.hooks"] = True
        event.listen(session, "after_commit", lambda s: _run_hooks(s, _ON_COMMIT))
        event.listen(session, "after_rollback", lambda s: _run_hooks(s, _ON_ROLLBACK))
    if on_commit is not None:
        session.info.setdefault(_ON_COMMIT, []).append(on_commit)
    if on_rollback is not None:
        session.info.setdefault(_ON_ROLLBACK, []).append(on_rollback)


# -- helpers ---------------------------------------------------------------------------------------


def _facts(document: Document) -> DocumentFacts:
    return DocumentFacts(
        type_code=document.type_code,
        visibility=document.visibility,
        author_professional_id=document.author_professional_id,
        author_person_id=document.author_person_id,
        patient_visible_from=document.patient_visible_from,
    )


def _visibility_clause(grant: SpaceGrant, now: datetime) -> VisibilityClause:
    if grant.is_professional:
        return VisibilityClause(
            professional=True,
            professional_id=grant.professional_id,
            readable_type_codes=grant.readable_type_codes,
        )
    return VisibilityClause(
        professional=False,
        representative=grant.actor is ActorKind.REPRESENTATIVE,
        now=now,
    )


def _check_codes(class_code: str, type_code: str, *, prefix: str = "") -> None:
    problems = []
    if class_code not in CLASS_CODES:
        problems.append(
            {
                "field": f"{prefix}class_code",
                "message": f"unknown classCode {class_code!r}: the valid codes are listed at "
                f"GET {CODES_URL} (JDV_J06, domain.md §5.3)",
            }
        )
    if type_code not in TYPE_CODES:
        problems.append(
            {
                "field": f"{prefix}type_code",
                "message": f"unknown typeCode {type_code!r}: the valid codes are listed at "
                f"GET {CODES_URL} (JDV_J07/J66, domain.md §5.3)",
            }
        )
    if problems:
        raise UnknownCode("; ".join(p["message"] for p in problems), details=problems)


def _is_author(grant: SpaceGrant, document: Document) -> bool:
    if grant.is_professional:
        return (
            grant.professional_id is not None
            and document.author_professional_id == grant.professional_id
        )
    return grant.actor_person_id is not None and document.author_person_id == grant.actor_person_id


def document_out(document: Document) -> schemas.DocumentOut:
    hidden_patient = bool(document.visibility & INVISIBLE_PATIENT)
    return schemas.DocumentOut(
        id=document.public_id,
        set_id=document.set_id,
        version=document.version,
        status=document.status,
        person_id=document.person_id,
        class_code=document.class_code,
        class_label=CLASS_CODES[document.class_code].label
        if document.class_code in CLASS_CODES
        else document.class_code,
        type_code=document.type_code,
        type_label=TYPE_CODES[document.type_code].label
        if document.type_code in TYPE_CODES
        else document.type_code,
        title=document.title,
        act_date=document.act_date,
        author=schemas.AuthorOut(
            label=document.author_label,
            professional_id=document.author_professional_id,
            person_id=document.author_person_id,
        ),
        content_type=document.content_type,
        filename=document.filename,
        size=document.size,
        sha256=document.sha256,
        visibility=schemas.VisibilityOut(
            hidden_from_professionals=bool(document.visibility & MASQUE_PS),
            invisible_to_patient=hidden_patient,
            hidden_from_legal_representatives=bool(
                document.visibility & INVISIBLE_REPRESENTANTS_LEGAUX
            ),
            patient_visible_from=document.patient_visible_from if hidden_patient else None,
        ),
        created_at=document.created_at,
        deleted_at=document.deleted_at,
        content_url=f"/api/v1/spaces/{document.person_id}/documents/{document.public_id}/content",
    )


def _recorded(
    session: Session,
    grant: SpaceGrant,
    document: Document,
    what: str,
    detail: str | None,
    now: datetime,
) -> schemas.DocumentOut:
    """Record the access to ``document`` (``access_service.record``) and describe it."""
    access_service.record(
        session,
        grant,
        what=what,
        resource=f"DocumentReference/{document.public_id}",
        detail=detail,
        now=now,
    )
    return document_out(document)


@dataclass(frozen=True)
class Content:
    document: schemas.DocumentOut
    data: bytes


@dataclass
class AnnouncementReport:
    notified: int = 0
    without_email: int = 0
    failed: int = 0
    documents: list[str] = field(default_factory=list)


@dataclass
class BlobCheckReport:
    """``verify_blobs``: rows of the database against blobs of the store, both ways.

    ``missing``: current or superseded rows without their blob; ``unreadable``: rows whose blob
    does not decrypt (altered, moved, data key gone) or whose plaintext fails its SHA-256;
    ``orphans``: blobs of no current or superseded row (a crash between the blob write and the
    commit, a deleted row's blob that could not be removed), among the blobs written before
    ``written_before`` (younger ones may belong to an upload that has not committed yet).
    ``problems`` names the first ``VERIFY_LISTED`` problems.
    """

    rows_checked: int = 0
    blobs_listed: int = 0
    missing: int = 0
    unreadable: int = 0
    orphans: int = 0
    orphans_removed: int = 0
    written_before: datetime | None = None
    repair: bool = False
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """No problem remains (orphans removed by the repair are solved)."""
        return not (self.missing or self.unreadable or self.orphans - self.orphans_removed)

    def summary(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "repair": self.repair,
            "rows_checked": self.rows_checked,
            "blobs_listed": self.blobs_listed,
            "missing": self.missing,
            "unreadable": self.unreadable,
            "orphans": self.orphans,
            "orphans_removed": self.orphans_removed,
            "blobs_written_before": self.written_before.isoformat()
            if self.written_before
            else None,
            "problems": self.problems,
        }


def _person_of_key(key: str) -> int | None:
    head = key.split("/", 1)[0]
    return int(head) if head.isdigit() and len(head) < 19 else None


@dataclass(frozen=True)
class PurgeReport:
    documents: int  # metadata rows deleted (every version)
    key_destroyed: bool  # the space's data key was deleted (crypto-erase)


# -- the service -----------------------------------------------------------------------------------


class DocumentsService:
    """Documents of health spaces. Every method takes the caller (``principal``) and ``now``."""

    # -- codes -----------------------------------------------------------------------------------

    def deposit_counts(self, session: Session, since: datetime) -> DailyCounts:
        """Documents deposited per day since ``since``, and in all (figures only)."""
        return DocumentRepository(session).created_per_day(since)

    def codes(self) -> schemas.DocumentCodes:
        return schemas.DocumentCodes(
            class_codes=[
                schemas.CodeOut(code=c.code, label=c.label, system=c.system)
                for c in CLASS_CODES.values()
            ],
            type_codes=[
                schemas.CodeOut(code=c.code, label=c.label, system=c.system)
                for c in TYPE_CODES.values()
            ],
        )

    # -- authorization ---------------------------------------------------------------------------

    def _grant(
        self,
        session: Session,
        principal: Principal,
        person_id: int,
        action: Action,
        now: datetime,
        professional_rpps: str | None,
    ) -> SpaceGrant:
        return access_service.authorize(
            session,
            principal,
            person_id,
            Area.DOCUMENTS,
            action,
            now=now,
            professional_rpps=professional_rpps,
        )

    def _visible_document(
        self,
        session: Session,
        principal: Principal,
        person_ref: str | None,
        public_id: str,
        action: Action,
        now: datetime,
        professional_rpps: str | None,
        *,
        for_update: bool = False,
    ) -> tuple[SpaceGrant, Document]:
        """The document and the grant to act on it; 404 for missing and invisible alike.

        ``person_ref`` None (FHIR read by id): the space is the document's, and a refusal of
        the space is answered 404 too, since the caller named a document, not a space.
        """
        repo = DocumentRepository(session)
        if person_ref is not None:
            person_id = access_service.resolve_person(session, principal, person_ref)
            grant = self._grant(session, principal, person_id, action, now, professional_rpps)
            document = repo.by_public_id(public_id, for_update=for_update)
            if document is None or document.person_id != person_id:
                raise DocumentNotFound(f"no document {public_id!r} in this space")
        else:
            document = repo.by_public_id(public_id, for_update=for_update)
            if document is None:
                raise DocumentNotFound(f"no document {public_id!r}")
            try:
                grant = self._grant(
                    session, principal, document.person_id, action, now, professional_rpps
                )
            except (NotFound, Forbidden) as exc:
                raise DocumentNotFound(f"no document {public_id!r}") from exc
        if document.status == "deleted" or not grant.may_see(_facts(document), now):
            raise DocumentNotFound(f"no document {public_id!r}")
        return grant, document

    # -- writing ---------------------------------------------------------------------------------

    def _visibility_bits(self, grant: SpaceGrant, meta: schemas.DocumentMetadata) -> int:
        bits = 0
        if meta.hidden_from_professionals:
            if not (
                grant.is_professional or grant.actor in (ActorKind.HOLDER, ActorKind.REPRESENTATIVE)
            ):
                raise Forbidden(
                    "only the holder, a parent or a professional may hide a document from "
                    "professionals",
                    code="visibility_not_allowed",
                )
            bits |= MASQUE_PS
        if meta.invisible_to_patient:
            if not grant.is_professional:
                raise Forbidden(
                    "only a professional may make a document invisible to the patient pending "
                    "an announcement consultation (R1111-53)",
                    code="visibility_not_allowed",
                )
            bits |= INVISIBLE_PATIENT
        if meta.hidden_from_legal_representatives:
            if not (grant.is_professional or grant.is_holder):
                raise Forbidden(
                    "only the holder or a professional may hide a document from the legal "
                    "representatives",
                    code="visibility_not_allowed",
                )
            bits |= INVISIBLE_REPRESENTANTS_LEGAUX
        return bits

    def _author(
        self, session: Session, grant: SpaceGrant, label: str | None
    ) -> tuple[int | None, int | None, str]:
        if grant.is_professional:
            if grant.professional_id is None:
                raise Forbidden(
                    "a document's author must be a professional of the directory",
                    code="author_unknown",
                )
            if not label:
                label = grant.actor_label
            if not label:
                summary = directory_service.professional_summary(session, grant.professional_id)
                label = (
                    f"{summary.given_name} {summary.family_name} ({summary.profession_label})"
                    if summary is not None
                    else f"professional {grant.professional_id}"
                )
            return grant.professional_id, None, label[:200]
        person = grant.actor_person_id if grant.actor_person_id is not None else grant.person_id
        default = {
            ActorKind.HOLDER: "Titulaire",
            ActorKind.REPRESENTATIVE: "Représentant légal",
            ActorKind.AIDANT: "Aidant",
        }.get(grant.actor, grant.actor.value)
        return None, person, (label or grant.actor_label or default)[:200]

    def _space_key(self, session: Session, vault: Vault, person_id: int) -> bytes:
        repo = DocumentRepository(session)
        row = repo.data_key(person_id)
        if row is None:
            _data_key, wrapped = vault.envelope.new_data_key()
            # Two first uploads at once: one key wins, both use it.
            repo.add_data_key_if_absent(person_id, wrapped, vault.envelope.master_key_id)
            row = repo.data_key(person_id)
            assert row is not None
        try:
            return vault.envelope.unwrap(row.wrapped_key)
        except EnvelopeError as exc:
            log.error(
                "space_key_unwrap_failed", person_id=person_id, master_key_id=row.master_key_id
            )
            raise ContentUnavailable(
                "this space's contents cannot be opened with the configured master key"
            ) from exc

    def _store(
        self,
        session: Session,
        settings: Settings,
        grant: SpaceGrant,
        meta: schemas.DocumentMetadata,
        data: bytes,
        declared_type: str | None,
        filename: str | None,
        now: datetime,
        *,
        previous: Document | None,
    ) -> Document:
        if len(data) > settings.document_max_bytes:
            raise DocumentTooLarge(
                f"the file is {len(data)} bytes: the limit is {settings.document_max_bytes} bytes"
            )
        _check_codes(meta.class_code, meta.type_code)
        checked = check_content(declared_type, data)
        bits = self._visibility_bits(grant, meta)
        author_professional_id, author_person_id, author_label = self._author(
            session, grant, meta.author
        )
        person_id = grant.person_id
        vault = vault_for(settings)
        data_key = self._space_key(session, vault, person_id)
        public_id = secrets.token_hex(16)
        blob_key = f"{person_id}/{public_id}"
        sealed = vault.envelope.encrypt(data_key, data, blob_key.encode())
        patient_visible_from = None
        notified = None
        if bits & INVISIBLE_PATIENT:
            patient_visible_from = now + timedelta(days=settings.document_announcement_visible_days)
            if (
                previous is not None
                and previous.visibility & INVISIBLE_PATIENT
                and previous.patient_visible_from is not None
            ):
                # A new version does not restart the month of R1111-53.
                patient_visible_from = previous.patient_visible_from
                notified = previous.announcement_notified_at
        try:
            vault.blobs.put(blob_key, sealed)
        except (BlobStoreError, OSError) as exc:
            log.error("blob_write_failed", error=type(exc).__name__)
            raise ContentUnavailable(
                "the document store cannot be written now: retry later"
            ) from exc
        _after(session, on_rollback=lambda: vault.blobs.delete(blob_key))
        document = Document(
            public_id=public_id,
            person_id=person_id,
            set_id=previous.set_id if previous is not None else public_id,
            version=previous.version + 1 if previous is not None else 1,
            status="current",
            class_code=meta.class_code,
            type_code=meta.type_code,
            title=meta.title,
            act_date=meta.act_date,
            author_professional_id=author_professional_id,
            author_person_id=author_person_id,
            author_label=author_label,
            content_type=checked.content_type,
            filename=(filename or "")[:255] or None,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            blob_key=blob_key,
            visibility=bits,
            patient_visible_from=patient_visible_from,
            announcement_notified_at=notified,
            created_at=now,
        )
        return DocumentRepository(session).add(document)

    def create(
        self,
        session: Session,
        settings: Settings,
        principal: Principal,
        person_ref: str,
        meta: schemas.DocumentMetadata,
        data: bytes,
        declared_type: str | None,
        filename: str | None,
        *,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> schemas.DocumentOut:
        """Upload a document to a space (holder, parent, relative with write access, or a
        professional). 413 over ``document_max_bytes``, 415 for a type that is not accepted or
        does not match the bytes, 422 for bytes that do not parse or an unknown code."""
        person_id = access_service.resolve_person(session, principal, person_ref)
        grant = self._grant(session, principal, person_id, Action.WRITE, now, professional_rpps)
        document = self._store(
            session, settings, grant, meta, data, declared_type, filename, now, previous=None
        )
        return _recorded(
            session,
            grant,
            document,
            "documents.create",
            f"{document.type_code} {document.size}B",
            now,
        )

    def add_version(
        self,
        session: Session,
        settings: Settings,
        principal: Principal,
        person_ref: str | None,
        public_id: str,
        meta: schemas.DocumentMetadata,
        data: bytes,
        declared_type: str | None,
        filename: str | None,
        *,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> schemas.DocumentOut:
        """A new version replacing ``public_id`` (which must be the current one): the old
        version is kept as ``superseded``. By its author, the holder or a parent."""
        grant, old = self._changeable(
            session, principal, person_ref, public_id, now, professional_rpps, "replace"
        )
        if old.status != "current":
            raise Conflict(
                f"document {public_id!r} was already replaced: add a version to the current one",
                code="not_current_version",
            )
        DocumentRepository(session).set_status([old.id], "superseded", deleted_at=None)
        try:
            session.flush()
            document = self._store(
                session, settings, grant, meta, data, declared_type, filename, now, previous=old
            )
        except IntegrityError as exc:  # a concurrent new version of the same document won
            raise Conflict(
                f"document {public_id!r} was replaced meanwhile: add a version to the current one",
                code="not_current_version",
            ) from exc
        return _recorded(
            session, grant, document, "documents.version", f"replaces {old.public_id}", now
        )

    def _changeable(
        self,
        session: Session,
        principal: Principal,
        person_ref: str | None,
        public_id: str,
        now: datetime,
        professional_rpps: str | None,
        verb: str,
    ) -> tuple[SpaceGrant, Document]:
        """The document to replace or delete, locked, once the caller may change it."""
        grant, document = self._visible_document(
            session,
            principal,
            person_ref,
            public_id,
            Action.WRITE,
            now,
            professional_rpps,
            for_update=True,
        )
        self._check_may_change(grant, document, verb)
        return grant, document

    def _check_may_change(self, grant: SpaceGrant, document: Document, verb: str) -> None:
        if _is_author(grant, document) or grant.actor in (
            ActorKind.HOLDER,
            ActorKind.REPRESENTATIVE,
        ):
            return
        raise Forbidden(
            f"only the document's author or the holder may {verb} it",
            code="not_document_author",
        )

    def delete(
        self,
        session: Session,
        settings: Settings,
        principal: Principal,
        person_ref: str | None,
        public_id: str,
        *,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> None:
        """Delete a document (every version) by its author, the holder or a parent. Metadata
        rows stay as ``deleted`` for the history; contents are erased once the deletion commits."""
        grant, document = self._changeable(
            session, principal, person_ref, public_id, now, professional_rpps, "delete"
        )
        repo = DocumentRepository(session)
        versions = repo.versions(document.set_id)
        repo.set_status([v.id for v in versions], "deleted", deleted_at=now)
        blobs = vault_for(settings).blobs
        keys = [v.blob_key for v in versions]

        def erase() -> None:
            for key in keys:
                blobs.delete(key)

        _after(session, on_commit=erase)
        access_service.record(
            session,
            grant,
            what="documents.delete",
            resource=f"DocumentReference/{document.set_id}",
            detail=f"{len(versions)} version(s)",
            now=now,
        )

    def set_visibility(
        self,
        session: Session,
        principal: Principal,
        person_ref: str | None,
        public_id: str,
        change: schemas.VisibilityUpdate,
        *,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> schemas.DocumentOut:
        """Hide from / show to professionals (holder, parent); end an announcement wait or hide
        from the legal representatives (the professional author; the holder for the latter)."""
        grant, document = self._visible_document(
            session,
            principal,
            person_ref,
            public_id,
            Action.WRITE,
            now,
            professional_rpps,
            for_update=True,
        )
        bits = document.visibility
        if change.hidden_from_professionals is not None:
            if grant.actor not in (ActorKind.HOLDER, ActorKind.REPRESENTATIVE):
                raise Forbidden(
                    "only the holder (or a parent) may hide a document from professionals or "
                    "show it again",
                    code="visibility_not_allowed",
                )
            bits = bits | MASQUE_PS if change.hidden_from_professionals else bits & ~MASQUE_PS
        if change.invisible_to_patient is not None:
            if change.invisible_to_patient and not bits & INVISIBLE_PATIENT:
                raise ValidationFailed(
                    "a document is made invisible to the patient when it is uploaded, not later",
                    code="visibility_not_allowed",
                    details=[
                        {
                            "field": "invisible_to_patient",
                            "message": "only false (the announcement took place) is accepted",
                        }
                    ],
                )
            if not change.invisible_to_patient:
                if not (grant.is_professional and _is_author(grant, document)):
                    raise Forbidden(
                        "only the professional author may end the wait for an announcement "
                        "consultation",
                        code="visibility_not_allowed",
                    )
                bits &= ~INVISIBLE_PATIENT
        if change.hidden_from_legal_representatives is not None:
            if not (grant.is_holder or (grant.is_professional and _is_author(grant, document))):
                raise Forbidden(
                    "only the holder or the professional author may hide a document from the "
                    "legal representatives",
                    code="visibility_not_allowed",
                )
            bits = (
                bits | INVISIBLE_REPRESENTANTS_LEGAUX
                if change.hidden_from_legal_representatives
                else bits & ~INVISIBLE_REPRESENTANTS_LEGAUX
            )
        if bits != document.visibility:
            document.visibility = bits
            if not bits & INVISIBLE_PATIENT:
                document.patient_visible_from = None
            session.flush()
        return _recorded(session, grant, document, "documents.visibility", f"flags={bits}", now)

    # -- reading ---------------------------------------------------------------------------------

    def get(
        self,
        session: Session,
        principal: Principal,
        person_ref: str | None,
        public_id: str,
        *,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> schemas.DocumentOut:
        grant, document = self._visible_document(
            session, principal, person_ref, public_id, Action.READ, now, professional_rpps
        )
        return _recorded(session, grant, document, "documents.read", None, now)

    def versions(
        self,
        session: Session,
        principal: Principal,
        person_ref: str | None,
        public_id: str,
        *,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> list[schemas.DocumentOut]:
        """The versions of a document the caller may see, newest first."""
        grant, document = self._visible_document(
            session, principal, person_ref, public_id, Action.READ, now, professional_rpps
        )
        visible = [
            v
            for v in DocumentRepository(session).versions(document.set_id)
            if v.status != "deleted" and grant.may_see(_facts(v), now)
        ]
        access_service.record(
            session,
            grant,
            what="documents.versions",
            resource=f"DocumentReference/{document.set_id}",
            now=now,
        )
        return [document_out(v) for v in visible]

    def content(
        self,
        session: Session,
        settings: Settings,
        principal: Principal,
        person_ref: str | None,
        public_id: str,
        *,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> Content:
        """The decrypted content, its checksum verified."""
        grant, document = self._visible_document(
            session, principal, person_ref, public_id, Action.READ, now, professional_rpps
        )
        vault = vault_for(settings)
        data_key = self._space_key(session, vault, document.person_id)
        try:
            sealed = vault.blobs.get(document.blob_key)
            data = vault.envelope.decrypt(data_key, sealed, document.blob_key.encode())
        except (BlobNotFound, BlobStoreError, EnvelopeError, OSError) as exc:
            log.error(
                "document_content_unreadable", document=document.public_id, error=type(exc).__name__
            )
            raise ContentUnavailable(
                f"the content of document {public_id!r} cannot be read back intact"
            ) from exc
        if hashlib.sha256(data).hexdigest() != document.sha256:
            log.error("document_checksum_mismatch", document=document.public_id)
            raise ContentUnavailable(
                f"the content of document {public_id!r} does not match its checksum"
            )
        access_service.record(
            session,
            grant,
            what="documents.content",
            resource=f"DocumentReference/{document.public_id}",
            now=now,
        )
        return Content(document_out(document), data)

    def search(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        query: schemas.DocumentQuery,
        *,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> schemas.DocumentPage:
        """A space's documents the caller may see, newest first, filtered and paged."""
        person_id = access_service.resolve_person(session, principal, person_ref)
        grant = self._grant(session, principal, person_id, Action.READ, now, professional_rpps)
        statuses = tuple(dict.fromkeys(query.statuses)) or ("current",)
        unknown = [s for s in statuses if s not in ("current", "superseded")]
        if unknown:
            raise ValidationFailed(
                f"status: {unknown[0]!r} is not a listable status (current, superseded)",
                details=[{"field": "status", "message": "current or superseded"}],
            )
        for code in query.class_codes:
            if code not in CLASS_CODES:
                _check_codes(code, next(iter(TYPE_CODES)))
        for code in query.type_codes:
            if code not in TYPE_CODES:
                _check_codes(next(iter(CLASS_CODES)), code)
        rows = DocumentRepository(session).search(
            [person_id],
            DocumentFilter(
                statuses=statuses,
                class_codes=tuple(query.class_codes),
                type_codes=tuple(query.type_codes),
                act_from=query.act_from,
                act_to=query.act_to,
                created_from=query.created_from,
                created_before=query.created_before,
                author_professional_id=query.author_professional_id,
                author_text=query.author,
                title_text=query.text,
            ),
            _visibility_clause(grant, now),
            offset=query.offset,
            limit=query.limit + 1,
        )
        more = len(rows) > query.limit
        items = [document_out(d) for d in rows[: query.limit]]
        access_service.record(
            session,
            grant,
            what="documents.search",
            detail=f"{len(items)} result(s)",
            now=now,
        )
        return schemas.DocumentPage(
            items=items,
            offset=query.offset,
            limit=query.limit,
            next_offset=query.offset + query.limit if more else None,
        )

    # -- jobs ------------------------------------------------------------------------------------

    def announcement_due(
        self, session: Session, now: datetime, settings: Settings | None = None
    ) -> AnnouncementReport:
        """R1111-53 job: tell holders about documents hidden pending an announcement consultation.

        A document a professional made invisible to the patient (INVISIBLE_PATIENT) becomes
        visible by itself at ``patient_visible_from`` (upload + ``document_announcement_
        visible_days``, 1 month): that needs no job, the visibility rules read the date. This
        job sends the holder an e-mail (address of their card account) once the document has
        waited ``document_announcement_notice_days`` (2 weeks). Without a card e-mail the
        document is marked notified all the same (audited as ``no_email``).

        Mark first, send after the commit (``carnet.mail.after_commit``): the documents are
        marked notified and audited in the caller's transaction, and the e-mail leaves only once
        that commits, so a failed commit never sends (and a retry never sends twice). A mail
        server that fails then un-marks the person's documents in a second short transaction
        (audited ``mail_failed``): they are due again at the next run, and the report counts
        them as ``failed`` (the report is complete once the caller's transaction committed).
        A crash between the commit and the sending loses that notice (at most once): the
        document still becomes visible at its date. Idempotent; safe to run concurrently on
        PostgreSQL (rows locked with SKIP LOCKED).
        """
        settings = settings or get_settings()
        wait = timedelta(
            days=settings.document_announcement_visible_days
            - settings.document_announcement_notice_days
        )
        repo = DocumentRepository(session)
        due = repo.announcement_due(now + wait, ANNOUNCEMENT_BATCH)
        report = AnnouncementReport()
        if not due:
            return report
        emails = cards_service.confirmed_emails(session, sorted({d.person_id for d in due}))
        mail = MailService.from_settings(settings)
        by_person: dict[int, list[Document]] = {}
        for document in due:
            by_person.setdefault(document.person_id, []).append(document)
        entries: list[AuditEntry] = []
        for person_id, documents in by_person.items():
            email = emails.get(person_id)
            outcome = "no_email" if email is None else "notified"
            for document in documents:
                document.announcement_notified_at = now
                report.documents.append(document.public_id)
                entries.append(_announcement_entry(person_id, document.public_id, outcome))
            if email is None:
                report.without_email += len(documents)
                continue
            report.notified += len(documents)
            send_after_commit(
                session,
                mail,
                email,
                *_announcement_message(documents),
                on_failure=_AnnouncementFailed(
                    session.get_bind(),
                    report,
                    person_id,
                    [(d.id, d.public_id) for d in documents],
                    now,
                ),
            )
        get_audit_service().record_many(session, entries, recorded_at=now)
        session.flush()
        return report

    def purge_person(
        self, session: Session, person_id: int, settings: Settings | None = None
    ) -> PurgeReport:
        """Delete a space's documents, contents and data key (the space purge job).

        The wrapped data key is deleted in the caller's transaction: once it commits, every
        content of the space is unreadable (crypto-erase) even where a blob could not be removed
        (backups, a store that was down). The blobs are removed after the commit.
        """
        settings = settings or get_settings()
        repo = DocumentRepository(session)
        removed = repo.delete_person(person_id)
        destroyed = repo.delete_data_key(person_id) > 0
        blobs = vault_for(settings).blobs

        def erase() -> None:
            blobs.delete_prefix(str(person_id))

        _after(session, on_commit=erase)
        get_audit_service().record(
            session,
            actor=JOB_ACTOR,
            action="space.documents.purge",
            person_id=person_id,
            detail=f"{removed} document row(s), key destroyed: {destroyed}",
        )
        return PurgeReport(documents=removed, key_destroyed=destroyed)

    # -- operators -------------------------------------------------------------------------------

    def verify_blobs(
        self,
        session: Session,
        settings: Settings,
        *,
        repair: bool,
        now: datetime | None = None,
        grace: timedelta = timedelta(hours=1),
        actor: str = "system:cli",
    ) -> BlobCheckReport:
        """Check the blob store against the documents' rows (``carnet documents verify-blobs``).

        1. Every current or superseded row, by pages of ``VERIFY_PAGE`` (by row key): its blob
           is read, decrypted with the space's data key and its SHA-256 compared.
        2. Every blob of the store, streamed (``BlobStore.keys``), looked up by pages of
           ``VERIFY_PAGE`` keys (by public id, an indexed column): a blob with no current or
           superseded row is an orphan. Blobs written less than ``grace`` ago are left aside:
           an upload writes its blob before its transaction commits.

        Memory stays bounded whatever the size of the store: nothing is kept across pages but
        counts and the first ``VERIFY_LISTED`` problems. With ``repair`` the orphans are deleted
        (only them: a row's blob is never touched, a missing or unreadable content needs a
        person to decide). The run is audited (one summary entry, and one per named problem with
        its person) in the caller's transaction. Read-only otherwise; safe beside the API.
        """
        now = now or utcnow()
        vault = vault_for(settings)
        repo = DocumentRepository(session)
        report = BlobCheckReport(repair=repair, written_before=now - grace)
        entries: list[AuditEntry] = []

        def problem(kind: str, key: str, person_id: int | None, **extra: Any) -> None:
            described = {"kind": kind, "blob_key": key, "person_id": person_id, **extra}
            if len(report.problems) < VERIFY_LISTED:
                report.problems.append(described)
                public_id = extra.get("document")
                entries.append(
                    AuditEntry(
                        actor=actor,
                        action="space.documents.verify_blobs",
                        person_id=person_id,
                        resource=f"DocumentReference/{public_id}" if public_id else None,
                        outcome="failure",
                        detail=f"{kind}: {extra.get('reason', key)}",
                    )
                )

        # 1. rows -> blobs
        after = 0
        while rows := repo.stored_rows_after(after, VERIFY_PAGE):
            after = rows[-1].id
            wrapped = repo.wrapped_keys(sorted({r.person_id for r in rows}))
            data_keys: dict[int, bytes | None] = {}
            for row in rows:
                report.rows_checked += 1
                if row.person_id not in data_keys:
                    try:
                        data_keys[row.person_id] = (
                            vault.envelope.unwrap(wrapped[row.person_id])
                            if row.person_id in wrapped
                            else None
                        )
                    except EnvelopeError:
                        data_keys[row.person_id] = None
                reason = self._blob_fault(vault, row, data_keys[row.person_id], wrapped)
                if reason is None:
                    continue
                if reason == "missing" and not repo.stored_blob_keys([row.public_id]):
                    report.rows_checked -= 1  # deleted meanwhile: its blob went after the commit
                    continue
                if reason == "missing":
                    report.missing += 1
                    problem("missing", row.blob_key, row.person_id, document=row.public_id)
                else:
                    report.unreadable += 1
                    problem(
                        "unreadable",
                        row.blob_key,
                        row.person_id,
                        document=row.public_id,
                        reason=reason,
                    )

        # 2. blobs -> rows
        def check(keys: list[str]) -> None:
            live = repo.stored_blob_keys(sorted({k.rsplit("/", 1)[-1] for k in keys}))
            for key in keys:
                if key in live:
                    continue
                report.orphans += 1
                person_id = _person_of_key(key)
                if repair:
                    vault.blobs.delete(key)
                    report.orphans_removed += 1
                problem("orphan", key, person_id, removed=repair)

        page: list[str] = []
        for key in vault.blobs.keys(older_than=report.written_before):
            report.blobs_listed += 1
            page.append(key)
            if len(page) >= VERIFY_PAGE:
                check(page)
                page = []
        if page:
            check(page)

        entries.append(
            AuditEntry(
                actor=actor,
                action="space.documents.verify_blobs",
                outcome="success" if report.clean else "failure",
                detail=(
                    f"rows {report.rows_checked}, blobs {report.blobs_listed}, missing "
                    f"{report.missing}, unreadable {report.unreadable}, orphans {report.orphans}"
                    f", removed {report.orphans_removed}"
                ),
            )
        )
        get_audit_service().record_many(session, entries, recorded_at=now)
        log.info(
            "documents_blobs_verified",
            rows=report.rows_checked,
            blobs=report.blobs_listed,
            missing=report.missing,
            unreadable=report.unreadable,
            orphans=report.orphans,
            removed=report.orphans_removed,
        )
        return report

    @staticmethod
    def _blob_fault(
        vault: Vault, row: StoredRow, data_key: bytes | None, wrapped: dict[int, bytes]
    ) -> str | None:
        """None when the row's content reads back intact, else what is wrong."""
        try:
            sealed = vault.blobs.get(row.blob_key)
        except BlobNotFound:
            return "missing"
        if data_key is None:
            return (
                "the space's data key does not unwrap with the configured master key"
                if row.person_id in wrapped
                else "the space has no data key"
            )
        try:
            data = vault.envelope.decrypt(data_key, sealed, row.blob_key.encode())
        except EnvelopeError:
            return "the blob does not decrypt (altered, or moved from another key)"
        if hashlib.sha256(data).hexdigest() != row.sha256:
            return "the content does not match its SHA-256"
        return None


def _announcement_entry(person_id: int, public_id: str, outcome: str) -> AuditEntry:
    return AuditEntry(
        actor=JOB_ACTOR,
        action="space.documents.announcement",
        person_id=person_id,
        resource=f"DocumentReference/{public_id}",
        purpose="R1111-53",
        detail=outcome,
    )


@dataclass(frozen=True)
class _AnnouncementFailed:
    """After the commit, the announcement e-mail of one holder failed: un-mark their documents
    in a short transaction of its own (they are due again) and count them as failed."""

    bind: Any
    report: AnnouncementReport
    person_id: int
    documents: list[tuple[int, str]]  # (row key, public id)
    marked_at: datetime

    def __call__(self, error: Exception) -> None:
        log.warning(
            "announcement_mail_failed", person_id=self.person_id, error=type(error).__name__
        )
        engine = getattr(self.bind, "engine", self.bind)
        with Session(engine) as session, session.begin():
            DocumentRepository(session).unmark_announced(
                [key for key, _ in self.documents], self.marked_at
            )
            get_audit_service().record_many(
                session,
                [
                    _announcement_entry(self.person_id, public_id, "mail_failed")
                    for _, public_id in self.documents
                ],
                recorded_at=self.marked_at,
            )
        count = len(self.documents)
        self.report.notified -= count
        self.report.failed += count


def _announcement_message(documents: Sequence[Document]) -> tuple[str, str]:
    count = len(documents)
    subject = (
        "Mon Espace Santé : un document vous attend"
        if count == 1
        else f"Mon Espace Santé : {count} documents vous attendent"
    )
    text = (
        "Bonjour,\n\n"
        + (
            "Un professionnel de santé a déposé un document dans votre espace santé"
            if count == 1
            else f"Des professionnels de santé ont déposé {count} documents dans votre espace santé"
        )
        + " en attendant de vous en parler lors d'une consultation d'annonce.\n\n"
        "Nous vous conseillons de prendre contact avec le professionnel qui vous suit. Sans "
        "consultation, ces documents deviendront visibles dans votre espace un mois après leur "
        "dépôt.\n"
    )
    return subject, text


documents_service = DocumentsService()
