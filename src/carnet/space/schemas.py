"""Bodies of the space domain's API: a health space and what its holder can do next."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class SpaceState(StrEnum):
    PENDING = "pending"  # information sent (or about to be): the objection window is open
    OPEN = "open"
    OBJECTED = "objected"  # the person (or a representative) refused the space
    CLOSED = "closed"  # archived until purge_after, restored by a re-opening
    PURGED = "purged"  # archived data deleted for good


class NextAction(BaseModel):
    action: str = Field(description="objection, opening, closure, deletion-request, reopening")
    method: str = "POST"
    path: str
    description: str


class SpaceOut(BaseModel):
    person_id: int
    state: SpaceState
    channel: str | None = Field(
        description="How the information message went out: email, letter (None: not yet)"
    )
    information_sent_at: datetime | None
    objection_deadline: datetime | None = Field(
        description="Without objection, the space opens automatically at this moment"
    )
    opened_at: datetime | None
    opened_how: str | None = Field(description="holder, representative or automatic")
    objected_at: datetime | None
    closed_at: datetime | None
    purge_after: datetime | None = Field(
        description="A closed space's archive is deleted for good after this moment"
    )
    deletion_requested_at: datetime | None
    purged_at: datetime | None
    version: int
    next_actions: list[NextAction]


class InformReport(BaseModel):
    """What one run of the information step did."""

    created: int = 0
    informed_by_email: int = 0
    informed_by_letter: int = 0
    deferred: int = 0  # to retry: mail server unavailable, or a child with no representative
