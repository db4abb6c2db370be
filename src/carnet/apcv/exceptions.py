"""Errors of the apcv domain (stable codes the professional software can branch on)."""

from __future__ import annotations

from carnet.exceptions import AppError, NotFound


class ContextNotFound(NotFound):
    """Unknown context, or one created by another client: the same answer for both."""

    code = "context_not_found"


class ContextExpired(AppError):
    """The context expired or was destroyed: present the card again."""

    status_code = 410
    code = "context_expired"


class BeneficiaryNotInContext(NotFound):
    code = "beneficiary_not_in_context"


class SigningUnavailable(AppError):
    """The platform's signing key is not provisioned (production): an operator must act."""

    status_code = 503
    code = "signing_key_unavailable"
