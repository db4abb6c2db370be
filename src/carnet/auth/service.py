"""OAuth 2.0 client credentials: client registration, token issuance and token verification.

Access tokens are short-lived JWTs (HS256, signed with the platform secret) so that verifying one
on every API call needs no database round trip. Clients authenticate at the token endpoint with
``client_secret_basic`` or ``private_key_jwt`` (RFC 7523, the assertion signed by a key whose public
part was registered with the client; each assertion id is accepted once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey
from sqlalchemy.orm import Session

from carnet.auth.models import OAuthClient
from carnet.auth.principal import Principal
from carnet.auth.repository import ClientRepository
from carnet.auth.scopes import HOLDER_SCOPE, parse_scopes
from carnet.exceptions import AppError, Unauthorized

if TYPE_CHECKING:
    from carnet.config import Settings

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASYMMETRIC_ALGORITHMS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"]


class OAuthError(AppError):
    """An RFC 6749 §5.2 error: rendered as ``{"error": code, "error_description": message}``."""

    status_code = 400
    code = "invalid_request"


@dataclass(frozen=True)
class CreatedClient:
    client_id: str
    client_secret: str | None
    auth_method: str
    scopes: list[str]


def hash_secret(secret: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.sha256((salt + secret).encode()).hexdigest()
    return f"{salt}${digest}"


def secret_matches(secret: str, stored: str) -> bool:
    salt, _, digest = stored.partition("$")
    candidate = hashlib.sha256((salt + secret).encode()).hexdigest()
    return hmac.compare_digest(candidate, digest)


TOKEN_LEEWAY_SECONDS = 5
VERIFIED_TOKENS_KEPT = 10_000


class AuthService:
    def __init__(
        self, secret_key: str, issuer: str, token_ttl: int, assertion_max_age: int
    ) -> None:
        self._key = OctKey.import_key(
            hashlib.sha256(b"access-token:" + secret_key.encode()).digest()
        )
        self.issuer = issuer.rstrip("/")
        self.token_ttl = token_ttl
        self.assertion_max_age = assertion_max_age
        # Tokens already verified, by their exact text: a client sends the same token with every
        # request, and checking the signature and claims again costs more than the rest of the
        # HTTP layer's bookkeeping. Only the expiry is re-checked on a hit.
        self._verified: dict[str, tuple[Principal, int]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthService:
        """The service configured by the platform settings (API, CLI and demo alike)."""
        return cls(
            settings.secret_key,
            settings.issuer,
            settings.access_token_ttl_seconds,
            settings.client_assertion_max_age_seconds,
        )

    # -- registration -------------------------------------------------------------------------
    def create_client(
        self,
        session: Session,
        *,
        name: str,
        scopes: list[str],
        jwks: dict[str, Any] | None = None,
        structure_id: int | None = None,
        professional_id: int | None = None,
    ) -> CreatedClient:
        granted = parse_scopes(scopes)
        if not granted:
            raise AppError("a client needs at least one scope", code="invalid_scope")
        client_id = "cli_" + secrets.token_urlsafe(12)
        secret: str | None = None
        if jwks is not None:
            keys: Any = jwks if "keys" in jwks else {"keys": [jwks]}
            try:
                key_set = KeySet.import_key_set(keys)
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise AppError(f"invalid JWKS: {exc}", code="invalid_jwks") from exc
            if any(key.is_private for key in key_set.keys):
                raise AppError("the JWKS must hold public keys only", code="invalid_jwks")
            method, stored_jwks, stored_hash = "private_key_jwt", json.dumps(keys), None
        else:
            secret = secrets.token_urlsafe(32)
            method, stored_jwks, stored_hash = "client_secret_basic", None, hash_secret(secret)
        ClientRepository(session).add(
            OAuthClient(
                client_id=client_id,
                name=name,
                auth_method=method,
                secret_hash=stored_hash,
                jwks=stored_jwks,
                scopes=" ".join(granted),
                structure_id=structure_id,
                professional_id=professional_id,
                active=True,
            )
        )
        return CreatedClient(client_id, secret, method, granted)

    def set_active(self, session: Session, client_id: str, *, active: bool) -> bool:
        """Enable or disable a client; False when there is no such client.

        A disabled client gets no new token; tokens already issued stay valid until they expire
        (at most ``access_token_ttl_seconds``), which is why their lifetime is short.
        """
        client = ClientRepository(session).get_by_client_id(client_id)
        if client is None:
            return False
        client.active = active
        session.flush()
        return True

    # -- token endpoint -----------------------------------------------------------------------
    def authenticate_basic(self, session: Session, client_id: str, secret: str) -> OAuthClient:
        client = ClientRepository(session).get_by_client_id(client_id)
        if (
            client is None
            or not client.active
            or client.secret_hash is None
            or not secret_matches(secret, client.secret_hash)
        ):
            raise OAuthError("client authentication failed", code="invalid_client", status_code=401)
        return client

    def authenticate_assertion(
        self, session: Session, assertion: str, now: datetime
    ) -> OAuthClient:
        # The issuer names the client whose registered keys verify the signature just below.
        client_id = _unverified_claim(assertion, "iss")
        repo = ClientRepository(session)
        client = repo.get_by_client_id(client_id) if client_id else None
        if client is None or not client.active or client.jwks is None:
            raise OAuthError("client authentication failed", code="invalid_client", status_code=401)
        try:
            token = jwt.decode(
                assertion,
                KeySet.import_key_set(json.loads(client.jwks)),
                algorithms=ASYMMETRIC_ALGORITHMS,
            )
            registry = jwt.JWTClaimsRegistry(
                now=int(now.timestamp()),
                leeway=30,
                iss={"essential": True, "value": client.client_id},
                sub={"essential": True, "value": client.client_id},
                aud={"essential": True, "values": [self.issuer, self.issuer + "/oauth2/token"]},
                exp={"essential": True},
                jti={"essential": True},
            )
            registry.validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise OAuthError(
                f"invalid client assertion: {exc}", code="invalid_client", status_code=401
            ) from exc
        exp = datetime.fromtimestamp(int(token.claims["exp"]), UTC)
        if exp - now > timedelta(seconds=self.assertion_max_age + 30):
            raise OAuthError(
                f"client assertion lifetime exceeds {self.assertion_max_age} s",
                code="invalid_client",
                status_code=401,
            )
        if not repo.remember_assertion(client.client_id, str(token.claims["jti"]), exp, now):
            raise OAuthError(
                "client assertion already used (replay)", code="invalid_client", status_code=401
            )
        return client

    def issue_token(
        self, client: OAuthClient, requested_scope: str | None, now: datetime
    ) -> dict[str, Any]:
        granted = set(client.scopes.split())
        if requested_scope:
            asked = set(requested_scope.split())
            if not asked <= granted:
                raise OAuthError(
                    f"scope not granted to this client: {' '.join(sorted(asked - granted))}",
                    code="invalid_scope",
                )
            granted = asked
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": client.client_id,
            "aud": self.issuer,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + self.token_ttl,
            "jti": uuid.uuid4().hex,
            "scope": " ".join(sorted(granted)),
        }
        if client.structure_id is not None:
            claims["structure_id"] = client.structure_id
        professional_id = getattr(client, "professional_id", None)
        if professional_id is not None:
            claims["professional_id"] = professional_id
        token = jwt.encode({"alg": "HS256", "typ": "at+jwt"}, claims, self._key)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
            "scope": claims["scope"],
        }

    def issue_holder_token(
        self, *, person_id: int, card_id: int, now: datetime, ttl: int | None = None
    ) -> dict[str, Any]:
        """A short-lived token for a card holder who proved they hold the device and the code."""
        lifetime = ttl or self.token_ttl
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": f"card:{card_id}",
            "aud": self.issuer,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + lifetime,
            "jti": uuid.uuid4().hex,
            "scope": HOLDER_SCOPE,
            "person_id": person_id,
            "card_id": card_id,
        }
        token = jwt.encode({"alg": "HS256", "typ": "at+jwt"}, claims, self._key)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": HOLDER_SCOPE,
        }

    # -- resource side ------------------------------------------------------------------------
    def verify_access_token(self, token: str, now: datetime) -> Principal:
        known = self._verified.get(token)
        if known is not None:
            principal, expires = known
            if now.timestamp() <= expires + TOKEN_LEEWAY_SECONDS:
                return principal
            self._verified.pop(token, None)
        principal, expires = self._verify_signed_token(token, now)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            # Drop the oldest half (dicts keep insertion order): bounded memory, no lock needed.
            for stale in list(self._verified)[: VERIFIED_TOKENS_KEPT // 2]:
                self._verified.pop(stale, None)
        self._verified[token] = (principal, expires)
        return principal

    def _verify_signed_token(self, token: str, now: datetime) -> tuple[Principal, int]:
        try:
            decoded = jwt.decode(token, self._key, algorithms=["HS256"])
            jwt.JWTClaimsRegistry(
                now=int(now.timestamp()),
                leeway=TOKEN_LEEWAY_SECONDS,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.issuer},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise Unauthorized(f"invalid access token: {exc}", code="invalid_token") from exc
        claims = decoded.claims
        principal = Principal(
            client_id=str(claims["sub"]),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            structure_id=_optional_int(claims.get("structure_id")),
            professional_id=_optional_int(claims.get("professional_id")),
            person_id=_optional_int(claims.get("person_id")),
            card_id=_optional_int(claims.get("card_id")),
        )
        return principal, int(claims["exp"])


def _optional_int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _unverified_claim(token: str, name: str) -> str | None:
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        value = json.loads(base64.urlsafe_b64decode(payload)).get(name)
    except (IndexError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
