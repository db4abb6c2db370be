"""The health-space authorization chokepoint and the access history.

Every route that reads or changes a health space (documents, profile, lifecycle, settings,
history) calls ``access_service.authorize`` first and ``access_service.record`` after the access,
in the same transaction. Nothing else decides who may see a person's health data.

FIRST VERSION (skeleton): only the holder's own space is authorised; the rules for parents,
relatives, professionals (consent, care relationship, blocks, access matrix), emergency access
and the space's state are being written in this module.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from carnet.access.policy import Action, ActorKind, Area, SpaceGrant
from carnet.audit import get_audit_service
from carnet.auth.principal import Principal
from carnet.exceptions import BadRequest, Forbidden, NotFound

ME = "me"


class AccessService:
    def resolve_person(self, session: Session, principal: Principal, person_ref: str) -> int:
        """The person key a REST path names: ``me`` (the signed-in holder) or a register person
        id (a child, a relative who gave access, a professional's patient). 404 when unknown."""
        if person_ref == ME:
            if principal.person_id is None:
                raise BadRequest(
                    "'me' names the signed-in holder: this token is not a holder's",
                    code="not_a_holder",
                )
            return principal.person_id
        if not person_ref.isdigit() or len(person_ref) > 18:
            raise NotFound(f"no health space {person_ref!r}", code="unknown_space")
        return int(person_ref)

    def authorize(
        self,
        session: Session,
        principal: Principal,
        person_id: int,
        area: Area,
        action: Action,
        *,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> SpaceGrant:
        """Decide whether ``principal`` may do ``action`` on ``area`` of ``person_id``'s space.

        ``professional_rpps`` names the acting professional when the client is bound to a
        structure rather than to one professional (header ``X-Professional-RPPS``).
        Raises ``NotFound`` (no such space, or one the caller may not know about) or
        ``Forbidden`` with a stable code and a reason the caller can act on.
        """
        if principal.person_id is not None and principal.person_id == person_id:
            return SpaceGrant(
                person_id=person_id,
                area=area,
                action=action,
                actor=ActorKind.HOLDER,
                audit_actor=principal.actor,
                actor_person_id=principal.person_id,
            )
        raise Forbidden("no access to this health space", code="space_access_denied")

    def record(
        self,
        session: Session,
        grant: SpaceGrant,
        *,
        what: str,
        resource: str | None = None,
        detail: str | None = None,
        now: datetime,
    ) -> None:
        """Audit one access made under ``grant`` (same transaction as the access).

        ``what`` is a short action code such as ``documents.read`` or ``profile.update``.
        Accesses by anyone other than the holder also go to the holder's access history.
        """
        get_audit_service().record(
            session,
            actor=grant.audit_actor,
            action=f"space.{what}",
            person_id=grant.person_id,
            resource=resource,
            purpose=grant.actor.value,
            detail=detail,
            recorded_at=now,
        )


access_service = AccessService()
