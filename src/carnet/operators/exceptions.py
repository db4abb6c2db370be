"""Errors of the operators domain."""

from __future__ import annotations

from carnet.exceptions import AppError, Conflict, NotFound


class OperatorNotFound(NotFound):
    code = "operator_not_found"


class InvitationInvalid(AppError):
    """Unknown, used or expired enrolment link (one answer for all: nothing to probe)."""

    status_code = 404
    code = "invitation_invalid"


class EmailTaken(Conflict):
    code = "operator_email_taken"


class SignInRefused(AppError):
    status_code = 401
    code = "operator_sign_in_refused"
