"""OpenID Connect client for the professionals' sign-in with an external issuer (Pro Santé
Connect-like, domain.md §8.2): discovery, authorization code flow with PKCE (S256), state and
nonce, ID token verified with the issuer's JWKS (joserfc, Authlib's JOSE), userinfo.

HTTP goes through ``httpx2`` (the project's client; Authlib's own OAuth 2.0 clients need
``httpx`` or ``requests``, which the platform does not ship), the PKCE challenge and the JOSE
work through Authlib/joserfc. Nothing here touches the database: ``service`` maps the claims to
a directory professional.

The discovery document and the JWKS are kept ``CACHE_SECONDS`` per process; an ID token signed
by a key the cached JWKS lacks (rotation) refetches the JWKS once.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx2
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from carnet.config import Settings
from carnet.proauth.exceptions import OidcError, OidcUnavailable

CALLBACK_PATH = "/pro/connexion/oidc/retour"
CACHE_SECONDS = 600.0
HTTP_TIMEOUT = 10.0
ALGORITHMS = ["RS256", "PS256", "ES256", "RS384", "RS512", "ES384"]
# Clock difference tolerated on exp/iat.
LEEWAY_SECONDS = 60


def enabled(settings: Settings) -> bool:
    return bool(settings.pro_oidc_issuer and settings.pro_oidc_client_id)


def redirect_uri(settings: Settings) -> str:
    return settings.pro_oidc_redirect_uri or (
        settings.card_webauthn_origin.rstrip("/") + CALLBACK_PATH
    )


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str | None
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass(frozen=True)
class PendingLogin:
    """What the browser's session keeps between the redirection and the callback."""

    state: str
    nonce: str
    code_verifier: str


_cache: dict[str, tuple[float, Any]] = {}


def _get_json(url: str, **kwargs: Any) -> Any:
    try:
        response = httpx2.get(url, timeout=HTTP_TIMEOUT, **kwargs)
    except httpx2.HTTPError as exc:
        raise OidcUnavailable(f"the identity provider is unreachable ({exc})") from None
    if response.status_code != 200:
        raise OidcUnavailable(f"{url} answered {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise OidcError(f"{url} did not answer JSON") from None


def _cached(key: str, fetch: Any, *, refresh: bool = False) -> Any:
    entry = _cache.get(key)
    if entry is not None and not refresh and entry[0] > time.monotonic():
        return entry[1]
    value = fetch()
    _cache[key] = (time.monotonic() + CACHE_SECONDS, value)
    return value


def forget() -> None:
    """Drop the cached discovery documents and key sets (tests, configuration change)."""
    _cache.clear()


def discover(settings: Settings) -> Provider:
    issuer = (settings.pro_oidc_issuer or "").rstrip("/")
    if not enabled(settings):
        raise OidcUnavailable("OpenID Connect sign-in is not configured")
    url = settings.pro_oidc_discovery_url or issuer + "/.well-known/openid-configuration"
    document = _cached("discovery:" + url, lambda: _get_json(url))
    if not isinstance(document, dict):
        raise OidcError("the discovery document is not a JSON object")
    try:
        if str(document["issuer"]).rstrip("/") != issuer:
            raise OidcError(f"the discovery document names another issuer: {document['issuer']}")
        return Provider(
            issuer=str(document["issuer"]),
            authorization_endpoint=str(document["authorization_endpoint"]),
            token_endpoint=str(document["token_endpoint"]),
            userinfo_endpoint=document.get("userinfo_endpoint"),
            jwks_uri=str(document["jwks_uri"]),
            end_session_endpoint=document.get("end_session_endpoint"),
        )
    except KeyError as exc:
        raise OidcError(f"the discovery document lacks {exc}") from None


def start(settings: Settings) -> tuple[str, PendingLogin]:
    """The authorization URL to send the browser to, and what to keep until the callback."""
    provider = discover(settings)
    pending = PendingLogin(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(48),
    )
    params = {
        "response_type": "code",
        "client_id": settings.pro_oidc_client_id,
        "redirect_uri": redirect_uri(settings),
        "scope": settings.pro_oidc_scopes,
        "state": pending.state,
        "nonce": pending.nonce,
        "code_challenge": create_s256_code_challenge(pending.code_verifier),
        "code_challenge_method": "S256",
    }
    if settings.pro_oidc_acr_values:
        params["acr_values"] = settings.pro_oidc_acr_values
    separator = "&" if "?" in provider.authorization_endpoint else "?"
    return provider.authorization_endpoint + separator + urlencode(params), pending


def _key_set(provider: Provider, *, refresh: bool = False) -> KeySet:
    data = _cached(
        "jwks:" + provider.jwks_uri, lambda: _get_json(provider.jwks_uri), refresh=refresh
    )
    try:
        return KeySet.import_key_set(data)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise OidcError(f"the issuer's JWKS is unusable ({exc})") from None


def verify_id_token(
    settings: Settings, provider: Provider, id_token: str, nonce: str
) -> dict[str, Any]:
    """The ID token's claims: signature by the issuer's keys, iss, aud, exp, iat, nonce."""
    try:
        token = jwt.decode(id_token, _key_set(provider), algorithms=ALGORITHMS)
    except (JoseError, ValueError):
        try:  # perhaps signed with a key published since (rotation): fetch the JWKS again
            token = jwt.decode(id_token, _key_set(provider, refresh=True), algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise OidcError(f"the ID token does not verify ({exc})") from None
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": settings.pro_oidc_client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(token.claims)
    except JoseError as exc:
        raise OidcError(f"the ID token's claims are refused ({exc})") from None
    claims = dict(token.claims)
    audience = claims.get("aud")
    several = isinstance(audience, list) and len(audience) > 1
    if several and claims.get("azp") != settings.pro_oidc_client_id:
        raise OidcError("the ID token has several audiences and another azp")
    return claims


def finish(settings: Settings, pending: PendingLogin, code: str) -> dict[str, Any]:
    """Exchange the code (with the PKCE verifier), verify the ID token, read userinfo: the
    professional's claims (ID token claims, completed by userinfo for the same ``sub``)."""
    provider = discover(settings)
    try:
        response = httpx2.post(
            provider.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri(settings),
                "code_verifier": pending.code_verifier,
            },
            auth=(settings.pro_oidc_client_id, settings.pro_oidc_client_secret),
            headers={"Accept": "application/json"},
            timeout=HTTP_TIMEOUT,
        )
    except httpx2.HTTPError as exc:
        raise OidcUnavailable(f"the token endpoint is unreachable ({exc})") from None
    if response.status_code != 200:
        raise OidcError(f"the token endpoint refused the code ({response.status_code})")
    try:
        tokens = response.json()
    except ValueError:
        raise OidcError("the token endpoint did not answer JSON") from None
    id_token, access_token = tokens.get("id_token"), tokens.get("access_token")
    if not isinstance(id_token, str) or not isinstance(access_token, str):
        raise OidcError("the token endpoint gave no ID token or no access token")
    claims = verify_id_token(settings, provider, id_token, pending.nonce)
    if provider.userinfo_endpoint:
        info = _get_json(
            provider.userinfo_endpoint,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
            raise OidcError("userinfo names another subject than the ID token")
        claims = {**info, **{k: v for k, v in claims.items() if k not in info}}
    return claims
