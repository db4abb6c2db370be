"""HTTP API of the cards domain."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
