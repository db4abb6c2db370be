"""Who is calling: the authenticated software client behind a request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    scopes: frozenset[str]
    structure_id: int | None = None
    # A professional's software: the directory entry the client is bound to.
    professional_id: int | None = None
    # A card holder (insured person) signed in with their card: see ``HOLDER_SCOPE``.
    person_id: int | None = None
    card_id: int | None = None
    # A back-office operator (``carnet.operators``) acting through the back office's pages.
    operator_id: int | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        if self.operator_id is not None:
            return f"operator:{self.operator_id}"
        if self.person_id is not None:
            return f"holder:{self.person_id}"
        return f"client:{self.client_id}"

    def has(self, scope: str) -> bool:
        return scope in self.scopes


# The platform itself (CLI, jobs, imports) when it touches people's data.
SYSTEM = Principal(client_id="system", scopes=frozenset())
