"""Security headers on every response, and the CSRF check of every unsafe page request.

The Content-Security-Policy allows scripts, styles, fonts and images from this origin only: no
inline script or style anywhere (htmx is configured not to inject its indicator style; the
templates carry no ``style``/``on*`` attributes). ``frame-ancestors 'none'`` forbids framing.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carnet.exceptions import Forbidden
from carnet.web.paths import is_page
from carnet.web.sessions import WebSession

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# The APIs answer data, never documents: nothing may load from them.
API_CSP = "default-src 'none'; frame-ancestors 'none'"

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(Forbidden):
    code = "csrf_refused"


def page_headers() -> dict[str, str]:
    """The headers of an HTML page (also set directly on 500 pages, which are rendered outside
    the middleware stack)."""
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = is_page(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CSP if page else API_CSP)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                headers.setdefault(
                    "Permissions-Policy", "camera=(self), microphone=(), geolocation=()"
                )
                if page:
                    # Pages may show personal data: never stored by a browser or a proxy.
                    headers.setdefault("Cache-Control", "no-store")
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def web_session(request: Request) -> WebSession:
    session: WebSession = request.state.web_session
    return session


async def require_csrf(request: Request) -> None:
    """Router dependency: an unsafe request must carry the session's CSRF token.

    Forms send it as the hidden field ``csrf_token``; htmx sends it in the ``X-CSRF-Token``
    header (``hx-headers`` on ``<body>``).
    """
    if request.method in SAFE_METHODS:
        return
    expected = web_session(request).csrf_token
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused(
            "the form's security token is missing or out of date: reload the page and try again"
        )
