"""Tables of the cards domain."""

from __future__ import annotations
