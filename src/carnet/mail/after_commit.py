"""E-mail that follows the transaction: queued in the session, sent once it commits.

A use case that tells someone about a change (an access to their health space, a document
waiting for them) must not send before the change is durable: a commit that fails after the
message left would leave a notice of something that did not happen, and a retry would send it
twice. ``send_after_commit`` queues the message in ``session.info``; the outermost commit sends
the queue, a rollback drops it.

The transaction is over when the messages go out: a delivery failure never undoes it. Each
message may carry ``on_failure(exc)``, called (outside any transaction of this session) when
its delivery raised; its own errors are logged, never raised. Without it the failure is logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from carnet.logging import get_logger
from carnet.mail.service import MailService

__all__ = ["send_after_commit"]

log = get_logger("carnet.mail")

_QUEUE = "carnet.mail.after_commit"


@dataclass(frozen=True, slots=True)
class _Queued:
    service: MailService
    to: str
    subject: str
    text: str
    on_failure: Callable[[Exception], None] | None


def send_after_commit(
    session: Session,
    service: MailService,
    to: str,
    subject: str,
    text: str,
    *,
    on_failure: Callable[[Exception], None] | None = None,
) -> None:
    """Send this message once ``session``'s outermost transaction commits (never if it rolls
    back). ``on_failure`` is called with the exception when the delivery fails."""
    queue: list[_Queued] | None = session.info.get(_QUEUE)
    if queue is None:
        queue = []
        session.info[_QUEUE] = queue
        if not event.contains(session, "after_commit", _send_queued):
            event.listen(session, "after_commit", _send_queued)
            event.listen(session, "after_soft_rollback", _drop_after_rollback)
    queue.append(_Queued(service, to, subject, text, on_failure))


def _send_queued(session: Session) -> None:
    queue: list[_Queued] = session.info.pop(_QUEUE, [])
    for mail in queue:
        try:
            mail.service.send(mail.to, mail.subject, mail.text)
        except Exception as exc:  # after the commit: a mail failure must not undo the change
            log.warning("mail_after_commit_not_sent", error=type(exc).__name__)
            if mail.on_failure is not None:
                try:
                    mail.on_failure(exc)
                except Exception as handler_error:
                    log.error(
                        "mail_after_commit_failure_handler_failed",
                        error=type(handler_error).__name__,
                    )


def _drop_after_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        session.info.pop(_QUEUE, None)
