"""Tables of the apcv domain."""

from __future__ import annotations
