"""FHIR search plumbing: parameter checking (strict or lenient), tokens, dates, counts, Bundles.

Unknown search parameters are refused with a 400 naming them, unless the client sent
``Prefer: handling=lenient`` (FHIR R4 search §3.1.1.3.7), in which case they are ignored and left
out of the ``self`` link, which shows the search actually performed. ``_format`` and ``_pretty``
are always tolerated.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from carnet.exceptions import BadRequest
from carnet.fhir.outcomes import located

ALWAYS_TOLERATED = frozenset({"_format", "_pretty"})

Params = list[tuple[str, str]]


def prefers_lenient(prefer: str | None) -> bool:
    """True when a ``Prefer`` header asks for ``handling=lenient``."""
    for token in re.split(r"[,;]", prefer or ""):
        name, _, value = token.strip().partition("=")
        if name.strip().lower() == "handling" and value.strip().strip('"').lower() == "lenient":
            return True
    return False


def check_parameters(
    params: Iterable[tuple[str, str]], supported: Iterable[str], *, lenient: bool
) -> Params:
    """The parameters to act upon: unknown ones are an error (strict) or dropped (lenient).

    A parameter with a modifier (``identifier:of-type``) is unknown unless listed with it.
    """
    known = set(supported)
    used: Params = []
    unknown: list[str] = []
    for name, value in params:
        if name in ALWAYS_TOLERATED:
            continue
        if name in known:
            used.append((name, value))
        elif not lenient:
            unknown.append(name)
    if unknown:
        names = ", ".join(sorted(set(unknown)))
        raise BadRequest(
            f"unknown or unsupported search parameter(s): {names}; supported: "
            f"{', '.join(sorted(known))} (send 'Prefer: handling=lenient' to ignore them)",
            code="unknown_search_parameter",
            details=[
                {"field": name, "message": f"{name}: unknown or unsupported search parameter"}
                for name in sorted(set(unknown))
            ],
        )
    return used


def single(params: Params, name: str) -> str | None:
    """The value of a parameter that may appear at most once."""
    values = [v for n, v in params if n == name]
    if len(values) > 1:
        raise located(
            BadRequest(
                f"{name}: give this parameter once (separate alternatives with commas)",
                code="repeated_search_parameter",
            ),
            name,
        )
    return values[0] if values else None


def split_or(value: str) -> list[str]:
    """The comma-separated alternatives of a value (``\\,`` is a literal comma)."""
    parts = re.split(r"(?<!\\),", value)
    return [p.replace("\\,", ",").strip() for p in parts if p.strip()]


def parse_token(value: str) -> tuple[str | None, str]:
    """``system|code`` → (system, code); ``|code`` → ("", code); ``code`` → (None, code)."""
    if "|" in value:
        system, _, code = value.partition("|")
        return system.strip(), code.strip()
    return None, value.strip()


def parse_count(value: str | None, *, default: int, maximum: int, name: str = "_count") -> int:
    """``_count``: a non-negative integer, capped at ``maximum`` (FHIR lets a server page less)."""
    if value is None:
        return default
    if not re.fullmatch(r"\d{1,9}", value.strip(), re.ASCII):
        raise located(
            BadRequest(
                f"{name}: {value!r} is not a non-negative integer", code="invalid_search_parameter"
            ),
            name,
        )
    return min(int(value), maximum)


_DATE_RE = re.compile(
    r"(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
    r"(?P<value>(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?)",
    re.ASCII,
)


@dataclass(frozen=True)
class DateBounds:
    """recorded_from (inclusive) and recorded_before (exclusive), in UTC."""

    start: datetime | None = None
    end: datetime | None = None

    def narrow(self, other: DateBounds) -> DateBounds:
        starts = [d for d in (self.start, other.start) if d is not None]
        ends = [d for d in (self.end, other.end) if d is not None]
        return DateBounds(max(starts) if starts else None, min(ends) if ends else None)


def _date_range(match: re.Match[str]) -> tuple[datetime, datetime]:
    """The implicit range [start, end) of a FHIR date or dateTime at its precision (UTC)."""
    year = int(match["year"])
    if match["time"]:
        text = f"{match['year']}-{match['month']}-{match['day']}T{match['time']}"
        moment = datetime.fromisoformat(text + (match["tz"] or "Z").replace("Z", "+00:00"))
        digits = match["time"]
        step = (
            timedelta(minutes=1)
            if len(digits) == 5
            else timedelta(seconds=1)
            if len(digits) == 8
            else timedelta(microseconds=10 ** (6 - len(digits.split(".")[1])))
        )
        start = moment.astimezone(UTC)
        return start, start + step
    if match["day"]:
        start = datetime(year, int(match["month"]), int(match["day"]), tzinfo=UTC)
        return start, start + timedelta(days=1)
    if match["month"]:
        month = int(match["month"])
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        return start, end
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def parse_date(value: str, *, name: str = "date") -> DateBounds:
    """A date search value (``ge2026-01-01``, ``2026-03``, ``lt2026-01-01T10:00:00Z``) as bounds.

    Prefixes eq (default), ge, gt, le, lt, and sa/eb (same as gt/lt for an instant) are
    supported; ne and ap are refused. A date without a time zone is read in UTC.
    """
    match = _DATE_RE.fullmatch(value.strip())
    if match is None:
        raise located(
            BadRequest(
                f"{name}: {value!r} is not a FHIR date search value (e.g. ge2026-01-01, "
                "2026-03, lt2026-01-01T10:00:00Z)",
                code="invalid_search_parameter",
            ),
            name,
        )
    prefix = match["prefix"] or "eq"
    if prefix in ("ne", "ap"):
        raise located(
            BadRequest(
                f"{name}: the prefix {prefix} is not supported (use eq, ge, gt, le, lt, sa, eb)",
                code="invalid_search_parameter",
            ),
            name,
        )
    try:
        start, end = _date_range(match)
    except (ValueError, OverflowError) as exc:  # OverflowError: past 9999-12-31 or before year 1
        raise located(
            BadRequest(
                f"{name}: {value!r} is not a valid date ({exc})",
                code="invalid_search_parameter",
            ),
            name,
        ) from exc
    if prefix == "eq":
        return DateBounds(start, end)
    if prefix == "ge":
        return DateBounds(start=start)
    if prefix in ("gt", "sa"):
        return DateBounds(start=end)
    if prefix == "le":
        return DateBounds(end=end)
    return DateBounds(end=start)  # lt, eb


def search_url(base: str, path: str, params: Sequence[tuple[str, str]]) -> str:
    query = urlencode(list(params))
    return f"{base}/{path}" + (f"?{query}" if query else "")


def match_entry(
    full_url: str,
    resource: dict[str, Any],
    *,
    score: float | None = None,
    extensions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    search: dict[str, Any] = {"mode": "match"}
    if extensions:
        search["extension"] = extensions
    if score is not None:
        search["score"] = score
    return {"fullUrl": full_url, "resource": resource, "search": search}


def outcome_entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": resource,
        "search": {"mode": "outcome"},
    }


def searchset(
    *,
    self_url: str,
    entries: list[dict[str, Any]],
    total: int | None,
    next_url: str | None = None,
) -> dict[str, Any]:
    """A searchset Bundle; ``total`` counts matches only (not outcome entries)."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": now},
        "type": "searchset",
        "timestamp": now,
    }
    if total is not None:
        bundle["total"] = total
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    bundle["link"] = links
    if entries:
        bundle["entry"] = entries
    return bundle
