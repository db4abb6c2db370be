"""Use cases of the health space's lifecycle (design: ``docs/health-space.md``).

States and transitions (domain.md §5.1, R1111-28, R1111-36):

- ``pending``: created for every living register person (``create_pending``, set-based), then
  informed (``inform_batch``: e-mail to the card account's confirmed address, else a recorded
  postal letter; a minor's message goes to their representatives). The objection window ends at
  ``objection_deadline`` (information + ``space_objection_days``).
- pending → ``objected`` (objection) | ``open`` (early opening, or ``open_due`` at the deadline).
- objected → open (the person changes their mind).
- open → ``closed`` (closure; archived until ``purge_after`` = closure + ``space_archive_days``);
  a deletion request brings ``purge_after`` to at most ``space_deletion_max_days`` from the request.
- closed → open (re-opening: the archived data are restored) | ``purged`` (by the purge job, after
  every domain deleted its data).
- purged → open (a new, empty space).

Who may ask is decided by ``access.service.authorize`` in the callers (the REST adapter; the
operator commands act for the fund): this module knows no principal. ``state_of`` is the cheap
read the chokepoint uses to refuse spaces that are not open.

Audits: the REST adapter audits through ``access_service.record``; the operator's and the jobs'
actions are audited here (actor ``system``/``operator``), one event per person, in the same
transaction as the change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carnet.audit import AuditEntry, get_audit_service
from carnet.cards.service import cards_service
from carnet.config import Settings
from carnet.exceptions import Conflict, NotFound
from carnet.identity import service as identity_service
from carnet.logging import get_logger
from carnet.mail.exceptions import (
    InvalidMailAddress,
    InvalidMailHeader,
    MailDeliveryError,
    MailRecipientRefused,
)
from carnet.mail.service import MailService
from carnet.rights.service import rights_service
from carnet.space import messages
from carnet.space.models import Space
from carnet.space.repository import Record, SpaceRepository
from carnet.space.schemas import InformReport, NextAction, SpaceOut, SpaceState

__all__ = ["SpaceService", "SpaceState", "Transition", "space_service"]

log = get_logger("carnet.space")

PARIS = ZoneInfo("Europe/Paris")
ADULT_AGE = 18
# Rows per transaction: bounded memory, short locks.
CREATE_BATCH = 5000
INFORM_BATCH = 1000
JOB_BATCH = 2000
SYSTEM_ACTOR = "system"
OPERATOR_ACTOR = "operator"
AUDIT_PURPOSE = "SPACE"


class Transition(StrEnum):
    """A change the holder (or a representative, or the fund for them) asks for."""

    OBJECTION = "objection"
    OPENING = "opening"
    CLOSURE = "closure"
    DELETION_REQUEST = "deletion-request"
    REOPENING = "reopening"


_DESCRIPTIONS = {
    Transition.OBJECTION: "Refuse the space: it will not be opened",
    Transition.OPENING: "Open the space now",
    Transition.CLOSURE: "Close the space: its data are archived, then deleted",
    Transition.DELETION_REQUEST: "Have the archived data deleted within the legal delay",
    Transition.REOPENING: "Re-open the closed space: the archived data are restored",
}


@dataclass(frozen=True, slots=True)
class CreateStep:
    """One range of the national creation: persons ``(after, upto]``, ``created`` new spaces."""

    upto: int
    created: int


@dataclass(slots=True)
class InformStep:
    """One information batch: the last space key seen (the next batch starts after it)."""

    last_id: int
    seen: int
    by_email: int = 0
    by_letter: int = 0
    deferred: int = 0
    mail_unavailable: bool = False


def local_date(now: datetime) -> date:
    return now.astimezone(PARIS).date()


def is_minor(birth_date: str, on: date) -> bool:
    """Under 18 on ``on``. The register's partial dates ("00" month or day) count as the earliest
    possible day, as the access rules do (``access.service``): whoever may act for a child is
    also who the child's information goes to."""
    year, month, day = (int(part) for part in birth_date.split("-"))
    try:
        adult = date(year + ADULT_AGE, month or 1, day or 1)
    except ValueError:  # 29 February
        adult = date(year + ADULT_AGE, 3, 1)
    return on < adult


