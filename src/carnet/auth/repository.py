from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.auth.models import OAuthClient, UsedClientAssertion


class ClientRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_by_client_id(self, client_id: str) -> OAuthClient | None:
        return self.session.scalars(
            select(OAuthClient).where(OAuthClient.client_id == client_id)
        ).one_or_none()

    def add(self, client: OAuthClient) -> OAuthClient:
        self.session.add(client)
        self.session.flush()
        return client

    def list_all(self) -> list[OAuthClient]:
        return list(self.session.scalars(select(OAuthClient).order_by(OAuthClient.id)))

    def remember_assertion(
        self, client_id: str, jti: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Record an assertion id; False when it was already used (a replay)."""
        self.session.execute(
            delete(UsedClientAssertion).where(UsedClientAssertion.expires_at < now)
        )
        try:
            with self.session.begin_nested():
                self.session.add(
                    UsedClientAssertion(jti=jti, client_id=client_id, expires_at=expires_at)
                )
        except IntegrityError:
            return False
        return True
