"""HTTP API of the rights domain."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
