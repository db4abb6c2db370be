"""Structured JSON logs carrying the request id (and the acting client) through contextvars."""

from __future__ import annotations

import logging
import sys

import orjson
import structlog

from carnet.config import Settings

# Keys whose values must never reach a log line, whatever the caller passes.
_SECRET_KEYS = {"client_secret", "secret", "password", "authorization", "access_token", "token"}


def _redact_secrets(
    _logger: object, _name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    for key in list(event_dict):
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


def _orjson_text(event_dict: object, **_options: object) -> str:
    # One access-log line per request: orjson renders it several times faster than json.
    return orjson.dumps(event_dict, default=str).decode()


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelName(settings.log_level.upper())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_orjson_text)
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger


def bind_actor(actor: str) -> None:
    structlog.contextvars.bind_contextvars(actor=actor)
