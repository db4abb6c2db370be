"""What the health-space FHIR adapters share (documents, profile, the holder's access history):
the base URL of links and the paged searchset Bundle."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from carnet.fhir.search import Params, search_url, searchset


def fhir_base(request: Request, path: str = "/fhir") -> str:
    """The absolute base of the links in answers (``https://host/fhir``)."""
    return str(request.base_url).rstrip("/") + path


def paged_searchset(
    base: str,
    resource_type: str,
    used: Params,
    entries: list[dict[str, Any]],
    *,
    total: int | None,
    page_param: str,
    next_value: str | None,
) -> dict[str, Any]:
    """A searchset Bundle of one page; its ``next`` link (when ``next_value`` is given) repeats
    the search with ``page_param=next_value`` (``_offset`` or ``_cursor``)."""
    kept = [(n, v) for n, v in used if n != page_param]
    next_url = (
        search_url(base, resource_type, [*kept, (page_param, next_value)])
        if next_value is not None
        else None
    )
    return searchset(
        self_url=search_url(base, resource_type, used),
        entries=entries,
        total=total,
        next_url=next_url,
    )
