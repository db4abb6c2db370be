"""Who is calling: the authenticated software client behind a request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    scopes: frozenset[str]
    structure_id: int | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return f"client:{self.client_id}"

    def has(self, scope: str) -> bool:
        return scope in self.scopes


# The platform itself (CLI, jobs, imports) when it touches people's data.
SYSTEM = Principal(client_id="system", scopes=frozenset())
