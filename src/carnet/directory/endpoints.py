"""HTTP API of the directory domain."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
