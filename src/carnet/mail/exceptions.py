"""Errors of outgoing mail. Their messages never name the server's credentials."""

from __future__ import annotations

from carnet.exceptions import AppError, ValidationFailed


class MailDeliveryError(AppError):
    """The message could not be handed to the mail server (unreachable, refused, timed out)."""

    status_code = 503
    code = "mail_unavailable"


class MailNotConfigured(MailDeliveryError):
    """No SMTP server is configured (outside development, where the embedded sink stands in)."""

    code = "mail_not_configured"


class InvalidMailAddress(ValidationFailed):
    code = "invalid_email"


class InvalidMailHeader(ValidationFailed):
    """A header value that could inject headers (CR/LF) or holds other control characters."""

    code = "invalid_mail_header"


class MailRecipientRefused(ValidationFailed):
    """The server permanently refused the recipient (5xx): retrying will not help."""

    code = "mail_recipient_refused"
