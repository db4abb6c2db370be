"""Per-request context (request id, client address) carried through contextvars.

Set by the HTTP middleware and read by the audit trail and the logs, so that services need not
pass the request around.
"""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
client_address_var: ContextVar[str | None] = ContextVar("client_address", default=None)
