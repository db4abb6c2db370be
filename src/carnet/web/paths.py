"""Which requests belong to the web portals (HTML) and which to the APIs (JSON, FHIR): decided
once, in ``carnet.errors`` (which renders the errors of both)."""

from __future__ import annotations

from carnet.errors import PROGRAM_PREFIXES, is_page

__all__ = ["PROGRAM_PREFIXES", "is_page"]
