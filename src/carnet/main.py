"""The application factory: settings → database → services → routers, middleware and handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from carnet.auth.endpoints import router as oauth_router
from carnet.auth.service import AuthService
from carnet.config import Settings, get_settings
from carnet.db import Database
from carnet.errors import install_error_handlers
from carnet.identity.endpoints import router as identity_router
from carnet.logging import configure_logging
from carnet.observability import Metrics, RequestContextMiddleware

API_DESCRIPTION = """
Carnet: the national health identity register with an INSi-like lookup, identity-vigilance for
care structures, and FHIR R4 (FR Core) endpoints under `/fhir`.

Every route needs an OAuth 2.0 bearer token from `POST /oauth2/token` (client credentials).
"""


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    database = database or Database(settings.database_url, pool_size=settings.db_pool_size)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from carnet.mail.sink import start_development_sink

        # Development without SMTP: an embedded sink receives the mail (`carnet mail list`).
        mail_sink = start_development_sink(settings)
        # Scheduled jobs (space openings, purges...) every jobs_interval_seconds; never in tests.
        background_jobs = None
        if settings.jobs_interval_seconds > 0 and settings.env != "test":
            from carnet.jobs.service import BackgroundJobs

            background_jobs = BackgroundJobs(database, settings)
            background_jobs.start()
        yield
        if background_jobs is not None:
            await background_jobs.stop()
        if mail_sink is not None:
            mail_sink.stop()
        database.dispose()

    app = FastAPI(
        title="Carnet",
        version="0.1.0",
        description=API_DESCRIPTION,
        # /docs is for the health documents pages; the API reference lives under /api.
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.auth_service = AuthService.from_settings(settings)
    metrics = Metrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(oauth_router)
    app.include_router(identity_router)
    _install_optional_routers(app)
    _install_operational_routes(app)
    from carnet.web.app import install_web

    install_web(app, settings)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, router_owner=app.router)
    return app


def _install_optional_routers(app: FastAPI) -> None:
    # Imported here so that a domain under construction cannot break start-up of the others.
    from carnet.access.endpoints import router as access_router
    from carnet.access.service import access_service
    from carnet.apcv.endpoints import router as apcv_router
    from carnet.cards.endpoints import router as cards_router
    from carnet.directory.endpoints import router as directory_router
    from carnet.documents.endpoints import router as documents_router
    from carnet.fhir.access_history import router as fhir_access_history_router
    from carnet.fhir.documents import router as fhir_documents_router
    from carnet.fhir.profile import router as fhir_profile_router
    from carnet.fhir.router import router as fhir_router
    from carnet.profile.endpoints import router as profile_router
    from carnet.rights.endpoints import router as rights_router
    from carnet.space.endpoints import router as space_router
    from carnet.vigilance.endpoints import router as vigilance_router

    # FastAPI tries the routers in this order, every route of each (≈ 5 µs a route): the hot
    # national endpoints (card context, documents, FHIR $match) come first, the rare ones after.
    # Measured: the document list's route was found after ≈ 110 others, 0.6 ms a request.
    app.include_router(apcv_router)
    app.include_router(documents_router)
    app.include_router(fhir_router)
    app.include_router(vigilance_router)
    app.include_router(directory_router)
    app.include_router(rights_router)
    app.include_router(cards_router)
    app.include_router(profile_router)
    app.include_router(fhir_profile_router)
    app.include_router(space_router)
    app.include_router(fhir_documents_router)
    # The health space's access rules and history (they send mail with the app's settings).
    access_service.configure(app.state.settings)
    app.include_router(access_router)
    app.include_router(fhir_access_history_router)


def _install_operational_routes(app: FastAPI) -> None:
    @app.get("/api", include_in_schema=False)
    def index() -> dict[str, str]:
        # The root is the web portals' home page; /api tells a program where the APIs are.
        return {
            "service": "Carnet — national health identity (INS) platform",
            "openapi": "/api/openapi.json",
            "fhir": "/fhir/metadata",
            "token": "/oauth2/token",
            "health": "/healthz",
        }

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        database: Database = request.app.state.database
        try:
            with database.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "database": type(exc).__name__}, status_code=503
            )
        return JSONResponse({"status": "ready", "database": database.dialect})

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        registry = request.app.state.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
