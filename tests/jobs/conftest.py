"""The jobs tests reuse the health-space fixtures (a family, the in-process command line)."""

from __future__ import annotations

from ..space.conftest import cli, family

__all__ = ["cli", "family"]
