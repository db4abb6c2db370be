"""All SQL of the profile domain (the ``profile_resources`` versions table)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from carnet.profile.models import ProfileResource


@dataclass(frozen=True, slots=True)
class Filters:
    """Search criteria on the indexed columns (None: any)."""

    public_ids: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    # (system or None, code) alternatives
    codes: tuple[tuple[str | None, str], ...] | None = None
    effective_from: datetime | None = None
    effective_before: datetime | None = None


class ProfileRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def current(self, public_id: str) -> ProfileResource | None:
        """The current version of a resource (deleted or not), whatever its space."""
        return self.session.scalars(
            select(ProfileResource).where(
                ProfileResource.public_id == public_id, ProfileResource.is_current.is_(True)
            )
        ).one_or_none()

    def version(self, public_id: str, version: int) -> ProfileResource | None:
        return self.session.scalars(
            select(ProfileResource).where(
                ProfileResource.public_id == public_id, ProfileResource.version == version
            )
        ).one_or_none()

    def versions(self, public_id: str) -> Sequence[ProfileResource]:
        """Every version, newest first."""
        return self.session.scalars(
            select(ProfileResource)
            .where(ProfileResource.public_id == public_id)
            .order_by(ProfileResource.version.desc())
        ).all()

    def live_ids(self, person_id: int, resource_type: str, public_ids: Sequence[str]) -> set[str]:
        """Which of these ids are current, non-deleted resources of this type in this space."""
        if not public_ids:
            return set()
        rows = self.session.scalars(
            select(ProfileResource.public_id).where(
                ProfileResource.person_id == person_id,
                ProfileResource.resource_type == resource_type,
                ProfileResource.is_current.is_(True),
                ProfileResource.deleted.is_(False),
                ProfileResource.public_id.in_(list(public_ids)),
            )
        )
        return set(rows)

    def _live(self, person_id: int, resource_type: str | None, filters: Filters) -> list[object]:
        clauses: list[object] = [
            ProfileResource.person_id == person_id,
            ProfileResource.is_current.is_(True),
            ProfileResource.deleted.is_(False),
        ]
        if resource_type is not None:
            clauses.append(ProfileResource.resource_type == resource_type)
        if filters.public_ids is not None:
            clauses.append(ProfileResource.public_id.in_(filters.public_ids))
        if filters.categories is not None:
            clauses.append(ProfileResource.category.in_(filters.categories))
        if filters.codes is not None:
            alternatives = [
                and_(ProfileResource.code == code, ProfileResource.code_system == system)
                if system
                else ProfileResource.code == code
                for system, code in filters.codes
            ]
            clauses.append(or_(*alternatives))
        if filters.effective_from is not None:
            clauses.append(ProfileResource.effective_at >= filters.effective_from)
        if filters.effective_before is not None:
            clauses.append(ProfileResource.effective_at < filters.effective_before)
        return clauses

    def search(
        self,
        person_id: int,
        resource_type: str | None,
        filters: Filters,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> Sequence[ProfileResource]:
        """Current resources, most recent clinical date first (undated last), then newest."""
        statement = (
            select(ProfileResource)
            .where(*self._live(person_id, resource_type, filters))  # type: ignore[arg-type]
            .order_by(
                ProfileResource.effective_at.desc().nulls_last(),
                ProfileResource.id.desc(),
            )
            .offset(offset)
        )
        if limit is not None:
            statement = statement.limit(limit)
        return self.session.scalars(statement).all()

    def count(self, person_id: int, resource_type: str, filters: Filters) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(ProfileResource)
                .where(*self._live(person_id, resource_type, filters))  # type: ignore[arg-type]
            )
            or 0
        )

    def retire(self, public_id: str, version: int) -> bool:
        """Make ``version`` no longer current; False when it is not the current version (a stale
        write: someone else wrote a newer version first)."""
        result = self.session.execute(
            update(ProfileResource)
            .where(
                ProfileResource.public_id == public_id,
                ProfileResource.version == version,
                ProfileResource.is_current.is_(True),
            )
            .values(is_current=False)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def add(self, row: ProfileResource) -> ProfileResource:
        self.session.add(row)
        self.session.flush()
        return row

    def purge_person(self, person_id: int) -> int:
        result = self.session.execute(
            delete(ProfileResource)
            .where(ProfileResource.person_id == person_id)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)
