"""Request id, access log and Prometheus metrics in one pure ASGI middleware (cheap per call)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carnet.kit.context import client_address_var, request_id_var
from carnet.logging import get_logger

log = get_logger("carnet.http")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "carnet_http_requests_total",
            "HTTP requests by route template, method and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "carnet_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )


def _route_template(app: Any, scope: Scope) -> str:
    # The template ("/fhir/Patient/{id}") keeps the metrics' cardinality bounded.
    for route in getattr(app, "routes", []):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", scope["path"]))
    return "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, router_owner: Any) -> None:
        self.app = app
        self.metrics = metrics
        self.router_owner = router_owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = (
            incoming if 8 <= len(incoming) <= 64 and incoming.isascii() else str(uuid.uuid4())
        )
        client = scope.get("client")
        address = client[0] if client else None
        request_id_var.set(request_id)
        client_address_var.set(address)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            # The router records the matched route in the scope; only unmatched paths are searched.
            matched = scope.get("route")
            route = (
                str(matched.path)
                if matched is not None and hasattr(matched, "path")
                else _route_template(self.router_owner, scope)
            )
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            if route not in ("/metrics", "/healthz", "/readyz"):
                state = scope.get("state") or {}
                log.info(
                    "request",
                    actor=state.get("actor"),
                    method=method,
                    path=scope["path"],
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    client_address=address,
                )
