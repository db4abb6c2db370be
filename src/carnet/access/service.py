"""The health-space authorization chokepoint and the access history.

Every route that reads or changes a health space (documents, profile, lifecycle, settings,
history) calls ``access_service.authorize`` first and ``access_service.record`` after the access,
in the same transaction. Nothing else decides who may see a person's health data.

Who may do what (docs/health-space.md):

* the **holder** (a ``holder`` token for their own person key): everything; documents and the
  profile only while the space is ``open``;
* a **representative**: a holder whose child, under 18 at the date, is attached to them in the
  rights (``rights_service.is_attached``): as the holder;
* an **aidant**: a holder the space's holder let in, within the scope given (``documents:read``…)
  and before its end, unless revoked; only while the space is ``open``;
* a **professional** (``dmp`` client bound to them, or to a structure where they practise and
  naming them in ``X-Professional-RPPS``, checked by ``directory_service.acting_professional``):
  documents and profile, read and write, with an active consent or care relationship, not
  blocked, documents filtered by the access matrix for their profession and specialty;
* **emergency** (break-glass) and **regulator** (``dmp.regulation``) grants opened with a reason
  by ``open_emergency_access``: read only, time-bounded, refused when the holder refused
  emergency access or blocked the professional, always notified;
* professionals never reach a space that is not ``open`` (404: they may not learn it exists),
  nor its lifecycle, settings or history.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.orm import Session

from carnet.access import schemas
from carnet.access.models import (
    AccessAidant,
    AccessBlock,
    AccessGrant,
    AccessHistory,
    AccessMatrixRule,
    AccessSettings,
)
from carnet.access.policy import (
    ANY_TYPE,
    Action,
    ActorKind,
    Area,
    MatrixRule,
    SpaceGrant,
    aidant_scope,
    readable_type_codes,
)
from carnet.access.repository import AccessRepository
from carnet.audit import get_audit_service
from carnet.auth.principal import Principal
from carnet.cards.service import cards_service
from carnet.config import Settings, get_settings
from carnet.directory.schemas import ActingProfessional, ProfessionalRef
from carnet.directory.service import directory_service
from carnet.exceptions import AppError, BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from carnet.identity.service import find_entry_by_identifier, register_names
from carnet.mail.after_commit import send_after_commit
from carnet.mail.service import MailService
from carnet.rights.service import rights_service
from carnet.space.schemas import SpaceOut
from carnet.space.service import Transition, space_service

log = logging.getLogger(__name__)

ME = "me"
OPEN = "open"
PARIS = ZoneInfo("Europe/Paris")
MAJORITY_YEARS = 18
DMP_SCOPE = "dmp"
REGULATION_SCOPE = "dmp.regulation"
HISTORY_PAGE_MAX = 100

# Areas a holder or representative may reach whatever the space's state (they decide about the
# space itself, and may always see who accessed it).
_ALWAYS_FOR_HOLDER = frozenset({Area.LIFECYCLE, Area.SETTINGS, Area.HISTORY})
_PROFESSIONAL_AREAS = frozenset({Area.DOCUMENTS, Area.PROFILE})
_RELATIONSHIP_HELP = (
    "get one by reading the patient's card (apCV), by the patient's consent in their health "
    "space (Privacy > Consents), or in an emergency by break-glass access "
    "(POST /api/v1/spaces/{person}/emergency-access with a reason)"
)
WHAT_LABELS = {
    "emergency_access.open": "accès en urgence ouvert",
    "regulation_access.open": "accès par la régulation (SAMU-Centre 15) ouvert",
}


def care_date(now: datetime) -> date:
    return now.astimezone(PARIS).date()


def _majority_day(birth_date: str) -> date | None:
    """The 18th birthday of a register birth date ("YYYY-MM-DD", 00 for unknown parts).

    Unknown month or day: the earliest possible day (a child's secret is better kept too early
    than too late). None when the year is unknown.
    """
    try:
        year, month, day = (int(part) for part in birth_date.split("-"))
    except ValueError:
        return None
    if year <= 0:
        return None
    month = month or 1
    day = day or 1
    try:
        return date(year + MAJORITY_YEARS, month, day)
    except ValueError:  # 29 February
        return date(year + MAJORITY_YEARS, 3, 1)


def _space_state(session: Session, person_id: int) -> str | None:
    """The space's state (``pending``, ``open``, ``objected``, ``closed``, ``purged``), None when
    the person has no space (or is unknown): ``space_service.state_of``, one indexed SELECT."""
    state = space_service.state_of(session, person_id)
    return None if state is None else state.value


def _professional_label(acting: ActingProfessional) -> str:
    name = f"{acting.given_name} {acting.family_name}".strip()
    ident = f"RPPS {acting.rpps}" if acting.rpps else f"idNat_PS {acting.idnat_ps}"
    return f"{name} ({acting.profession_label}, {ident})"


def _professional_out(acting: ActingProfessional) -> schemas.ProfessionalOut:
    return schemas.ProfessionalOut(
        professional_id=acting.professional_id,
        rpps=acting.rpps,
        family_name=acting.family_name,
        given_name=acting.given_name,
        profession_code=acting.profession_code,
        profession_label=acting.profession_label,
        specialty_code=acting.specialty_code,
    )


def parse_matrix_csv(text: str) -> list[MatrixRule]:
    """Rules from ``profession_code,specialty_code,type_code,allowed[,note]`` CSV text."""
    reader = csv.DictReader(io.StringIO(text))
    required = {"profession_code", "specialty_code", "type_code", "allowed"}
    if reader.fieldnames is None or not required <= set(reader.fieldnames):
        raise ValidationFailed(
            f"the access matrix needs the columns {', '.join(sorted(required))}",
            code="invalid_matrix",
        )
    rules: list[MatrixRule] = []
    seen: set[tuple[str, str, str]] = set()
    for line, row in enumerate(reader, start=2):
        profession = (row["profession_code"] or "").strip()
        specialty = (row["specialty_code"] or "").strip()
        type_code = (row["type_code"] or "").strip()
        allowed = (row["allowed"] or "").strip().lower()
        if not profession or len(profession) > 4 or not type_code or len(type_code) > 64:
            raise ValidationFailed(
                f"access matrix line {line}: profession_code and type_code are required",
                code="invalid_matrix",
            )
        if allowed not in ("0", "1", "true", "false", "yes", "no"):
            raise ValidationFailed(
                f"access matrix line {line}: allowed must be 1 or 0", code="invalid_matrix"
            )
        key = (profession, specialty, type_code)
        if key in seen:
            raise ValidationFailed(
                f"access matrix line {line}: duplicate rule {','.join(key)}",
                code="invalid_matrix",
            )
        seen.add(key)
        rules.append(MatrixRule(profession, specialty, type_code, allowed in ("1", "true", "yes")))
    return rules


@lru_cache(maxsize=1)
def shipped_matrix() -> tuple[MatrixRule, ...]:
    """The matrix shipped with Carnet (``access/data/access_matrix.csv``)."""
    text = resources.files("carnet.access").joinpath("data/access_matrix.csv").read_text("utf-8")
    return tuple(parse_matrix_csv(text))


def _note_of(text: str) -> dict[tuple[str, str, str], str]:
    notes: dict[tuple[str, str, str], str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        note = (row.get("note") or "").strip()
        if note:
            key = (
                (row["profession_code"] or "").strip(),
                (row["specialty_code"] or "").strip(),
                (row["type_code"] or "").strip(),
            )
            notes[key] = note[:300]
    return notes


class AccessService:
    def __init__(self) -> None:
        self._settings: Settings | None = None

    def configure(self, settings: Settings) -> None:
        """The application's settings (e-mail server, durations): called by ``create_app``."""
        self._settings = settings

    @property
    def settings(self) -> Settings:
        return self._settings if self._settings is not None else get_settings()

    # == the chokepoint ===========================================================================

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
        if principal.person_id is not None:
            return self._person_side(session, principal, person_id, area, action, now)
        if principal.has(DMP_SCOPE) or principal.has(REGULATION_SCOPE):
            return self._professional_side(
                session, principal, person_id, area, action, now, professional_rpps
            )
        raise Forbidden(
            "this client may not reach health spaces: it needs the scope dmp (professional "
            "software) or dmp.regulation (emergency regulation)",
            code="space_access_denied",
        )

    # -- person side: holder, representative, aidant ----------------------------------------------

    def _person_side(
        self,
        session: Session,
        principal: Principal,
        person_id: int,
        area: Area,
        action: Action,
        now: datetime,
    ) -> SpaceGrant:
        assert principal.person_id is not None
        state = _space_state(session, person_id)
        base: dict[str, Any] = {
            "person_id": person_id,
            "area": area,
            "action": action,
            "audit_actor": principal.actor,
            "actor_person_id": principal.person_id,
        }
        if principal.person_id == person_id:
            self._check_holder_state(state, area)
            return SpaceGrant(actor=ActorKind.HOLDER, **base)
        on = care_date(now)
        child = self._minor_child(session, principal.person_id, person_id, on)
        if child:
            self._check_holder_state(state, area)
            return SpaceGrant(
                actor=ActorKind.REPRESENTATIVE,
                actor_label=self._person_label(session, principal.person_id, on, "représentant"),
                basis="representative",
                **base,
            )
        aidant = AccessRepository(session).active_aidant(person_id, principal.person_id, now)
        if aidant is None:
            if state is None:
                raise NotFound(f"no health space {person_id}", code="unknown_space")
            raise Forbidden(
                "you may not reach this health space: it is neither yours, nor a minor child's "
                "attached to you, nor one whose holder gave you access",
                code="space_access_denied",
            )
        if state is None:
            raise NotFound(f"no health space {person_id}", code="unknown_space")
        wanted = aidant_scope(area, action)
        if wanted not in aidant.scope.split():
            raise Forbidden(
                f"the access the holder gave you does not include {wanted} "
                f"(it includes: {aidant.scope})",
                code="outside_aidant_scope",
            )
        if state != OPEN:
            raise Forbidden(f"this health space is {state}, not open", code="space_not_open")
        return SpaceGrant(
            actor=ActorKind.AIDANT,
            actor_label=aidant.delegate_name,
            basis="aidant",
            **base,
        )

    @staticmethod
    def _check_holder_state(state: str | None, area: Area) -> None:
        if area in _ALWAYS_FOR_HOLDER:
            return
        if state is None:
            raise NotFound("this person has no health space", code="unknown_space")
        if state != OPEN:
            raise Forbidden(
                f"this health space is {state}: its documents and profile are reachable once it "
                "is open",
                code="space_not_open",
            )

    def _minor_child(self, session: Session, parent_id: int, child_id: int, on: date) -> bool:
        if not rights_service.is_attached(session, child_id, parent_id, on):
            return False
        view = rights_service.rights_at(session, child_id, on)
        if view is None:
            return False
        majority = _majority_day(view.birth_date)
        return majority is not None and on < majority

    @staticmethod
    def _person_label(session: Session, person_id: int, on: date, fallback: str) -> str:
        view = rights_service.rights_at(session, person_id, on)
        if view is None:
            return fallback
        first = view.used_first_name or (view.first_names[0] if view.first_names else "")
        return f"{first} {view.used_name or view.birth_name}".strip() or fallback

    # -- professional side ------------------------------------------------------------------------

    def acting_professional(
        self, session: Session, principal: Principal, professional_rpps: str | None
    ) -> ActingProfessional:
        """The professional a ``dmp`` client acts for (403 from the directory otherwise)."""
        if professional_rpps is None or not professional_rpps.strip():
            if principal.professional_id is None:
                if principal.structure_id is not None:
                    raise Forbidden(
                        "this client is bound to a structure: name the acting professional in "
                        "the header X-Professional-RPPS",
                        code="professional_required",
                    )
                raise Forbidden(
                    "this client is bound to no professional and no structure: it cannot act "
                    "for a professional (register it with --professional RPPS or --structure ID)",
                    code="client_not_bound",
                )
            summary = directory_service.professional_summary(session, principal.professional_id)
            if summary is None:
                raise Forbidden(
                    "the professional this client is bound to is not in the directory",
                    code="professional_not_in_directory",
                )
            ref = (
                ProfessionalRef(rpps=summary.rpps)
                if summary.rpps
                else ProfessionalRef(idnat_ps=summary.idnat_ps)
            )
        else:
            try:
                ref = ProfessionalRef(rpps=professional_rpps.strip())
            except ValidationError:
                raise ValidationFailed(
                    "X-Professional-RPPS: expected 11 digits", code="invalid_rpps"
                ) from None
        return directory_service.acting_professional(session, principal, ref)

    def _professional_side(
        self,
        session: Session,
        principal: Principal,
        person_id: int,
        area: Area,
        action: Action,
        now: datetime,
        professional_rpps: str | None,
    ) -> SpaceGrant:
        acting = self.acting_professional(session, principal, professional_rpps)
        if _space_state(session, person_id) != OPEN:
            raise NotFound(f"no open health space {person_id}", code="unknown_space")
        if area not in _PROFESSIONAL_AREAS:
            raise Forbidden(
                f"professionals reach the documents and the profile of a space, never its "
                f"{area.value}",
                code="space_access_denied",
            )
        repo = AccessRepository(session)
        if repo.is_blocked(person_id, acting.professional_id):
            raise Forbidden(
                "the holder of this health space blocked your access", code="professional_blocked"
            )
        grants = repo.active_grants(person_id, acting.professional_id, now)
        kind: ActorKind | None = None
        chosen: AccessGrant | None = None
        if principal.has(DMP_SCOPE):
            chosen = next((g for g in grants if g.basis in ("consent", "care")), None)
            kind = ActorKind.PROFESSIONAL if chosen is not None else None
            if chosen is None:
                chosen = next((g for g in grants if g.basis == "emergency"), None)
                kind = ActorKind.EMERGENCY if chosen is not None else None
        if chosen is None and principal.has(REGULATION_SCOPE):
            chosen = next((g for g in grants if g.basis == "regulation"), None)
            kind = ActorKind.REGULATOR if chosen is not None else None
        if chosen is None or kind is None:
            raise Forbidden(
                "you have no consent or care relationship with this patient: " + _RELATIONSHIP_HELP,
                code="no_care_relationship",
            )
        if kind is not ActorKind.PROFESSIONAL and action is not Action.READ:
            raise Forbidden(
                "emergency and regulation access read the space, they do not feed it: feeding "
                "needs consent or a care relationship (" + _RELATIONSHIP_HELP + ")",
                code="read_only_access",
            )
        return SpaceGrant(
            person_id=person_id,
            area=area,
            action=action,
            actor=kind,
            audit_actor=principal.actor,
            professional_id=acting.professional_id,
            professional_rpps=acting.rpps,
            profession_code=acting.profession_code,
            profession_label=acting.profession_label,
            specialty_code=acting.specialty_code,
            readable_type_codes=self.readable_types(
                session, acting.profession_code, acting.specialty_code
            ),
            basis=chosen.basis,
            actor_label=_professional_label(acting),
            client_id=principal.client_id,
            reason=chosen.reason if kind is not ActorKind.PROFESSIONAL else None,
        )

    # -- the access matrix ------------------------------------------------------------------------

    def readable_types(
        self, session: Session, profession_code: str, specialty_code: str | None
    ) -> frozenset[str] | None:
        repo = AccessRepository(session)
        stored = repo.matrix_rules(profession_code)
        if stored:
            rules = [
                MatrixRule(r.profession_code, r.specialty_code, r.type_code, r.allowed)
                for r in stored
            ]
        elif repo.matrix_is_empty():
            rules = list(shipped_matrix())
        else:
            rules = []
        return readable_type_codes(rules, profession_code, specialty_code)

    def load_matrix(self, session: Session, text: str, *, actor: str = "system") -> int:
        """Replace the access matrix with the rules of a CSV text (one transaction)."""
        rules = parse_matrix_csv(text)
        if not any(r.type_code == ANY_TYPE or r.allowed for r in rules):
            raise ValidationFailed("the access matrix allows nothing", code="invalid_matrix")
        notes = _note_of(text)
        count = AccessRepository(session).replace_matrix(
            AccessMatrixRule(
                profession_code=r.profession_code,
                specialty_code=r.specialty_code,
                type_code=r.type_code,
                allowed=r.allowed,
                note=notes.get((r.profession_code, r.specialty_code, r.type_code)),
            )
            for r in rules
        )
        get_audit_service().record(
            session, actor=actor, action="access.matrix.load", detail=f"{count} rules"
        )
        return count

    def load_matrix_file(
        self, session: Session, path: Path | None, *, actor: str = "system"
    ) -> int:
        if path is None:
            text = (
                resources.files("carnet.access")
                .joinpath("data/access_matrix.csv")
                .read_text("utf-8")
            )
        else:
            text = path.read_text("utf-8-sig")
        return self.load_matrix(session, text, actor=actor)

    def ensure_matrix(self, session: Session, *, actor: str = "system") -> int:
        """Load the shipped matrix when the table is empty (demo, fresh installs); the number of
        rules loaded (0: a matrix is there already)."""
        if not AccessRepository(session).matrix_is_empty():
            return 0
        return self.load_matrix_file(session, None, actor=actor)

    def matrix_rules(self, session: Session) -> list[MatrixRule]:
        stored = AccessRepository(session).all_matrix_rules()
        if not stored:
            return list(shipped_matrix())
        return [
            MatrixRule(r.profession_code, r.specialty_code, r.type_code, r.allowed) for r in stored
        ]

    # == recording accesses =======================================================================

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
        Accesses by anyone other than the holder also go to the holder's access history, and
        are notified by e-mail when the holder asked for it (emergency and regulator accesses
        always are).
        """
        self._record(session, grant, what=what, resource=resource, detail=detail, now=now)

    def _record(
        self,
        session: Session,
        grant: SpaceGrant,
        *,
        what: str,
        resource: str | None,
        detail: str | None,
        now: datetime,
    ) -> bool:
        """``record``; True when an e-mail notification was queued."""
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
        if grant.is_holder:
            return False
        always = grant.actor in (ActorKind.EMERGENCY, ActorKind.REGULATOR)
        notified = self._notify(session, grant, what=what, now=now, always=always)
        AccessRepository(session).add_history(
            AccessHistory(
                person_id=grant.person_id,
                at=now,
                actor_kind=grant.actor.value,
                actor_person_id=grant.actor_person_id,
                professional_id=grant.professional_id,
                professional_rpps=grant.professional_rpps,
                profession_code=grant.profession_code,
                profession_label=grant.profession_label,
                actor_label=(grant.actor_label or "")[:200] or None,
                client_id=grant.client_id,
                what=what[:64],
                resource=resource[:200] if resource else None,
                reason=grant.reason[:500] if grant.reason else None,
                notified_at=now if notified else None,
            )
        )
        return notified

    def _notify(
        self, session: Session, grant: SpaceGrant, *, what: str, now: datetime, always: bool
    ) -> bool:
        """Queue the access notice (sent after the commit); True when at least one is queued.

        It goes to the holder's confirmed card-account address; for a minor (under 18 on the
        day), to their representatives' (the insured persons the child is attached to in the
        rights), never to the child: a parent acting in the space is not told of their own
        access.
        """
        if not always:
            settings_row = AccessRepository(session).settings_of(grant.person_id)
            if settings_row is None or not settings_row.notify_by_email:
                return False
        on = care_date(now)
        child = self._minor(session, grant.person_id, on)
        if child is None:
            recipients: tuple[int, ...] = (grant.person_id,)
        else:
            parents = rights_service.representatives_at(session, [grant.person_id], on)
            recipients = tuple(
                p for p in parents.get(grant.person_id, ()) if p != grant.actor_person_id
            )
        emails = cards_service.confirmed_emails(session, list(recipients))
        addresses = sorted({emails[p] for p in recipients if p in emails})
        if not addresses:
            return False
        subject, text = self._notice(grant, what=what, now=now, child=child)
        service = MailService.from_settings(self.settings)
        for address in addresses:
            send_after_commit(session, service, address, subject, text)
        return True

    @staticmethod
    def _minor(session: Session, person_id: int, on: date) -> str | None:
        """The first name of the person when a minor on ``on`` (None for an adult)."""
        names = register_names(session, [person_id]).get(person_id)
        if names is None:
            return None
        majority = _majority_day(names.birth_date)
        if majority is None or on >= majority:
            return None
        first = names.used_first_name or (names.first_names[0] if names.first_names else "")
        return first or "votre enfant"

    @staticmethod
    def _notice(
        grant: SpaceGrant, *, what: str, now: datetime, child: str | None
    ) -> tuple[str, str]:
        when = now.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")
        who = grant.actor_label or {
            ActorKind.REPRESENTATIVE: "un représentant légal",
            ActorKind.AIDANT: "un proche",
        }.get(grant.actor, "un professionnel de santé")
        whose = "votre espace santé" if child is None else f"l'espace santé de {child}"
        lines = [
            "Bonjour,",
            "",
            f"Le {when}, {who} a accédé à {whose} ({WHAT_LABELS.get(what, what)}).",
        ]
        if grant.actor is ActorKind.EMERGENCY:
            lines.append("Il s'agit d'un accès en urgence (bris de glace).")
        if grant.actor is ActorKind.REGULATOR:
            lines.append("Il s'agit d'un accès du médecin régulateur (SAMU-Centre 15).")
        if grant.reason:
            lines.append(f"Motif indiqué : {grant.reason}")
        lines += [
            "",
            f"Retrouvez le détail dans l'historique des accès de {whose}. Vous pouvez y "
            "bloquer un professionnel ou refuser les accès en urgence.",
        ]
        subject = (
            "Accès à votre espace santé" if child is None else f"Accès à l'espace santé de {child}"
        )
        return subject, "\n".join(lines) + "\n"

    # == care relationships and break-glass =======================================================

    def note_care_relationship(
        self,
        session: Session,
        *,
        person_id: int,
        professional_id: int,
        source: str,
        now: datetime,
    ) -> None:
        """A professional takes care of the person (e.g. read their card): the relationship lasts
        ``space_care_relationship_days`` from now (extended by each new reading)."""
        repo = AccessRepository(session)
        expires = now + timedelta(days=self.settings.space_care_relationship_days)
        current = next(
            (g for g in repo.active_grants(person_id, professional_id, now) if g.basis == "care"),
            None,
        )
        if current is not None:
            if current.expires_at is None or current.expires_at < expires:
                current.expires_at = expires
            return
        repo.add_grant(
            AccessGrant(
                person_id=person_id,
                professional_id=professional_id,
                basis="care",
                reason=source[:500],
                granted_by=f"professional:{professional_id}",
                granted_at=now,
                expires_at=expires,
            )
        )

    def open_emergency_access(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        body: schemas.EmergencyAccessCreate,
        *,
        now: datetime,
        professional_rpps: str | None = None,
    ) -> schemas.EmergencyAccessOut:
        """Break-glass (``emergency``, scope ``dmp``) or regulator (``regulation``, scope
        ``dmp.regulation``) access, with a reason, for ``space_emergency_access_hours``."""
        if principal.person_id is not None:
            raise Forbidden(
                "emergency access is opened by a professional's software", code="not_a_professional"
            )
        needed = DMP_SCOPE if body.kind == "emergency" else REGULATION_SCOPE
        if not principal.has(needed):
            raise Forbidden(
                f"{body.kind} access needs the scope {needed}", code="insufficient_scope"
            )
        person_id = self.resolve_person(session, principal, person_ref)
        acting = self.acting_professional(session, principal, professional_rpps)
        if _space_state(session, person_id) != OPEN:
            raise NotFound(f"no open health space {person_id}", code="unknown_space")
        repo = AccessRepository(session)
        if repo.is_blocked(person_id, acting.professional_id):
            raise Forbidden(
                "the holder of this health space blocked your access", code="professional_blocked"
            )
        privacy = repo.settings_of(person_id)
        if privacy is not None and privacy.emergency_access_refused:
            raise Forbidden(
                "the holder refused emergency access to their health space (L1111-17)",
                code="emergency_access_refused",
            )
        expires = now + timedelta(hours=self.settings.space_emergency_access_hours)
        row = repo.add_grant(
            AccessGrant(
                person_id=person_id,
                professional_id=acting.professional_id,
                basis=body.kind,
                reason=body.reason,
                granted_by=principal.actor,
                granted_at=now,
                expires_at=expires,
            )
        )
        grant = SpaceGrant(
            person_id=person_id,
            area=Area.DOCUMENTS,
            action=Action.READ,
            actor=ActorKind.EMERGENCY if body.kind == "emergency" else ActorKind.REGULATOR,
            audit_actor=principal.actor,
            professional_id=acting.professional_id,
            professional_rpps=acting.rpps,
            profession_code=acting.profession_code,
            profession_label=acting.profession_label,
            specialty_code=acting.specialty_code,
            basis=body.kind,
            actor_label=_professional_label(acting),
            client_id=principal.client_id,
            reason=body.reason,
        )
        what = f"{body.kind}_access.open"
        notified = self._record(
            session, grant, what=what, resource=f"AccessGrant/{row.id}", detail=None, now=now
        )
        return schemas.EmergencyAccessOut(
            person_id=person_id,
            kind=body.kind,
            reason=body.reason,
            granted_at=now,
            expires_at=expires,
            notified=notified,
        )

    # == the space's lifecycle (REST /api/v1/spaces/{person}…, the health-space pages) ============
    # The lifecycle's use cases as every adapter runs them: authorize (LIFECYCLE area), the space
    # service, record. They live here because ``access`` is the layer above ``space`` (the
    # import-linter contract): space's service may not import the chokepoint, access may use it.

    def view_space(
        self, session: Session, principal: Principal, person_ref: str, *, now: datetime
    ) -> SpaceOut:
        """The space's state, dates and next actions (404 ``space_not_created`` before creation)."""
        person_id = self.resolve_person(session, principal, person_ref)
        grant = self.authorize(session, principal, person_id, Area.LIFECYCLE, Action.READ, now=now)
        out = space_service.view(session, grant.person_id, now=now)
        self.record(
            session, grant, what="lifecycle.read", resource=f"Space/{grant.person_id}", now=now
        )
        return out

    def change_space(
        self,
        session: Session,
        settings: Settings,
        principal: Principal,
        person_ref: str,
        transition: Transition,
        *,
        now: datetime,
    ) -> SpaceOut:
        """Objection, opening, closure, deletion request or reopening, by the holder or the
        representative of a minor only (403 ``space_access_denied``; 409 when impossible)."""
        person_id = self.resolve_person(session, principal, person_ref)
        grant = self.authorize(session, principal, person_id, Area.LIFECYCLE, Action.WRITE, now=now)
        if grant.actor not in (ActorKind.HOLDER, ActorKind.REPRESENTATIVE):
            raise Forbidden(
                "only the holder, or the representative of a minor, may change a space's lifecycle",
                code="space_access_denied",
            )
        how = "representative" if grant.actor is ActorKind.REPRESENTATIVE else "holder"
        out = space_service.transition(
            session, settings, grant.person_id, transition, how=how, now=now
        )
        self.record(
            session,
            grant,
            what=f"lifecycle.{transition.value}",
            resource=f"Space/{grant.person_id}",
            now=now,
        )
        return out

    # == the holder's settings (REST under /api/v1/spaces/{person}) ===============================

    def _settings_grant(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        action: Action,
        now: datetime,
        area: Area = Area.SETTINGS,
    ) -> SpaceGrant:
        person_id = self.resolve_person(session, principal, person_ref)
        return self.authorize(session, principal, person_id, area, action, now=now)

    def get_privacy(
        self, session: Session, principal: Principal, person_ref: str, *, now: datetime
    ) -> schemas.Privacy:
        grant = self._settings_grant(session, principal, person_ref, Action.READ, now)
        row = AccessRepository(session).settings_of(grant.person_id)
        self.record(session, grant, what="privacy.read", now=now)
        return schemas.Privacy(
            emergency_access_refused=bool(row.emergency_access_refused) if row else False,
            notify_by_email=bool(row.notify_by_email) if row else False,
        )

    def set_privacy(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        body: schemas.Privacy,
        *,
        now: datetime,
    ) -> schemas.Privacy:
        grant = self._settings_grant(session, principal, person_ref, Action.WRITE, now)
        repo = AccessRepository(session)
        row = repo.settings_for_update(grant.person_id)
        if row is None:
            row = repo.add_settings(
                AccessSettings(
                    person_id=grant.person_id,
                    emergency_access_refused=body.emergency_access_refused,
                    notify_by_email=body.notify_by_email,
                    updated_at=now,
                )
            )
        else:
            row.emergency_access_refused = body.emergency_access_refused
            row.notify_by_email = body.notify_by_email
            row.updated_at = now
        self.record(
            session,
            grant,
            what="privacy.update",
            detail=f"emergency_access_refused={body.emergency_access_refused} "
            f"notify_by_email={body.notify_by_email}",
            now=now,
        )
        return body

    def _professional_by_rpps(self, session: Session, rpps: str) -> ActingProfessional:
        professional_id = directory_service.professional_id_for_binding(session, rpps)
        summary = directory_service.professional_summary(session, professional_id)
        assert summary is not None
        return summary

    def _summary(self, session: Session, professional_id: int) -> schemas.ProfessionalOut:
        summary = directory_service.professional_summary(session, professional_id)
        if summary is None:
            return schemas.ProfessionalOut(
                professional_id=professional_id,
                rpps=None,
                family_name="",
                given_name="",
                profession_code="",
                profession_label="(no longer in the directory)",
            )
        return _professional_out(summary)

    def add_block(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        body: schemas.BlockCreate,
        *,
        now: datetime,
    ) -> schemas.BlockOut:
        grant = self._settings_grant(session, principal, person_ref, Action.WRITE, now)
        acting = self._professional_by_rpps(session, body.rpps)
        repo = AccessRepository(session)
        if repo.is_blocked(grant.person_id, acting.professional_id):
            raise Conflict("this professional is already blocked", code="already_blocked")
        repo.add_block(
            AccessBlock(
                person_id=grant.person_id,
                professional_id=acting.professional_id,
                created_by=principal.actor,
                created_at=now,
            )
        )
        self.record(
            session,
            grant,
            what="blocks.create",
            resource=f"Professional/{acting.professional_id}",
            now=now,
        )
        return schemas.BlockOut(professional=_professional_out(acting), created_at=now)

    def list_blocks(
        self, session: Session, principal: Principal, person_ref: str, *, now: datetime
    ) -> list[schemas.BlockOut]:
        grant = self._settings_grant(session, principal, person_ref, Action.READ, now)
        rows = AccessRepository(session).blocks_of(grant.person_id)
        self.record(session, grant, what="blocks.read", now=now)
        return [
            schemas.BlockOut(
                professional=self._summary(session, r.professional_id), created_at=r.created_at
            )
            for r in rows
        ]

    def remove_block(
        self, session: Session, principal: Principal, person_ref: str, rpps: str, *, now: datetime
    ) -> None:
        grant = self._settings_grant(session, principal, person_ref, Action.WRITE, now)
        professional_id = self._professional_id_any(session, rpps)
        if professional_id is None or not AccessRepository(session).remove_block(
            grant.person_id, professional_id
        ):
            raise NotFound("this professional is not blocked", code="block_not_found")
        self.record(
            session,
            grant,
            what="blocks.delete",
            resource=f"Professional/{professional_id}",
            now=now,
        )

    @staticmethod
    def _professional_id_any(session: Session, rpps: str) -> int | None:
        try:
            return directory_service.professional_id_for_binding(session, rpps)
        except AppError as exc:
            if exc.code == "invalid_rpps":
                raise
            return None

    def add_consent(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        body: schemas.ConsentCreate,
        *,
        now: datetime,
    ) -> schemas.GrantOut:
        grant = self._settings_grant(session, principal, person_ref, Action.WRITE, now)
        if body.ends_at is not None and body.ends_at.tzinfo is None:
            raise ValidationFailed("ends_at: give a time zone", code="invalid_date")
        if body.ends_at is not None and body.ends_at <= now:
            raise ValidationFailed("ends_at: must be in the future", code="invalid_date")
        acting = self._professional_by_rpps(session, body.rpps)
        repo = AccessRepository(session)
        if repo.is_blocked(grant.person_id, acting.professional_id):
            raise Conflict(
                "this professional is blocked: unblock them first", code="professional_blocked"
            )
        repo.revoke_grants(grant.person_id, acting.professional_id, ["consent"], now)
        row = repo.add_grant(
            AccessGrant(
                person_id=grant.person_id,
                professional_id=acting.professional_id,
                basis="consent",
                reason=None,
                granted_by=principal.actor,
                granted_at=now,
                expires_at=body.ends_at,
            )
        )
        self.record(
            session,
            grant,
            what="consents.create",
            resource=f"Professional/{acting.professional_id}",
            now=now,
        )
        return schemas.GrantOut(
            professional=_professional_out(acting),
            basis="consent",
            reason=None,
            granted_at=row.granted_at,
            expires_at=row.expires_at,
        )

    def list_consents(
        self, session: Session, principal: Principal, person_ref: str, *, now: datetime
    ) -> list[schemas.GrantOut]:
        grant = self._settings_grant(session, principal, person_ref, Action.READ, now)
        rows = AccessRepository(session).grants_of(grant.person_id, now)
        self.record(session, grant, what="consents.read", now=now)
        return [
            schemas.GrantOut(
                professional=self._summary(session, r.professional_id),
                basis=r.basis,
                reason=r.reason,
                granted_at=r.granted_at,
                expires_at=r.expires_at,
            )
            for r in rows
        ]

    def revoke_consent(
        self, session: Session, principal: Principal, person_ref: str, rpps: str, *, now: datetime
    ) -> None:
        """Withdraw a professional's access: consent and care relationship alike (break-glass
        grants end by themselves; block the professional to stop those)."""
        grant = self._settings_grant(session, principal, person_ref, Action.WRITE, now)
        professional_id = self._professional_id_any(session, rpps)
        revoked = (
            AccessRepository(session).revoke_grants(
                grant.person_id, professional_id, ["consent", "care"], now
            )
            if professional_id is not None
            else 0
        )
        if not revoked:
            raise NotFound(
                "this professional has no consent or care relationship to withdraw",
                code="consent_not_found",
            )
        self.record(
            session,
            grant,
            what="consents.delete",
            resource=f"Professional/{professional_id}",
            now=now,
        )

    def add_aidant(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        body: schemas.AidantCreate,
        *,
        now: datetime,
    ) -> schemas.AidantOut:
        grant = self._settings_grant(session, principal, person_ref, Action.WRITE, now)
        if body.ends_at is not None and (body.ends_at.tzinfo is None or body.ends_at <= now):
            raise ValidationFailed(
                "ends_at: a future date and time with a time zone", code="invalid_date"
            )
        entry = find_entry_by_identifier(
            session, principal, body.person, kind=None, purpose="PATADMIN", field="person"
        )
        if entry is None:
            raise NotFound("no person with this NIR in the register", code="person_not_found")
        if entry.person_id == grant.person_id:
            raise ValidationFailed(
                "the holder already has access to their own space", code="aidant_is_holder"
            )
        repo = AccessRepository(session)
        current = repo.active_aidant(grant.person_id, entry.person_id, now)
        if current is not None:
            current.revoked_at = now  # replaced by the new scope and end date
        traits = entry.identity.traits
        first = entry.identity.used_first_name or (
            traits.first_names[0] if traits.first_names else ""
        )
        name = f"{first} {entry.identity.used_name or traits.birth_name}"
        row = repo.add_aidant(
            AccessAidant(
                person_id=grant.person_id,
                delegate_person_id=entry.person_id,
                scope=body.scope,
                delegate_name=name.strip()[:200],
                created_by=principal.actor,
                created_at=now,
                ends_at=body.ends_at,
            )
        )
        self.record(
            session,
            grant,
            what="aidants.create",
            resource=f"Person/{entry.person_id}",
            detail=f"scope={body.scope}",
            now=now,
        )
        return _aidant_out(row)

    def list_aidants(
        self, session: Session, principal: Principal, person_ref: str, *, now: datetime
    ) -> list[schemas.AidantOut]:
        grant = self._settings_grant(session, principal, person_ref, Action.READ, now)
        rows = AccessRepository(session).aidants_of(grant.person_id, now)
        self.record(session, grant, what="aidants.read", now=now)
        return [_aidant_out(r) for r in rows]

    def revoke_aidant(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        aidant_id: int,
        *,
        now: datetime,
    ) -> None:
        grant = self._settings_grant(session, principal, person_ref, Action.WRITE, now)
        row = AccessRepository(session).get_aidant(grant.person_id, aidant_id)
        if row is None or row.revoked_at is not None:
            raise NotFound(f"no relative's access {aidant_id}", code="aidant_not_found")
        row.revoked_at = now
        self.record(
            session,
            grant,
            what="aidants.delete",
            resource=f"Person/{row.delegate_person_id}",
            now=now,
        )

    # -- the access history -----------------------------------------------------------------------

    def history(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        *,
        limit: int,
        cursor: int | None,
        now: datetime,
        actor_kind: ActorKind | None = None,
    ) -> tuple[SpaceGrant, list[AccessHistory], int | None]:
        """One page of the access history, newest first, and the cursor of the next page;
        ``actor_kind`` keeps only that kind of actor's accesses (the filter is in the query, so
        every page is full and the cursor continues within the filter)."""
        grant = self._settings_grant(
            session, principal, person_ref, Action.READ, now, area=Area.HISTORY
        )
        limit = max(1, min(limit, HISTORY_PAGE_MAX))
        rows = list(
            AccessRepository(session).history_page(
                grant.person_id,
                limit=limit,
                before_id=cursor,
                actor_kind=actor_kind.value if actor_kind is not None else None,
            )
        )
        next_cursor = rows[limit - 1].id if len(rows) > limit else None
        rows = rows[:limit]
        self.record(session, grant, what="history.read", detail=f"{len(rows)} entries", now=now)
        return grant, rows, next_cursor

    def history_page(
        self,
        session: Session,
        principal: Principal,
        person_ref: str,
        *,
        limit: int,
        cursor: int | None,
        now: datetime,
        actor_kind: ActorKind | None = None,
    ) -> schemas.HistoryPage:
        _grant, rows, next_cursor = self.history(
            session,
            principal,
            person_ref,
            limit=limit,
            cursor=cursor,
            now=now,
            actor_kind=actor_kind,
        )
        return schemas.HistoryPage(items=[history_entry(r) for r in rows], next_cursor=next_cursor)

    # == purge ====================================================================================

    def purge_person(self, session: Session, person_id: int) -> int:
        """Delete the person's access rows (grants, blocks, settings, relatives they let in,
        history): called by the space purge job, which audits the purge."""
        return AccessRepository(session).purge_person(person_id)


def _aidant_out(row: AccessAidant) -> schemas.AidantOut:
    return schemas.AidantOut(
        id=row.id,
        person_id=row.delegate_person_id,
        name=row.delegate_name,
        scope=row.scope,
        created_at=row.created_at,
        ends_at=row.ends_at,
    )


def history_entry(row: AccessHistory) -> schemas.HistoryEntry:
    return schemas.HistoryEntry(
        id=row.id,
        at=row.at,
        actor_kind=row.actor_kind,
        who=row.actor_label,
        professional_id=row.professional_id,
        professional_rpps=row.professional_rpps,
        profession_code=row.profession_code,
        profession_label=row.profession_label,
        what=row.what,
        resource=row.resource,
        reason=row.reason,
        notified=row.notified_at is not None,
    )


access_service = AccessService()