def _named(row: Record) -> messages.Named:
    first = row.used_first_name or (row.first_names.split() or [""])[0]
    return messages.Named(
        first_name=first, family_name=row.used_name or row.birth_name, sex=row.sex
    )


def _entry(actor: str, action: str, person_id: int, detail: str) -> AuditEntry:
    return AuditEntry(
        actor=actor,
        action=action,
        person_id=person_id,
        resource=f"Space/{person_id}",
        purpose=AUDIT_PURPOSE,
        detail=detail,
    )


def _audit(
    session: Session, actor: str, action: str, person_id: int, now: datetime, detail: str
) -> None:
    _audit_many(session, actor, action, [(person_id, detail)], now)


def _audit_many(
    session: Session,
    actor: str,
    action: str,
    details: Sequence[tuple[int, str]],
    now: datetime,
) -> None:
    """One audit event per person (``(person_id, detail)``), appended at once."""
    get_audit_service().record_many(
        session,
        [_entry(actor, action, person_id, detail) for person_id, detail in details],
        recorded_at=now,
    )


def _next_actions(space: Space) -> list[NextAction]:
    state = SpaceState(space.state)
    if state is SpaceState.PENDING:
        actions = [Transition.OBJECTION, Transition.OPENING]
    elif state is SpaceState.OPEN:
        actions = [Transition.CLOSURE, Transition.DELETION_REQUEST]
    elif state is SpaceState.CLOSED:
        actions = [Transition.REOPENING]
        if space.deletion_requested_at is None:
            actions.append(Transition.DELETION_REQUEST)
    else:  # objected, purged: a new space can be opened
        actions = [Transition.OPENING]
    return [
        NextAction(
            action=action.value,
            path=f"/api/v1/spaces/{space.person_id}/{action.value}",
            description=_DESCRIPTIONS[action],
        )
        for action in actions
    ]


def _out(space: Space) -> SpaceOut:
    return SpaceOut(
        person_id=space.person_id,
        state=SpaceState(space.state),
        channel=space.channel,
        information_sent_at=space.information_sent_at,
        objection_deadline=space.objection_deadline,
        opened_at=space.opened_at,
        opened_how=space.opened_how,
        objected_at=space.objected_at,
        closed_at=space.closed_at,
        purge_after=space.purge_after,
        deletion_requested_at=space.deletion_requested_at,
        purged_at=space.purged_at,
        version=space.version,
        next_actions=_next_actions(space),
    )


def _due(state: str, deadline: datetime | None, now: datetime) -> bool:
    """A pending space whose objection window ended: open in law (R1111-28)."""
    return state == SpaceState.PENDING.value and deadline is not None and deadline <= now


def _open_at_deadline(space: Space) -> None:
    space.state = SpaceState.OPEN.value
    space.opened_at = space.objection_deadline
    space.opened_how = "automatic"


def _day(value: datetime | None) -> str:
    return messages.french_date(local_date(value)) if value is not None else "?"


