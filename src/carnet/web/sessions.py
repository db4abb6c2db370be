"""Web sessions: a signed cookie (itsdangerous), with idle and absolute lifetimes.

The cookie holds a random session id, the CSRF token, the creation and last-seen times and the
signed-in identity (nothing else: no health data). It is ``HttpOnly``, ``SameSite=Lax``,
``Secure`` (``CARNET_WEB_COOKIE_SECURE``; then named ``__Host-carnet_session``, which browsers
only accept from a secure origin, on ``/`` and without a domain). A session unused for
``CARNET_WEB_SESSION_IDLE_MINUTES`` or older than ``CARNET_WEB_SESSION_MAX_HOURS`` is dropped;
signing in or out rotates the id and the CSRF token (no session fixation).

Limit of a cookie session: signing out cannot revoke a copy of the cookie taken before; the
short idle lifetime bounds that window. A server-side store can replace ``load``/``dump`` later
without changing the pages.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carnet.config import Settings
from carnet.web.paths import is_page

SECURE_COOKIE = "__Host-carnet_session"
PLAIN_COOKIE = "carnet_session"
# The last-seen time is rewritten at most this often (not a new cookie on every request).
SEEN_RESOLUTION_SECONDS = 60


def cookie_name(settings: Settings) -> str:
    return SECURE_COOKIE if settings.web_cookie_secure else PLAIN_COOKIE


def _new_id() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class WebSession:
    sid: str
    csrf_token: str
    created_at: int
    seen_at: int
    identity: dict[str, Any] = field(default_factory=dict)
    modified: bool = False
    # True when the request came with a session that had expired (idle or too old).
    expired: bool = False

    @classmethod
    def fresh(cls, now: int) -> WebSession:
        return cls(_new_id(), _new_id(), now, now, modified=True)

    def sign_in(self, identity: dict[str, Any], now: int) -> None:
        """A new id and CSRF token for the signed-in identity (rotation at login)."""
        self.sid, self.csrf_token = _new_id(), _new_id()
        self.identity = dict(identity)
        self.created_at = self.seen_at = now
        self.modified = True

    def sign_out(self, now: int) -> None:
        self.sign_in({}, now)

    @property
    def signed_in(self) -> bool:
        return bool(self.identity)


class SessionCodec:
    def __init__(self, settings: Settings) -> None:
        self._serializer = URLSafeSerializer(settings.secret_key, salt="carnet.web.session")
        self.idle_seconds = settings.web_session_idle_minutes * 60
        self.max_seconds = settings.web_session_max_hours * 3600

    def dump(self, session: WebSession) -> str:
        return str(
            self._serializer.dumps(
                [session.sid, session.csrf_token, session.created_at, session.seen_at,
                 session.identity]
            )
        )  # fmt: skip

    def load(self, value: str | None, now: int) -> WebSession:
        if not value:
            return WebSession.fresh(now)
        try:
            sid, csrf, created, seen, identity = self._serializer.loads(value)
        except (BadSignature, ValueError, TypeError):
            return WebSession.fresh(now)
        if not all(isinstance(x, int) for x in (created, seen)) or not isinstance(identity, dict):
            return WebSession.fresh(now)
        if now - seen > self.idle_seconds or now - created > self.max_seconds:
            session = WebSession.fresh(now)
            session.expired = True
            return session
        session = WebSession(str(sid), str(csrf), created, seen, identity)
        if now - seen >= SEEN_RESOLUTION_SECONDS:
            session.seen_at = now
            session.modified = True
        return session


def _cookie_value(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == b"cookie":
            # Starlette's lenient parser: one malformed cookie does not hide the others.
            found = cookie_parser(value.decode("latin-1")).get(name)
            if found:
                return found
    return None


class WebSessionMiddleware:
    """Loads the session of page requests into ``request.state.web_session`` and writes it back."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.codec = SessionCodec(settings)
        self.name = cookie_name(settings)
        self.secure = settings.web_cookie_secure
        self.max_age = self.codec.max_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page(scope["path"]):
            await self.app(scope, receive, send)
            return
        session = self.codec.load(_cookie_value(scope, self.name), int(time.time()))
        scope.setdefault("state", {})["web_session"] = session

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and session.modified:
                headers = MutableHeaders(scope=message)
                attributes = f"Path=/; Max-Age={self.max_age}; HttpOnly; SameSite=Lax"
                if self.secure:
                    attributes += "; Secure"
                headers.append(
                    "Set-Cookie", f"{self.name}={self.codec.dump(session)}; {attributes}"
                )
            await send(message)

        await self.app(scope, receive, send_with_cookie)
