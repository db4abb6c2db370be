"""SQL of the professionals' sign-in (the tables of ``proauth.models`` only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.proauth.models import ProInvitation, ProPasskey, ProUsedNonce


class ProAuthRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- invitations
    def add_invitation(self, invitation: ProInvitation) -> None:
        self.session.add(invitation)
        self.session.flush()

    def invitation_by_hash(self, token_hash: bytes) -> ProInvitation | None:
        return self.session.scalar(
            select(ProInvitation).where(ProInvitation.token_hash == token_hash)
        )

    def use_invitation(self, invitation_id: int, now: datetime) -> bool:
        """Mark it used, once: False if another request used it first."""
        result = self.session.execute(
            update(ProInvitation)
            .where(ProInvitation.id == invitation_id, ProInvitation.used_at.is_(None))
            .values(used_at=now)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    # -- passkeys
    def add_passkey(self, passkey: ProPasskey) -> None:
        self.session.add(passkey)
        self.session.flush()

    def passkey_by_credential(self, credential_id: bytes) -> ProPasskey | None:
        return self.session.scalar(
            select(ProPasskey).where(ProPasskey.credential_id == credential_id)
        )

    def passkeys_of(self, professional_id: int) -> Sequence[ProPasskey]:
        return self.session.scalars(
            select(ProPasskey)
            .where(ProPasskey.professional_id == professional_id)
            .order_by(ProPasskey.created_at, ProPasskey.id)
        ).all()

    def remove_passkey(self, professional_id: int, passkey_id: int) -> bool:
        result = self.session.execute(
            delete(ProPasskey).where(
                ProPasskey.id == passkey_id, ProPasskey.professional_id == professional_id
            )
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    # -- nonces
    def use_nonce(self, digest: bytes, expires_at: datetime) -> bool:
        """Record a nonce as used; False if it already was (a replay). Expired nonces are
        deleted by ``purge_nonces`` (the ``proauth.purge_nonces`` job), not on the sign-in."""
        if self.session.get(ProUsedNonce, digest) is not None:
            return False
        try:
            with self.session.begin_nested():
                self.session.add(ProUsedNonce(digest=digest, expires_at=expires_at))
        except IntegrityError:
            return False  # a concurrent request recorded it first
        return True

    def purge_nonces(self, now: datetime) -> int:
        """Delete the nonces whose challenge or ID token can no longer be accepted anyway."""
        result = self.session.execute(delete(ProUsedNonce).where(ProUsedNonce.expires_at < now))
        return int(getattr(result, "rowcount", 0) or 0)
