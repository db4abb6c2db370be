"""A real OpenID Connect provider for the tests, in process: Authlib's authorization server
(authorization code grant + OpenID Connect + PKCE) on Flask, served by werkzeug in a thread on a
free port. It issues Pro Santé Connect-shaped claims (``SubjectNameID``, ``SubjectRefPro``…) for
whichever professional the test puts in ``provider.user``; the authorization endpoint approves
at once (the user "authenticated with their e-CPS").

Not a mock of our code: the platform discovers it, redirects the browser to it, exchanges the
code with PKCE and client_secret_basic, verifies the RS256 ID token against its JWKS and reads
its userinfo, exactly as it would with the real issuer.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify, request
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

from tests.web.browser import free_port

# The provider is plain http on 127.0.0.1 in the tests (Authlib refuses it otherwise).
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

CLIENT_ID = "carnet-pro-portal"
CLIENT_SECRET = "test-client-secret-0123456789"


def psc_claims(
    idnat_ps: str,
    given_name: str,
    family_name: str,
    *,
    profession: str = "10",
    savoir_faire: str | None = "SM54",
    finess: str | None = None,
    siret: str | None = None,
) -> dict[str, Any]:
    """Userinfo as Pro Santé Connect gives it (domain.md §8.2), for one exercice."""
    activity: dict[str, Any] = {
        "codeModeExercice": "L",
        "codeSecteurDActivite": "SA07",
        "numeroFinessSite": finess,
        "numeroSiretSite": siret,
        "raisonSocialeSite": "Cabinet",
    }
    return {
        "SubjectNameID": idnat_ps,
        "preferred_username": idnat_ps,
        "given_name": given_name,
        "family_name": family_name,
        "codeCivilite": "DR",
        "SubjectRole": [f"{profession}^1.2.250.1.213.1.1.5.5"],
        "Palier_Authentification": "APPPRIP3^1.2.250.1.213.1.5.1.1.1",
        "idp": "PSC",
        "SubjectRefPro": {
            "codeCivilite": "DR",
            "exercices": [
                {
                    "codeProfession": profession,
                    "codeCategorieProfessionnelle": "C",
                    "codeSavoirFaire": savoir_faire,
                    "nomDExercice": family_name,
                    "prenomDExercice": given_name,
                    "activities": [activity],
                }
            ],
        },
    }


@dataclass
class _Client:
    redirect_uris: list[str]
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in {"openid", "scope_all"})

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class _Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    user: dict[str, Any]
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return "eidas1"

    def get_amr(self) -> list[str]:
        return ["mfa"]


class OidcProvider:
    """The provider's state: the user it signs in next, its codes and access tokens."""

    def __init__(self, port: int, redirect_uri: str) -> None:
        self.port = port
        self.issuer = f"http://127.0.0.1:{port}"
        self.client = _Client([redirect_uri])
        self.key = RSAKey.generate_key(2048, private=True, parameters={"kid": "psc-test-1"})
        self.user: dict[str, Any] = {}
        self.codes: dict[str, _Code] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.token_requests = 0
        # True: the authorization endpoint shows a page and waits (a professional who has not
        # finished authenticating) instead of answering at once.
        self.hold = False
        self.app = self._make_app()

    def sign_in_as(self, claims: dict[str, Any]) -> None:
        self.user = {"sub": secrets.token_hex(8), **claims}

    def _make_app(self) -> Flask:
        app = Flask("carnet-test-oidc")
        provider = self

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012

            def save_authorization_code(self, code: str, req: Any) -> None:
                data = req.payload.data
                provider.codes[code] = _Code(
                    code=code,
                    client_id=req.client.client_id,
                    redirect_uri=req.payload.redirect_uri,
                    scope=req.scope,
                    nonce=data.get("nonce"),
                    user=dict(req.user),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: Any) -> _Code | None:
                item = provider.codes.get(code)
                return item if item is not None and item.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: _Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: _Code) -> dict[str, Any]:
                return authorization_code.user

        class PscOpenIDCode(OpenIDCode):
            def exists_nonce(self, nonce: str, req: Any) -> bool:
                return any(c.nonce == nonce for c in provider.codes.values())

            def resolve_client_private_key(self, client: Any) -> RSAKey:
                return provider.key

            def get_client_claims(self, client: Any) -> dict[str, Any]:
                return {"iss": provider.issuer, "aud": [client.get_client_id()]}

            def get_client_algorithm(self, client: Any) -> str:
                return "RS256"

            def get_encode_header(self, client: Any) -> dict[str, Any]:
                return {"alg": "RS256", "kid": "psc-test-1"}

            def generate_user_info(self, user: dict[str, Any], scope: str) -> UserInfo:
                # The ID token carries the identifiers; userinfo carries everything.
                return UserInfo(
                    sub=user["sub"],
                    SubjectNameID=user.get("SubjectNameID"),
                    idp="PSC",
                )

        def query_client(client_id: str) -> _Client | None:
            return provider.client if client_id == provider.client.client_id else None

        def save_token(token: dict[str, Any], req: Any) -> None:
            provider.tokens[token["access_token"]] = dict(req.user)

        server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
        server.register_grant(
            CodeGrant, [PscOpenIDCode(require_nonce=True), CodeChallenge(required=True)]
        )

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                {
                    "issuer": provider.issuer,
                    "authorization_endpoint": provider.issuer + "/auth",
                    "token_endpoint": provider.issuer + "/token",
                    "userinfo_endpoint": provider.issuer + "/userinfo",
                    "jwks_uri": provider.issuer + "/certs",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "scopes_supported": ["openid", "scope_all"],
                    "code_challenge_methods_supported": ["S256"],
                    "acr_values_supported": ["eidas1"],
                }
            )

        @app.get("/certs")
        def certs() -> Any:
            return jsonify({"keys": [provider.key.as_dict(private=False)]})

        @app.get("/auth")
        def authorize() -> Any:
            if provider.hold:
                return "<!doctype html><title>e-CPS</title><p>Validez sur votre e-CPS</p>"
            # The professional authenticated (e-CPS): approve at once.
            return server.create_authorization_response(grant_user=provider.user)

        @app.post("/token")
        def token() -> Any:
            provider.token_requests += 1
            return server.create_token_response()

        @app.get("/userinfo")
        def userinfo() -> Any:
            header = request.headers.get("Authorization", "")
            user = provider.tokens.get(header.removeprefix("Bearer ").strip())
            if user is None:
                return jsonify({"error": "invalid_token"}), 401
            return jsonify(user)

        return app


@contextmanager
def running_provider(redirect_uri: str) -> Iterator[OidcProvider]:
    port = free_port()
    provider = OidcProvider(port, redirect_uri)
    server = make_server("127.0.0.1", port, provider.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="test-oidc", daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(timeout=10)
