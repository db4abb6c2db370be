"""The signed-in professional of a web session, as every professional page reads it.

A professional signs in with a passkey or through OpenID Connect (``carnet.proauth``); the web
session then holds ``{"pro": {...}}`` (``session_identity``): the directory's professional id,
the RPPS, a display name, how they signed in and when. The pages act for them through the same
services as the APIs, with ``pro_principal``: a principal bound to that professional
(``directory_service.acting_professional`` accepts a principal bound to the professional it
names), holding the scopes a professional's own software would have.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fastapi import Request

from carnet.auth.principal import Principal
from carnet.web.security import web_session

IDENTITY_KEY = "pro"
# What a professional signed in on the portal may do: read cards, read and feed health spaces
# (the access rules still apply: consent or care relationship, matrix, blocks).
PRO_SCOPES = frozenset({"apcv", "dmp", "rights.read", "directory.read"})


@dataclass(frozen=True)
class ProSession:
    professional_id: int  # the directory's professional
    rpps: str
    display_name: str
    method: str  # "passkey" or "oidc"
    signed_in_at: int  # epoch seconds
    # The place of practice chosen at sign-in (its identifier), when the professional has several.
    structure_identifier: str | None = None


def session_identity(pro: ProSession) -> dict[str, Any]:
    """What ``WebSession.sign_in`` stores for a professional."""
    return {IDENTITY_KEY: asdict(pro)}


def signed_in_professional(request: Request) -> ProSession | None:
    raw = web_session(request).identity.get(IDENTITY_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        return ProSession(**raw)
    except TypeError:
        return None


def pro_principal(pro: ProSession) -> Principal:
    """The principal the services see when this professional acts through the portal."""
    return Principal(
        client_id=f"web-pro:{pro.rpps}", scopes=PRO_SCOPES, professional_id=pro.professional_id
    )
