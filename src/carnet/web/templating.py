"""Jinja2 rendering: one environment per language (gettext installed once, thread-safe)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from carnet.web import i18n
from carnet.web.security import CSRF_FIELD
from carnet.web.sessions import WebSession

TEMPLATES_DIR = Path(__file__).parent / "templates"


@lru_cache
def environment(code: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.language(code).translations, newstyle=True)  # type: ignore[attr-defined]
    return env


def request_language(request: Request) -> str:
    code: str | None = getattr(request.state, "language", None)
    if code is None:
        code = i18n.negotiate(
            request.cookies.get(i18n.LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
        request.state.language = code
    return code


def gettext(request: Request, message: str) -> str:
    """Translate a text from Python code (form errors) in the request's language."""
    return i18n.language(request_language(request)).gettext(message)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    title: str | None = None,
) -> HTMLResponse:
    code = request_language(request)
    session: WebSession | None = getattr(request.state, "web_session", None)
    values: dict[str, Any] = {
        "lang": code,
        "languages": i18n.LANGUAGES,
        "path": request.url.path,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "csrf_field": CSRF_FIELD,
        "csrf_token": session.csrf_token if session else "",
        "session": session,
        "page_title": title,
    }
    values.update(context or {})
    html = environment(code).get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers={"Content-Language": code})
