"""One error hierarchy for the whole platform.

Services raise ``AppError`` subclasses; the HTTP layer renders them once, as JSON for the REST API
and as an OperationOutcome under ``/fhir`` (see ``carnet.main``). Expected errors are never 500s.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An expected error with a stable machine code, a human message and an HTTP status."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class ValidationFailed(AppError):
    """Input that is well-formed but breaks a rule (invalid NIR, impossible date, bad trait)."""

    status_code = 422
    code = "validation_failed"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
