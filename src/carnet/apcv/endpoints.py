"""HTTP API of the apcv domain."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