class SpaceService:
    # == for the access chokepoint ================================================================

    def state_of(
        self, session: Session, person_id: int, *, now: datetime | None = None
    ) -> SpaceState | None:
        """The space's state, None when the person has none (one indexed SELECT, unaudited).

        A pending space whose objection window ended is open (the opening job records it).
        """
        found = SpaceRepository(session).state_of(person_id)
        if found is None:
            return None
        state, deadline = found
        if _due(state, deadline, now or datetime.now(UTC)):
            return SpaceState.OPEN
        return SpaceState(state)

    # == the holder's view and transitions (authorized and audited by the caller) ================

    def view(self, session: Session, person_id: int, *, now: datetime) -> SpaceOut:
        space = SpaceRepository(session).get(person_id)
        if space is None:
            raise NotFound(
                "this person has no health space yet: it is created with the information "
                "message (you may still object or open it now)",
                code="space_not_created",
            )
        if _due(space.state, space.objection_deadline, now):
            # The window ended and the opening job has not run yet: show it as it legally is.
            session.expunge(space)
            _open_at_deadline(space)
        return _out(space)

    def transition(
        self,
        session: Session,
        settings: Settings,
        person_id: int,
        transition: Transition,
        *,
        how: str,
        now: datetime,
    ) -> SpaceOut:
        """Apply ``transition`` to ``person_id``'s space; ``how`` is ``holder`` or
        ``representative`` (who asked, for ``opened_how``). 409 for impossible transitions."""
        repo = SpaceRepository(session)
        space = repo.get(person_id, for_update=True)
        if space is None:
            space = self._create_on_demand(repo, person_id, transition, now)
        if _due(space.state, space.objection_deadline, now):
            # The window ended and the opening job has not run yet: the space is open already.
            _open_at_deadline(space)
        state = SpaceState(space.state)
        if transition is Transition.OBJECTION:
            self._object(space, state, now)
        elif transition is Transition.OPENING:
            self._open(space, state, how, now)
        elif transition is Transition.CLOSURE:
            self._close(space, state, settings, now)
        elif transition is Transition.DELETION_REQUEST:
            self._request_deletion(space, state, settings, now)
        else:
            self._reopen(space, state, how, now)
        space.version += 1
        space.updated_at = now
        session.flush()
        return _out(space)

    def _create_on_demand(
        self, repo: SpaceRepository, person_id: int, transition: Transition, now: datetime
    ) -> Space:
        # Someone may object (or open) before the information message reached them.
        if transition not in (Transition.OBJECTION, Transition.OPENING):
            raise Conflict(
                "this person has no health space yet: nothing to close, delete or re-open "
                "(object or open it instead)",
                code="space_not_created",
            )
        if not repo.person_exists(person_id):
            raise NotFound(f"no register person {person_id}", code="unknown_space")
        try:
            with repo.session.begin_nested():
                return repo.add(
                    Space(person_id=person_id, state="pending", created_at=now, updated_at=now)
                )
        except IntegrityError as exc:  # created at the same moment by the information job
            raise Conflict(
                "the space was created at the same moment: try again", code="space_busy"
            ) from exc

    @staticmethod
    def _object(space: Space, state: SpaceState, now: datetime) -> None:
        if state is SpaceState.OPEN:
            raise Conflict(
                "the space is already open: an objection is only possible before it opens; "
                "close it instead (POST .../closure)",
                code="space_already_open",
            )
        if state is SpaceState.OBJECTED:
            raise Conflict("an objection is already recorded", code="space_already_objected")
        if state is SpaceState.CLOSED:
            raise Conflict(
                f"the space is closed (archived until {_day(space.purge_after)}): there is "
                "nothing to object to; ask for deletion (POST .../deletion-request) to have "
                "the archive deleted sooner",
                code="space_closed",
            )
        if state is SpaceState.PURGED:
            raise Conflict(
                "the space was closed and deleted: nothing to object to", code="space_purged"
            )
        space.state = SpaceState.OBJECTED.value
        space.objected_at = now

    @staticmethod
    def _open(space: Space, state: SpaceState, how: str, now: datetime) -> None:
        if state is SpaceState.OPEN:
            raise Conflict("the space is already open", code="space_already_open")
        if state is SpaceState.CLOSED:
            raise Conflict(
                "the space is closed: re-open it (POST .../reopening) to restore its data",
                code="space_closed",
            )
        if state is SpaceState.PURGED:
            # A new space, empty: the archive was deleted for good.
            space.channel = None
            space.information_sent_at = None
            space.objection_deadline = None
            space.closed_at = None
            space.purge_after = None
            space.deletion_requested_at = None
            space.purged_at = None
        space.state = SpaceState.OPEN.value
        space.opened_at = now
        space.opened_how = how

    @staticmethod
    def _close(space: Space, state: SpaceState, settings: Settings, now: datetime) -> None:
        if state is SpaceState.PENDING:
            raise Conflict(
                "the space is not open yet: object to it instead (POST .../objection)",
                code="space_not_open",
            )
        if state is SpaceState.OBJECTED:
            raise Conflict(
                "the space was refused (objection): there is nothing to close",
                code="space_objected",
            )
        if state is SpaceState.CLOSED:
            raise Conflict(
                f"the space is already closed (archived until {_day(space.purge_after)})",
                code="space_already_closed",
            )
        if state is SpaceState.PURGED:
            raise Conflict("the space was closed and deleted already", code="space_purged")
        space.state = SpaceState.CLOSED.value
        space.closed_at = now
        space.purge_after = now + timedelta(days=settings.space_archive_days)

    def _request_deletion(
        self, space: Space, state: SpaceState, settings: Settings, now: datetime
    ) -> None:
        if state is SpaceState.OPEN:
            self._close(space, state, settings, now)  # closing and deleting in one request
        elif state is SpaceState.CLOSED:
            if space.deletion_requested_at is not None:
                raise Conflict(
                    f"deletion was already requested: the data will be deleted by "
                    f"{_day(space.purge_after)}",
                    code="deletion_already_requested",
                )
        elif state is SpaceState.PURGED:
            raise Conflict("the space's data were deleted already", code="space_purged")
        else:
            raise Conflict(
                f"the space is {state.value}: it holds no data to delete"
                + (" (object to it: POST .../objection)" if state is SpaceState.PENDING else ""),
                code="space_not_open",
            )
        space.deletion_requested_at = now
        latest = now + timedelta(days=settings.space_deletion_max_days)
        assert space.purge_after is not None
        space.purge_after = min(space.purge_after, latest)

    @staticmethod
    def _reopen(space: Space, state: SpaceState, how: str, now: datetime) -> None:
        if state is not SpaceState.CLOSED:
            hint = {
                SpaceState.OPEN: "it is open already",
                SpaceState.PURGED: "its archive was deleted; open a new space (POST .../opening)",
            }.get(state, "only a closed space can be re-opened; open it (POST .../opening)")
            raise Conflict(f"the space is {state.value}: {hint}", code="space_not_closed")
        space.state = SpaceState.OPEN.value
        space.opened_at = now
        space.opened_how = how
        space.closed_at = None
        space.purge_after = None
        space.deletion_requested_at = None

    # == the fund's operator (CLI) ================================================================

    def person_for(self, session: Session, reference: str) -> int:
        """A register person key from a person id or a NIR/NIA (15 characters)."""
        ref = reference.strip().replace(" ", "")
        if len(ref) == 15:
            person_id = identity_service.person_id_for_matricule(session, ref.upper())
            if person_id is None:
                raise NotFound("no register person holds this NIR", code="unknown_ins")
            return person_id
        if not ref.isdigit() or len(ref) > 18:
            raise NotFound(f"not a person id or a NIR: {reference!r}", code="unknown_space")
        return int(ref)

    def operator_show(self, session: Session, reference: str) -> dict[str, Any]:
        person_id = self.person_for(session, reference)
        repo = SpaceRepository(session)
        space = repo.get(person_id)
        if space is None:
            raise NotFound(f"person {person_id} has no health space yet", code="space_not_created")
        _audit(session, OPERATOR_ACTOR, "space.read", person_id, datetime.now(UTC), "operator")
        out = _out(space).model_dump(mode="json")
        out["letters"] = [
            {
                "id": letter.id,
                "kind": letter.kind,
                "recipient_person_id": letter.recipient_person_id,
                "created_at": letter.created_at.isoformat(),
                "exported_at": letter.exported_at.isoformat() if letter.exported_at else None,
            }
            for letter in repo.letters_of(person_id)
        ]
        return out

    def operator_transition(
        self,
        session: Session,
        settings: Settings,
        reference: str,
        transition: Transition,
        now: datetime,
    ) -> SpaceOut:
        """The fund records a request it received (mail, phone, desk) for the holder."""
        person_id = self.person_for(session, reference)
        out = self.transition(session, settings, person_id, transition, how="holder", now=now)
        _audit(session, OPERATOR_ACTOR, f"space.{transition.value}", person_id, now, "operator")
        return out

    # == national creation and information (job space.inform) =====================================

    def creation_cursor(self, session: Session) -> int:
        """The highest person key with a space: the incremental creation resumes after it."""
        return SpaceRepository(session).highest_person_with_space()

    def create_pending(
        self, session: Session, *, after: int, now: datetime, batch: int = CREATE_BATCH
    ) -> CreateStep | None:
        """Pending spaces for the next ``batch`` register persons after ``after`` (set-based);
        None when the register has no person after ``after``."""
        repo = SpaceRepository(session)
        upto = repo.range_end(after, batch)
        if upto is None:
            return None
        created = repo.create_pending(after, upto, now)
        if created:
            get_audit_service().record(
                session,
                actor=SYSTEM_ACTOR,
                action="space.create",
                purpose=AUDIT_PURPOSE,
                detail=f"pending spaces created={created} persons={after + 1}..{upto}",
                recorded_at=now,
            )
        return CreateStep(upto=upto, created=created)

    def inform_batch(
        self,
        session: Session,
        settings: Settings,
        mail: MailService | None,
        *,
        after_id: int,
        now: datetime,
        batch: int = INFORM_BATCH,
    ) -> InformStep | None:
        """Send the information message of up to ``batch`` pending spaces after ``after_id``.

        ``mail`` None (or a mail server that fails) defers the spaces that would get an e-mail
        to a later run; a refused address falls back to a postal letter (R1111-28).
        None when nothing is left after ``after_id``.
        """
        repo = SpaceRepository(session)
        rows = repo.uninformed(after_id, batch)
        if not rows:
            return None
        step = InformStep(last_id=int(rows[-1].id), seen=len(rows))
        today = local_date(now)
        deadline = now + timedelta(days=settings.space_objection_days)
        deadline_day = local_date(deadline)
        archive_years = round(settings.space_archive_days / 365.25)
        deletion_months = max(1, round(settings.space_deletion_max_days / 30))

        # Who each message goes to: the person, or a minor's representative (the insured person
        # the child is attached to in the rights), never the child. One read for the batch's
        # minors; a child attached to two parents is told through the lower key (one letter).
        minors = [int(row.person_id) for row in rows if is_minor(row.birth_date, today)]
        parents = rights_service.representatives_at(session, minors, today)
        recipients: dict[int, int | None] = {int(row.person_id): int(row.person_id) for row in rows}
        for child_id in minors:
            recipients[child_id] = next(iter(parents.get(child_id, ())), None)
        known = {r for r in recipients.values() if r is not None}
        emails = cards_service.confirmed_emails(session, sorted(known))
        names: dict[int, Record] = {int(row.person_id): row for row in rows}
        names.update(repo.persons(sorted(known - names.keys())))

        by_email: list[int] = []
        by_letter: list[int] = []
        letters: list[dict[str, Any]] = []
        audits: list[tuple[int, str]] = []
        mail_down = mail is None
        for row in rows:
            person_id = int(row.person_id)
            recipient_id = recipients[person_id]
            if recipient_id is None:
                step.deferred += 1  # a child whose representative the rights do not know yet
                continue
            child = _named(row) if recipient_id != person_id else None
            recipient_row = names.get(recipient_id)
            if recipient_row is None:
                step.deferred += 1
                continue
            recipient = _named(recipient_row)
            message = messages.information(
                recipient=recipient,
                child=child,
                person_id=person_id,
                deadline=deadline_day,
                archive_years=archive_years,
                deletion_months=deletion_months,
            )
            address = emails.get(recipient_id)
            if address is not None:
                if mail_down:
                    step.deferred += 1
                    continue
                assert mail is not None
                try:
                    mail.send(address, message.subject, message.text)
                except (MailRecipientRefused, InvalidMailAddress, InvalidMailHeader):
                    address = None  # a postal letter instead
                except MailDeliveryError:
                    mail_down = step.mail_unavailable = True
                    step.deferred += 1
                    continue
                else:
                    by_email.append(int(row.id))
                    audits.append((person_id, f"channel=email recipient={recipient_id}"))
            if address is None:
                by_letter.append(int(row.id))
                letters.append(
                    {
                        "person_id": person_id,
                        "recipient_person_id": recipient_id,
                        "kind": "information" if child is None else "information_representative",
                        "text": messages.letter(message, recipient),
                        "created_at": now,
                    }
                )
                audits.append((person_id, f"channel=letter recipient={recipient_id}"))
        repo.mark_informed(by_email, "email", now, deadline)
        repo.mark_informed(by_letter, "letter", now, deadline)
        repo.add_letters(letters)
        _audit_many(session, SYSTEM_ACTOR, "space.inform", audits, now)
        step.by_email, step.by_letter = len(by_email), len(by_letter)
        return step

    def inform(
        self,
        database_session: Callable[[], AbstractContextManager[Session]],
        settings: Settings,
        mail: MailService | None,
        *,
        now: datetime,
        limit: int | None = None,
        rescan: bool = False,
        keep_going: Callable[[], bool] | None = None,
    ) -> InformReport:
        """Create the missing pending spaces, then inform them: one transaction per batch.

        ``database_session`` is a factory of units of work (``Database.session``); ``limit``
        bounds how many spaces are created and informed in this run; ``rescan`` looks for
        persons without a space from the start of the register, not after the highest key
        with a space; ``keep_going()`` false stops between batches (server shutdown).
        """
        report = InformReport()

        def more(count: int) -> bool:
            if keep_going is not None and not keep_going():
                return False
            return limit is None or count < limit

        with database_session() as session:
            after = 0 if rescan else self.creation_cursor(session)
        while more(report.created):
            size = CREATE_BATCH if limit is None else min(CREATE_BATCH, limit - report.created)
            with database_session() as session:
                created = self.create_pending(session, after=after, now=now, batch=size)
            if created is None:
                break
            after = created.upto
            report.created += created.created

        last_id = 0
        informed = 0
        while more(informed):
            size = INFORM_BATCH if limit is None else min(INFORM_BATCH, limit - informed)
            with database_session() as session:
                step = self.inform_batch(
                    session, settings, mail, after_id=last_id, now=now, batch=size
                )
            if step is None:
                break
            last_id = step.last_id
            informed += step.seen
            report.informed_by_email += step.by_email
            report.informed_by_letter += step.by_letter
            report.deferred += step.deferred
            if step.mail_unavailable:
                log.warning("space_inform_mail_unavailable", deferred=step.deferred)
                mail = None  # do not wait on a failing server for every message of the run
        return report

    # == jobs: automatic opening and purge ========================================================

    def open_due(self, session: Session, *, now: datetime, batch: int = JOB_BATCH) -> int:
        """Open up to ``batch`` pending spaces whose objection window ended (R1111-28)."""
        repo = SpaceRepository(session)
        due = repo.due_for_opening(now, batch)
        if not due:
            return 0
        opened = repo.open_automatically([space_id for space_id, _ in due], now)
        _audit_many(session, SYSTEM_ACTOR, "space.opening", [(p, "automatic") for _, p in due], now)
        return opened

    def due_for_purge(
        self, session: Session, *, now: datetime, batch: int = JOB_BATCH
    ) -> list[tuple[int, int]]:
        """(space key, person key) of up to ``batch`` closed spaces whose archive period (or
        deletion delay) ended, locked for this transaction: the caller deletes every domain's
        data of these persons, then calls ``mark_purged``."""
        return SpaceRepository(session).due_for_purge(now, batch)

    def mark_purged(
        self, session: Session, due: Sequence[tuple[int, int]], *, now: datetime, detail: str
    ) -> int:
        purged = SpaceRepository(session).mark_purged([space_id for space_id, _ in due], now)
        _audit_many(session, SYSTEM_ACTOR, "space.purge", [(p, detail) for _, p in due], now)
        return purged

    # == letters for the print shop ===============================================================

    def letters_to_export(
        self, session: Session, *, after_id: int, batch: int = INFORM_BATCH
    ) -> list[dict[str, Any]]:
        return [
            {
                "letter_id": letter.id,
                "person_id": letter.person_id,
                "recipient_person_id": letter.recipient_person_id,
                "kind": letter.kind,
                "created_at": letter.created_at.isoformat(),
                "text": letter.text,
            }
            for letter in SpaceRepository(session).letters_to_export(after_id, batch)
        ]

    def mark_letters_exported(
        self, session: Session, letter_ids: Sequence[int], *, now: datetime
    ) -> None:
        SpaceRepository(session).mark_exported(letter_ids, now)


space_service = SpaceService()
