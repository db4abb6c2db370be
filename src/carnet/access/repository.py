"""All SQL of the access domain (grants, blocks, settings, relatives, matrix, history)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.orm import Session

from carnet.access.models import (
    AccessAidant,
    AccessBlock,
    AccessGrant,
    AccessHistory,
    AccessMatrixRule,
    AccessSettings,
)


class AccessRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- grants (professionals) -------------------------------------------------------------------

    def active_grants(
        self, person_id: int, professional_id: int, now: datetime
    ) -> Sequence[AccessGrant]:
        return self.session.scalars(
            select(AccessGrant)
            .where(
                AccessGrant.person_id == person_id,
                AccessGrant.professional_id == professional_id,
                AccessGrant.revoked_at.is_(None),
                or_(AccessGrant.expires_at.is_(None), AccessGrant.expires_at > now),
            )
            .order_by(AccessGrant.granted_at.desc(), AccessGrant.id.desc())
        ).all()

    def grants_of(self, person_id: int, now: datetime) -> Sequence[AccessGrant]:
        return self.session.scalars(
            select(AccessGrant)
            .where(
                AccessGrant.person_id == person_id,
                AccessGrant.revoked_at.is_(None),
                or_(AccessGrant.expires_at.is_(None), AccessGrant.expires_at > now),
            )
            .order_by(AccessGrant.granted_at.desc(), AccessGrant.id.desc())
        ).all()

    def add_grant(self, grant: AccessGrant) -> AccessGrant:
        self.session.add(grant)
        self.session.flush()
        return grant

    def revoke_grants(
        self, person_id: int, professional_id: int, bases: Iterable[str], now: datetime
    ) -> int:
        result = self.session.execute(
            update(AccessGrant)
            .where(
                AccessGrant.person_id == person_id,
                AccessGrant.professional_id == professional_id,
                AccessGrant.basis.in_(list(bases)),
                AccessGrant.revoked_at.is_(None),
                or_(AccessGrant.expires_at.is_(None), AccessGrant.expires_at > now),
            )
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -- blocks -----------------------------------------------------------------------------------

    def is_blocked(self, person_id: int, professional_id: int) -> bool:
        return bool(
            self.session.scalar(
                select(
                    exists().where(
                        AccessBlock.person_id == person_id,
                        AccessBlock.professional_id == professional_id,
                    )
                )
            )
        )

    def add_block(self, block: AccessBlock) -> AccessBlock:
        self.session.add(block)
        self.session.flush()
        return block

    def blocks_of(self, person_id: int) -> Sequence[AccessBlock]:
        return self.session.scalars(
            select(AccessBlock)
            .where(AccessBlock.person_id == person_id)
            .order_by(AccessBlock.created_at, AccessBlock.id)
        ).all()

    def remove_block(self, person_id: int, professional_id: int) -> bool:
        result = self.session.execute(
            delete(AccessBlock)
            .where(
                AccessBlock.person_id == person_id,
                AccessBlock.professional_id == professional_id,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # -- settings ---------------------------------------------------------------------------------

    def settings_of(self, person_id: int) -> AccessSettings | None:
        return self.session.get(AccessSettings, person_id)

    def settings_for_update(self, person_id: int) -> AccessSettings | None:
        return self.session.scalars(
            select(AccessSettings).where(AccessSettings.person_id == person_id).with_for_update()
        ).first()

    def add_settings(self, settings: AccessSettings) -> AccessSettings:
        self.session.add(settings)
        self.session.flush()
        return settings

    # -- relatives (aidants) ----------------------------------------------------------------------

    def active_aidant(
        self, person_id: int, delegate_person_id: int, now: datetime
    ) -> AccessAidant | None:
        return self.session.scalars(
            select(AccessAidant)
            .where(
                AccessAidant.person_id == person_id,
                AccessAidant.delegate_person_id == delegate_person_id,
                AccessAidant.revoked_at.is_(None),
                or_(AccessAidant.ends_at.is_(None), AccessAidant.ends_at > now),
            )
            .order_by(AccessAidant.created_at.desc(), AccessAidant.id.desc())
        ).first()

    def aidants_of(self, person_id: int, now: datetime) -> Sequence[AccessAidant]:
        return self.session.scalars(
            select(AccessAidant)
            .where(
                AccessAidant.person_id == person_id,
                AccessAidant.revoked_at.is_(None),
                or_(AccessAidant.ends_at.is_(None), AccessAidant.ends_at > now),
            )
            .order_by(AccessAidant.created_at, AccessAidant.id)
        ).all()

    def get_aidant(self, person_id: int, aidant_id: int) -> AccessAidant | None:
        row = self.session.get(AccessAidant, aidant_id)
        return row if row is not None and row.person_id == person_id else None

    def add_aidant(self, aidant: AccessAidant) -> AccessAidant:
        self.session.add(aidant)
        self.session.flush()
        return aidant

    # -- the access matrix ------------------------------------------------------------------------

    def matrix_rules(self, profession_code: str) -> Sequence[AccessMatrixRule]:
        return self.session.scalars(
            select(AccessMatrixRule).where(AccessMatrixRule.profession_code == profession_code)
        ).all()

    def matrix_is_empty(self) -> bool:
        return not self.session.scalar(select(exists().where(AccessMatrixRule.id.is_not(None))))

    def replace_matrix(self, rules: Iterable[AccessMatrixRule]) -> int:
        self.session.execute(delete(AccessMatrixRule))
        count = 0
        for rule in rules:
            self.session.add(rule)
            count += 1
        self.session.flush()
        return count

    def all_matrix_rules(self) -> Sequence[AccessMatrixRule]:
        return self.session.scalars(
            select(AccessMatrixRule).order_by(
                AccessMatrixRule.profession_code,
                AccessMatrixRule.specialty_code,
                AccessMatrixRule.type_code,
            )
        ).all()

    # -- history ----------------------------------------------------------------------------------

    def add_history(self, row: AccessHistory) -> AccessHistory:
        self.session.add(row)
        self.session.flush()
        return row

    def history_page(
        self, person_id: int, *, limit: int, before_id: int | None, actor_kind: str | None = None
    ) -> Sequence[AccessHistory]:
        """Newest first; ``limit + 1`` rows are read so the caller knows whether more follow.
        ``actor_kind``: only that kind of actor's accesses."""
        query = select(AccessHistory).where(AccessHistory.person_id == person_id)
        if actor_kind is not None:
            query = query.where(AccessHistory.actor_kind == actor_kind)
        if before_id is not None:
            query = query.where(AccessHistory.id < before_id)
        return self.session.scalars(query.order_by(AccessHistory.id.desc()).limit(limit + 1)).all()

    # -- purge ------------------------------------------------------------------------------------

    def purge_person(self, person_id: int) -> int:
        total = 0
        for model in (AccessGrant, AccessBlock, AccessSettings, AccessAidant, AccessHistory):
            result = self.session.execute(
                delete(model)
                .where(model.person_id == person_id)
                .execution_options(synchronize_session=False)
            )
            total += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return total
