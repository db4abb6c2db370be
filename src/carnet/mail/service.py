"""Outgoing e-mail: one plain-text UTF-8 message per call, over SMTP (stdlib ``smtplib``).

Where it goes, from the settings:

- ``CARNET_SMTP_HOST`` set: that server (optional STARTTLS, optional login);
- empty, in development: the embedded sink at ``127.0.0.1:CARNET_MAIL_SINK_PORT`` (see
  ``carnet.mail.sink``; ``carnet mail list`` reads what it received);
- empty, in test or production: every send raises ``MailNotConfigured`` (503). Building the
  service never fails, so that an application without SMTP still starts; sending does.

Bodies carry one-time codes: they are never logged. A log line names the recipient's domain and
the Message-ID only.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import unicodedata
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from carnet.config import Settings
from carnet.logging import get_logger
from carnet.mail.exceptions import (
    InvalidMailAddress,
    InvalidMailHeader,
    MailDeliveryError,
    MailNotConfigured,
    MailRecipientRefused,
)

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "InvalidMailAddress",
    "InvalidMailHeader",
    "MailDeliveryError",
    "MailNotConfigured",
    "MailRecipientRefused",
    "MailService",
    "validate_address",
]

log = get_logger("carnet.mail")

# A user waits on the HTTP request that sends the mail: fail fast rather than hang a worker.
DEFAULT_TIMEOUT_SECONDS = 10.0
SINK_HOST = "127.0.0.1"
MAX_SUBJECT_LENGTH = 250
MAX_TEXT_LENGTH = 100_000

# One simple rule set: an ASCII dot-atom local part, and a domain of at least two DNS labels
# whose last label is not numeric. No quoted local parts, no IP literals, no IDN, no comments.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _refuse_control_characters(field: str, value: str) -> None:
    # CR/LF would let a value start a new header (header injection); other control characters
    # (NUL, VT, FF, NEL, line/paragraph separators) have no business in a header either.
    if any(
        (unicodedata.category(char) in {"Cc", "Zl", "Zp"} and char != "\t") or char in "\r\n"
        for char in value
    ):
        raise InvalidMailHeader(
            f"the {field} of the message must not contain line breaks or control characters"
        )


def validate_address(address: str, *, field: str = "recipient") -> str:
    """Return ``address`` with its domain lower-cased, or raise ``InvalidMailAddress`` (422).

    CR/LF or other control characters raise ``InvalidMailHeader`` (422) first.
    """
    _refuse_control_characters(field, address)
    invalid = InvalidMailAddress(
        f"the {field} is not a valid e-mail address (expected name@domain.tld, ASCII only)"
    )
    if len(address) > 254 or address.count("@") != 1:
        raise invalid
    local, domain = address.split("@")
    if len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        raise invalid
    labels = domain.split(".")
    if len(labels) < 2 or labels[-1].isdigit() or not all(_LABEL.fullmatch(x) for x in labels):
        raise invalid
    return f"{local}@{domain.lower()}"


def _domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1]


class MailService:
    """Sends plain-text mail. Thread-safe: each call opens its own SMTP connection."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        not_configured: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self._password = password
        self.starttls = starttls
        self.timeout = timeout
        # When set, the reason every send fails (no SMTP server for this environment).
        self.not_configured = not_configured

    @classmethod
    def from_settings(cls, settings: Settings) -> MailService:
        if settings.smtp_host:
            return cls(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.mail_from,
                username=settings.smtp_username,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
            )
        if settings.env == "development" and settings.mail_sink_port > 0:
            # The embedded sink: plain SMTP on the loopback, no TLS, no login.
            return cls(host=SINK_HOST, port=settings.mail_sink_port, sender=settings.mail_from)
        reason = (
            "no SMTP server is configured: set CARNET_SMTP_HOST (and CARNET_SMTP_PORT, "
            "CARNET_SMTP_USERNAME, CARNET_SMTP_PASSWORD, CARNET_SMTP_STARTTLS)"
        )
        if settings.env == "development":
            reason += ", or a CARNET_MAIL_SINK_PORT for the development sink"
        return cls(
            host="", port=settings.smtp_port, sender=settings.mail_from, not_configured=reason
        )

    def __repr__(self) -> str:  # never the password
        return (
            f"MailService(host={self.host!r}, port={self.port}, username={self.username!r}, "
            f"starttls={self.starttls}, configured={self.not_configured is None})"
        )

    def send(self, to: str, subject: str, text: str) -> None:
        """Send a plain-text message to one recipient.

        Raises ``InvalidMailAddress`` / ``InvalidMailHeader`` (422) for bad input,
        ``MailRecipientRefused`` (422) when the server permanently refuses the recipient,
        ``MailDeliveryError`` (503, ``mail_unavailable``) when the server cannot take it, and
        ``MailNotConfigured`` (503, a ``MailDeliveryError``) when there is no server.
        """
        self.deliver(to, subject, text)

    def deliver(self, to: str, subject: str, text: str) -> str:
        """``send``, returning the Message-ID (for operators' tools and tests)."""
        if self.not_configured is not None:
            log.error("mail_not_configured")
            raise MailNotConfigured(self.not_configured)
        recipient = validate_address(to)
        _refuse_control_characters("subject", subject)
        if len(subject) > MAX_SUBJECT_LENGTH:
            raise InvalidMailHeader(f"the subject is longer than {MAX_SUBJECT_LENGTH} characters")
        if len(text) > MAX_TEXT_LENGTH:
            raise InvalidMailHeader(f"the text is longer than {MAX_TEXT_LENGTH} characters")
        sender_name, sender_address = self._sender()

        message = EmailMessage()
        message["From"] = Address(display_name=sender_name, addr_spec=sender_address)
        message["To"] = recipient
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message_id = make_msgid(domain=_domain_of(sender_address))
        message["Message-ID"] = message_id
        # Quoted-printable keeps the message 7-bit clean for any relay, and readable.
        message.set_content(text, charset="utf-8", cte="quoted-printable")

        context = {"recipient_domain": _domain_of(recipient), "message_id": message_id}
        try:
            with smtplib.SMTP(
                self.host,
                self.port,
                timeout=self.timeout,
                # Not socket.getfqdn(): its reverse DNS lookup can stall for seconds.
                local_hostname=_domain_of(sender_address),
            ) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self._password)
                smtp.send_message(message, from_addr=sender_address, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _reply in exc.recipients.values()]
            log.warning("mail_recipient_refused", smtp_codes=codes, **context)
            if codes and all(code >= 500 for code in codes):
                raise MailRecipientRefused("the mail server refused the recipient address") from exc
            raise MailDeliveryError(
                "the mail server could not take the message now; try again later"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # The error class and SMTP code are enough to diagnose; the server's reply text
            # and our credentials stay out of the response and of the logs.
            log.warning(
                "mail_delivery_failed",
                error=type(exc).__name__,
                smtp_code=getattr(exc, "smtp_code", None),
                **context,
            )
            raise MailDeliveryError(
                "the mail server could not be reached or refused the message; try again later"
            ) from exc
        log.info("mail_sent", **context)
        return message_id

    def _sender(self) -> tuple[str, str]:
        name, address = parseaddr(self.sender)
        try:
            _refuse_control_characters("sender", self.sender)
            address = validate_address(address, field="sender (CARNET_MAIL_FROM)")
        except (InvalidMailAddress, InvalidMailHeader) as exc:
            raise MailNotConfigured(
                f"CARNET_MAIL_FROM is not a valid address ({exc.message})"
            ) from exc
        return name, address
