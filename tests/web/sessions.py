"""Signed-in browser contexts for page tests: the session cookie made by the web's own codec
(``carnet.web.sessions``), as the sign-in pages would set it. The sign-in ceremonies themselves
are tested in their own journeys (passkeys through Chromium's virtual authenticator, OIDC)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext

from carnet.config import Settings
from carnet.web.sessions import SessionCodec, WebSession, cookie_name


def session_cookie(settings: Settings, identity: dict[str, Any]) -> str:
    now = int(time.time())
    session = WebSession.fresh(now)
    session.sign_in(identity, now)
    return SessionCodec(settings).dump(session)


def sign_in_as(
    context: BrowserContext, settings: Settings, base_url: str, identity: dict[str, Any]
) -> None:
    """Put a signed-in session for ``identity`` in the browser context (what a sign-in stores:
    ``{person_id, card_id, signed_in_at}`` for a card holder, see each portal's sign-in)."""
    context.add_cookies(
        [
            {
                "name": cookie_name(settings),
                "value": session_cookie(settings, identity),
                # Not "url": Chromium refuses a secure (__Host-) cookie set for an http URL,
                # even on localhost, which it treats as a secure context when browsing.
                "domain": urlsplit(base_url).hostname or "localhost",
                "path": "/",
                "httpOnly": True,
                "secure": settings.web_cookie_secure,
                "sameSite": "Lax",
            }
        ]
    )
