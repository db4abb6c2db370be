"""All SQL of the operators domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.operators.models import (
    Operator,
    OperatorInvitation,
    OperatorPasskey,
    OperatorUsedNonce,
)


class OperatorRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- accounts -------------------------------------------------------------------------------

    def add(self, operator: Operator) -> Operator:
        self.session.add(operator)
        self.session.flush()
        return operator

    def get(self, operator_id: int) -> Operator | None:
        return self.session.get(Operator, operator_id)

    def by_email(self, email: str) -> Operator | None:
        return self.session.scalars(select(Operator).where(Operator.email == email)).first()

    def all(self) -> Sequence[Operator]:
        return self.session.scalars(select(Operator).order_by(Operator.name, Operator.id)).all()

    # -- invitations ----------------------------------------------------------------------------

    def add_invitation(self, invitation: OperatorInvitation) -> OperatorInvitation:
        self.session.add(invitation)
        self.session.flush()
        return invitation

    def invitation(self, token_hash: bytes) -> OperatorInvitation | None:
        return self.session.scalars(
            select(OperatorInvitation).where(OperatorInvitation.token_hash == token_hash)
        ).first()

    def close_invitations(self, operator_id: int, now: datetime) -> None:
        """Mark the operator's unused invitations used (a new link replaces the old ones)."""
        for invitation in self.session.scalars(
            select(OperatorInvitation).where(
                OperatorInvitation.operator_id == operator_id,
                OperatorInvitation.used_at.is_(None),
            )
        ):
            invitation.used_at = now
        self.session.flush()

    # -- passkeys -------------------------------------------------------------------------------

    def add_passkey(self, passkey: OperatorPasskey) -> OperatorPasskey:
        self.session.add(passkey)
        self.session.flush()
        return passkey

    def passkey(self, credential_id: bytes) -> OperatorPasskey | None:
        return self.session.scalars(
            select(OperatorPasskey).where(OperatorPasskey.credential_id == credential_id)
        ).first()

    def passkeys_of(self, operator_id: int) -> Sequence[OperatorPasskey]:
        return self.session.scalars(
            select(OperatorPasskey).where(OperatorPasskey.operator_id == operator_id)
        ).all()

    # -- used nonces ----------------------------------------------------------------------------

    def use_nonce(self, nonce: bytes, expires_at: datetime) -> bool:
        """Record a sign-in challenge's nonce; False if it was already used. Expired nonces are
        deleted by ``purge_nonces`` (the ``operators.purge_nonces`` job), not on the sign-in."""
        try:
            with self.session.begin_nested():
                self.session.add(OperatorUsedNonce(nonce=nonce, expires_at=expires_at))
        except IntegrityError:
            return False
        return True

    def purge_nonces(self, now: datetime) -> int:
        """Delete the nonces of challenges that can no longer be accepted anyway."""
        result = self.session.execute(
            delete(OperatorUsedNonce).where(OperatorUsedNonce.expires_at < now)
        )
        return int(getattr(result, "rowcount", 0) or 0)
