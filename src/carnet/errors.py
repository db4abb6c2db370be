"""Rendering of every error, in one place: JSON for the REST API, OperationOutcome under /fhir.

Validation errors name the field and what is wrong with it; malformed JSON is a 400; anything
unexpected is logged with the request id and answered with a generic 500 that leaks nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from carnet.exceptions import AppError
from carnet.kit.context import request_id_var
from carnet.logging import get_logger

log = get_logger(__name__)

FHIR_JSON = "application/fhir+json"

# OperationOutcome issue codes (http://hl7.org/fhir/issue-type) by HTTP status.
_FHIR_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    422: "processing",
    500: "exception",
}


def _is_fhir(request: Request) -> bool:
    return request.url.path.startswith("/fhir")


# Paths of programs: JSON errors (OperationOutcome under /fhir). Every other path is a web page
# of the portals (carnet.web), whose errors are HTML pages.
PROGRAM_PREFIXES = (
    "/api",
    "/fhir",
    "/oauth2",
    "/static",
    "/healthz",
    "/readyz",
    "/metrics",
    "/.well-known",
)


def is_page(path: str) -> bool:
    return not any(path == p or path.startswith(p + "/") for p in PROGRAM_PREFIXES)


def _page_renderer(request: Request) -> Callable[[Request, int, str], Response] | None:
    """The web portals' error page for a page path (``carnet.web.paths``), else None: /api,
    /fhir, /oauth2 and the operational routes keep JSON and OperationOutcome errors."""
    if not is_page(request.url.path):
        return None
    renderer: Callable[[Request, int, str], Response] | None = getattr(
        request.app.state, "html_error_page", None
    )
    return renderer


def operation_outcome(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    issues: list[dict[str, Any]] = []
    for detail in details or [{"message": message}]:
        issue: dict[str, Any] = {
            "severity": "error" if status < 500 else "fatal",
            "code": _FHIR_ISSUE_CODES.get(status, "processing"),
            "details": {"coding": [{"system": "urn:carnet:error", "code": code}], "text": message},
            "diagnostics": detail.get("message", message),
        }
        if detail.get("field"):
            issue["expression"] = [str(detail["field"])]
        issues.append(issue)
    return {"resourceType": "OperationOutcome", "issue": issues}


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    renderer = _page_renderer(request)
    if renderer is not None:
        try:
            return renderer(request, status, code)
        except Exception as exc:  # a broken error page must not hide the error
            log.error("error_page_failed", path=request.url.path, exc_info=exc)
    if _is_fhir(request):
        return JSONResponse(
            operation_outcome(status, code, message, details),
            status_code=status,
            media_type=FHIR_JSON,
            headers=headers,
        )
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    body["request_id"] = request_id_var.get()
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return error_response(request, exc.status_code, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            first = next(e for e in errors if e.get("type") == "json_invalid")
            ctx = first.get("ctx") or {}
            return error_response(
                request,
                400,
                "malformed_json",
                f"the request body is not valid JSON: {ctx.get('error', 'parse error')}",
            )
        details = [
            {
                "field": _location(e.get("loc", ())),
                "message": str(e.get("msg", "invalid")),
                "type": e.get("type"),
            }
            for e in errors
        ]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return error_response(request, 422, "validation_failed", summary, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(IntegrityError)
    async def _integrity_error(request: Request, exc: IntegrityError) -> Response:
        # Two requests creating the same record at once: the loser's transaction was rolled
        # back whole; retrying sees the winner's record.
        log.warning("integrity_conflict", path=request.url.path, error=type(exc.orig).__name__)
        return error_response(
            request,
            409,
            "concurrent_change",
            "another request changed the same record at the same time; nothing was saved, retry",
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled_error", path=request.url.path, exc_info=exc)
        return error_response(
            request, 500, "internal_error", "internal error; quote the request id to support"
        )
