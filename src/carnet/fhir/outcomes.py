"""OperationOutcome helpers for the FHIR adapter.

Errors are raised as ``carnet.exceptions.AppError`` and rendered once by ``carnet.errors`` (an
OperationOutcome under /fhir). This module builds the *informational* outcomes that travel inside
a successful answer (a Bundle entry with ``search.mode = outcome``), and the errors specific to
FHIR requests (unsupported format or media type, unknown search parameters, invalid resources).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic_core import ErrorDetails

from carnet.exceptions import AppError, BadRequest

Severity = Literal["information", "warning", "error", "fatal"]


class NotAcceptable(AppError):
    status_code = 406
    code = "not_acceptable"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


def outcome(
    severity: Severity,
    code: str,
    text: str,
    *,
    coding: dict[str, str] | None = None,
    expression: list[str] | None = None,
) -> dict[str, Any]:
    """A one-issue OperationOutcome (``code`` from http://hl7.org/fhir/issue-type)."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": text}
    details: dict[str, Any] = {"text": text}
    if coding is not None:
        details["coding"] = [coding]
    issue["details"] = details
    if expression:
        issue["expression"] = expression
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def _fhir_path(root: str, loc: tuple[int | str, ...]) -> str:
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def invalid_resource(errors: Sequence[ErrorDetails], *, root: str, strip: int = 0) -> BadRequest:
    """A 400 naming every element fhir.resources refused, as FHIRPath-like expressions.

    ``errors`` are pydantic's (``ValidationError.errors()``); ``strip`` drops the first location
    parts (e.g. ``parameter.0.resource``) so that paths start at ``root`` (``Patient``).
    """
    details = []
    for error in list(errors)[:20]:
        path = _fhir_path(root, tuple(error.get("loc", ()))[strip:])
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        details.append({"field": path, "message": f"{path}: {message}"})
    summary = "; ".join(d["message"] for d in details) or f"{root}: invalid resource"
    return BadRequest(
        f"invalid {root} resource: {summary}", code="invalid_resource", details=details
    )


def located(error: AppError, field: str) -> AppError:
    """The error with one detail naming ``field`` (rendered as the issue's ``expression``)."""
    error.details = [{"field": field, "message": error.message}]
    return error
