"""The OAuth 2.0 token endpoint (client credentials grant, RFC 6749 §4.4)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse

from carnet.auth.models import OAuthClient
from carnet.auth.service import CLIENT_ASSERTION_TYPE, AuthService, OAuthError
from carnet.dependencies import SessionDep, get_auth_service

router = APIRouter(tags=["oauth2"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError(
            "malformed Basic authorization header", code="invalid_client", status_code=401
        ) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError(
            "malformed Basic authorization header", code="invalid_client", status_code=401
        )
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
    return unquote(client_id), unquote(secret)


@router.post(
    "/oauth2/token",
    summary="Get an access token (client credentials; client_secret_basic or private_key_jwt)",
)
def token(
    request: Request,
    session: SessionDep,
    auth: Annotated[AuthService, Depends(get_auth_service)],
    grant_type: Annotated[str, Form()],
    scope: Annotated[str | None, Form()] = None,
    client_assertion_type: Annotated[str | None, Form()] = None,
    client_assertion: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    now = datetime.now(UTC)
    try:
        if grant_type != "client_credentials":
            raise OAuthError(
                "only the client_credentials grant is supported", code="unsupported_grant_type"
            )
        basic = _basic_credentials(request.headers.get("authorization", ""))
        client: OAuthClient
        if basic is not None:
            client = auth.authenticate_basic(session, *basic)
            if client.auth_method != "client_secret_basic":
                raise OAuthError(
                    "this client must use private_key_jwt", code="invalid_client", status_code=401
                )
        elif client_assertion is not None:
            if client_assertion_type != CLIENT_ASSERTION_TYPE:
                raise OAuthError(
                    f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}",
                    code="invalid_client",
                    status_code=401,
                )
            client = auth.authenticate_assertion(session, client_assertion, now)
        else:
            raise OAuthError(
                "client authentication required (HTTP Basic or client_assertion)",
                code="invalid_client",
                status_code=401,
            )
        body = auth.issue_token(client, scope, now)
    except OAuthError as exc:
        headers = dict(_NO_STORE)
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = 'Basic realm="carnet"'
        return JSONResponse(
            {"error": exc.code, "error_description": exc.message},
            status_code=exc.status_code,
            headers=headers,
        )
    return JSONResponse(body, headers=_NO_STORE)
