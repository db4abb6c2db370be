"""What the operators service returns (plain data, no ORM object leaves the domain)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class OperatorOut(BaseModel):
    id: int
    name: str
    email: str
    role: str
    active: bool
    created_at: datetime
    passkeys: int = 0


class Invitation(BaseModel):
    """A new enrolment link's token (shown once; only its hash is stored)."""

    operator: OperatorOut
    token: str
    expires_at: datetime

    @property
    def path(self) -> str:
        return f"/gestion/enrolement/{self.token}"
