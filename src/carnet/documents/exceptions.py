"""Errors of the documents domain (rendered as JSON or OperationOutcome by ``carnet.errors``)."""

from __future__ import annotations

from carnet.exceptions import AppError, NotFound, ValidationFailed


class UnsupportedContentType(AppError):
    """The declared type is not accepted, or the bytes are of another format."""

    status_code = 415
    code = "unsupported_content_type"


class InvalidContent(ValidationFailed):
    """Bytes of the declared format that do not parse (truncated PDF, broken image, bad XML)."""

    code = "invalid_content"


class DocumentTooLarge(AppError):
    status_code = 413
    code = "document_too_large"


class UnknownCode(ValidationFailed):
    code = "unknown_code"


class DocumentNotFound(NotFound):
    """No such document, or one the caller may not see (never told apart)."""

    code = "unknown_document"


class ContentUnavailable(AppError):
    """The stored content cannot be read back intact (missing blob, checksum, key)."""

    status_code = 503
    code = "content_unavailable"
