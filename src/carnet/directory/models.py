"""Tables of the directory domain."""

from __future__ import annotations
