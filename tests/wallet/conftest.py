"""The wallet's tests reuse the card fixtures: register persons, mail sink, activation."""

from __future__ import annotations

from ..cards.conftest import activate, people, settings

__all__ = ["activate", "people", "settings"]
