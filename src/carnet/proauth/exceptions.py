"""Errors of the professionals' sign-in."""

from __future__ import annotations

from carnet.exceptions import AppError


class InvitationInvalid(AppError):
    """The enrolment link is unknown, expired or already used."""

    status_code = 410
    code = "invitation_invalid"


class SignInRefused(AppError):
    """The professional may not sign in (unknown to the directory, inactive, replay…)."""

    status_code = 403
    code = "pro_sign_in_refused"


class OidcError(AppError):
    """The identity provider's answer is unusable (state, token, signature, claims…)."""

    status_code = 400
    code = "oidc_failed"


class OidcUnavailable(AppError):
    status_code = 503
    code = "oidc_unavailable"
