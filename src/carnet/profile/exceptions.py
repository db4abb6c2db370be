"""Errors of the profile domain (besides the platform's NotFound, Conflict, Forbidden…)."""

from __future__ import annotations

from carnet.exceptions import AppError


class Gone(AppError):
    """The resource was deleted (its earlier versions stay readable in its history)."""

    status_code = 410
    code = "resource_deleted"


class PreconditionRequired(AppError):
    """An update must name the version it replaces (If-Match or meta.versionId)."""

    status_code = 428
    code = "version_required"
