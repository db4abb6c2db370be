"""Wiring of the web portals into the application: static files, pages, sessions, headers.

``install_web(app, settings)`` is called by ``carnet.main.create_app``. Third-party assets are
served from npm's ``node_modules`` (never committed): the DSFR under ``/static/vendor/dsfr`` and
htmx under ``/static/vendor/htmx``; our own files under ``/static/app``.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

from carnet.config import Settings
from carnet.logging import get_logger
from carnet.web.errors import render_error_page
from carnet.web.pages import router
from carnet.web.security import SecurityHeadersMiddleware
from carnet.web.sessions import WebSessionMiddleware

log = get_logger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
VENDOR = {"dsfr": ("@gouvfr", "dsfr", "dist"), "htmx": ("htmx.org", "dist")}


def node_modules(settings: Settings) -> Path:
    """``CARNET_WEB_ASSETS_DIR``, else the ``node_modules`` found walking up, else ./."""
    if settings.web_assets_dir is not None:
        return settings.web_assets_dir
    for parent in Path(__file__).resolve().parents:
        if (parent / "node_modules" / "@gouvfr" / "dsfr").is_dir():
            return parent / "node_modules"
    return Path(os.getcwd()) / "node_modules"


def install_web(app: FastAPI, settings: Settings) -> None:
    modules = node_modules(settings)
    for name, parts in VENDOR.items():
        directory = modules.joinpath(*parts)
        if not directory.is_dir():
            log.warning("web_assets_missing", directory=str(directory), hint="run `make setup`")
        app.mount(
            f"/static/vendor/{name}",
            StaticFiles(directory=directory, check_dir=False),
            name=f"vendor-{name}",
        )
    app.mount("/static/app", StaticFiles(directory=STATIC_DIR), name="app-static")

    @app.get("/manifest.webmanifest", include_in_schema=False)
    def manifest() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "manifest.webmanifest", media_type="application/manifest+json"
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC_DIR / "icons" / "carnet-192.png", media_type="image/png")

    app.include_router(router)
    app.state.html_error_page = render_error_page
    # Added last, so they run first (outermost): headers and session wrap every page.
    app.add_middleware(WebSessionMiddleware, settings=settings)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.env == "production")
