"""The development SMTP sink: a real SMTP server that keeps what it receives, to be read back.

``MailSink`` runs aiosmtpd in a background thread and stores each message as one ``.eml`` file
(``DATA_DIR/mail/<id>.eml``). Ids sort by reception time: ``20250131T142501123456Z-1a2b3c4d``.
Files are written under a temporary name and renamed, so a reader never sees half a message.
Only the newest ``keep`` messages are kept (1000 by default).

``Mailbox`` reads such a directory (``carnet mail list``, ``carnet mail show``, tests), from any
thread or process. The sink accepts every recipient and relays nothing: it is for development
and tests only, and listens on the loopback by default.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from carnet.config import Settings
from carnet.logging import get_logger

log = get_logger("carnet.mail.sink")

DEFAULT_KEEP = 1000
# One-time codes and notices are small; this bounds the directory to about keep × 1 MiB.
MAX_MESSAGE_BYTES = 1024 * 1024
SUFFIX = ".eml"
_ID = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{8}")
# Envelope data the sink adds on top of each stored message.
RCPT_HEADER = "X-Carnet-Sink-Rcpt-To"


@dataclass(frozen=True)
class StoredMessage:
    id: str
    received_at: datetime
    sender: str  # envelope MAIL FROM (the From header is in ``headers``)
    to: str  # envelope recipients, ", "-joined (one address for mail from MailService)
    recipients: tuple[str, ...]
    subject: str
    text: str  # the text/plain body, decoded
    message_id: str
    headers: tuple[tuple[str, str], ...]

    def summary(self) -> dict[str, str]:
        return {
            "id": self.id,
            "received_at": self.received_at.isoformat(),
            "to": self.to,
            "subject": self.subject,
        }


# -- ids: sortable by time, strictly increasing within a process ------------------------------
_id_lock = threading.Lock()
_last_micros = 0


def _new_id() -> str:
    global _last_micros
    with _id_lock:
        micros = max(time.time_ns() // 1000, _last_micros + 1)
        _last_micros = micros
    seconds, fraction = divmod(micros, 1_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}{fraction:06d}Z-{secrets.token_hex(4)}"


def _received_at(message_id: str) -> datetime:
    return datetime.strptime(message_id[:21], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)


def is_message_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


# -- reading ----------------------------------------------------------------------------------
def _parse(message_id: str, raw: bytes) -> StoredMessage:
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)  # policy.default builds EmailMessage objects
    recipients = tuple(
        address.strip() for address in str(parsed.get(RCPT_HEADER, "")).split(",") if address
    )
    text = ""
    body = parsed.get_body(preferencelist=("plain",))
    if body is not None:
        try:
            text = str(body.get_content())
        except (LookupError, ValueError):  # unknown charset or broken encoding: best effort
            payload = body.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return StoredMessage(
        id=message_id,
        received_at=_received_at(message_id),
        sender=str(parsed.get("Return-Path", "")).strip("<>"),
        to=", ".join(recipients),
        recipients=recipients,
        subject=str(parsed.get("Subject", "")),
        text=text.replace("\r\n", "\n"),  # SMTP's CRLF line ends, as Python strings use them
        message_id=str(parsed.get("Message-ID", "")),
        headers=tuple((name, str(value)) for name, value in parsed.items()),
    )


class Mailbox:
    """The messages stored in ``directory``, oldest first."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(
            name[: -len(SUFFIX)]
            for name in names
            if name.endswith(SUFFIX) and is_message_id(name[: -len(SUFFIX)])
        )

    def get(self, message_id: str) -> StoredMessage | None:
        if not is_message_id(message_id):  # also keeps the id from naming another path
            return None
        try:
            raw = (self.directory / f"{message_id}{SUFFIX}").read_bytes()
        except FileNotFoundError:  # never received, or pruned meanwhile
            return None
        return _parse(message_id, raw)

    def messages(self) -> list[StoredMessage]:
        found = (self.get(message_id) for message_id in self.ids())
        return [message for message in found if message is not None]

    def __iter__(self) -> Iterator[StoredMessage]:
        return iter(self.messages())

    def wait_for(self, to: str, timeout: float = 5.0, *, poll: float = 0.02) -> StoredMessage:
        """The newest message to ``to`` (case-insensitive), polling until ``timeout`` seconds.

        ``MailService.send`` returns only once the sink has stored the message, so right after
        a send the message is already there; the polling covers senders that do not wait.
        """
        wanted = to.strip().lower()
        deadline = time.monotonic() + timeout
        while True:
            for message_id in reversed(self.ids()):
                message = self.get(message_id)
                if message is not None and wanted in (r.lower() for r in message.recipients):
                    return message
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no message to {to} within {timeout} s in {self.directory}")
            time.sleep(poll)


# -- writing ----------------------------------------------------------------------------------
class _Store:
    """Writes messages and prunes the oldest; one lock per store for writers of this process."""

    def __init__(self, directory: Path, keep: int) -> None:
        self.directory = directory
        self.keep = keep
        self._lock = threading.Lock()

    def save(self, envelope_from: str, recipients: list[str], content: bytes) -> str:
        # The envelope, which the headers may not tell (Bcc), goes on top as two headers.
        added = f"Return-Path: <{envelope_from}>\r\n{RCPT_HEADER}: {', '.join(recipients)}\r\n"
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            message_id = _new_id()
            partial = self.directory / f".{message_id}.partial"
            partial.write_bytes(added.encode("ascii", "replace") + content)
            os.replace(partial, self.directory / f"{message_id}{SUFFIX}")
            self._prune()
        return message_id

    def _prune(self) -> None:
        ids = Mailbox(self.directory).ids()
        for old in ids[: max(0, len(ids) - self.keep)]:
            (self.directory / f"{old}{SUFFIX}").unlink(missing_ok=True)


class _Handler:
    def __init__(self, store: _Store) -> None:
        self.store = store

    async def handle_DATA(  # noqa: N802 - the hook name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        message_id = self.store.save(str(envelope.mail_from), list(envelope.rcpt_tos), content)
        # No recipient, subject or body here: they may be personal data or one-time codes.
        log.debug("mail_sink_stored", id=message_id)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's threaded controller, serving on a socket we bound ourselves.

    Binding first, in the caller's thread, makes "port taken" an immediate ``OSError`` and lets
    port 0 work: aiosmtpd would otherwise try to reach the server on port 0 to check it runs.
    """

    def __init__(self, handler: _Handler, listener: socket.socket, **kwargs: Any) -> None:
        host, port = listener.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._listener = listener
        self._connections: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._listener)

    def factory(self) -> SMTP:
        connection = SMTP(self.handler, **self.SMTP_kwargs)  # as aiosmtpd's factory does
        self._connections.add(connection)
        return connection

    def stop(self, no_assert: bool = False) -> None:
        # aiosmtpd stops its loop without closing open connections (a client that has just sent
        # QUIT, a connection still open): close them first, so no socket is left to the GC.
        async def close_connections() -> None:
            for connection in list(self._connections):
                if connection.transport is not None:
                    connection.transport.close()
            for _ in range(3):  # the transports finish closing in the next loop iterations
                await asyncio.sleep(0)

        if self.loop.is_running():
            future = asyncio.run_coroutine_threadsafe(close_connections(), self.loop)
            future.result(timeout=5)
        super().stop(no_assert)


class MailSink:
    """A real SMTP server in a background thread, storing messages in ``directory``."""

    def __init__(
        self,
        directory: Path,
        host: str = "127.0.0.1",
        port: int = 8025,
        *,
        keep: int = DEFAULT_KEEP,
    ) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.directory = Path(directory)
        self.host = host
        self.requested_port = port
        self.mailbox = Mailbox(self.directory)
        self._store = _Store(self.directory, keep)
        self._controller: _Controller | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound port (the ephemeral one when started with port 0)."""
        if self._port is None:
            raise RuntimeError("the mail sink is not running")
        return self._port

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> MailSink:
        """Bind and serve; ``OSError`` (``EADDRINUSE``…) when the address cannot be bound."""
        if self._controller is not None:
            raise RuntimeError("the mail sink is already running")
        self.directory.mkdir(parents=True, exist_ok=True)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.create_server((self.host, self.requested_port), family=family)
        controller = _Controller(
            _Handler(self._store),
            listener,
            # A fixed name: aiosmtpd would otherwise call socket.getfqdn(), slow without DNS.
            server_hostname="carnet-mail-sink",
            ident="Carnet development mail sink",
            data_size_limit=MAX_MESSAGE_BYTES,
        )
        try:
            controller.start()
        except BaseException:
            listener.close()
            raise
        self._controller = controller
        self._port = int(listener.getsockname()[1])
        log.info(
            "mail_sink_started", host=self.host, port=self._port, directory=str(self.directory)
        )
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
            log.info("mail_sink_stopped", port=self._port)
        self._port = None

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def messages(self) -> list[StoredMessage]:
        return self.mailbox.messages()

    def wait_for(self, to: str, timeout: float = 5.0) -> StoredMessage:
        return self.mailbox.wait_for(to, timeout)


def sink_directory(settings: Settings) -> Path:
    return settings.data_dir / "mail"


def start_development_sink(settings: Settings) -> MailSink | None:
    """The sink the application starts in development when no SMTP server is configured.

    Returns None when not applicable, or when the port is taken (most likely by another Carnet
    process serving the same sink: mail still reaches it). In production without SMTP, warns at
    start-up rather than at the first message.
    """
    if settings.env == "production" and not settings.smtp_host:
        log.warning("mail_not_configured", hint="set CARNET_SMTP_HOST: sending mail will fail")
    if settings.env != "development" or settings.smtp_host or settings.mail_sink_port <= 0:
        return None
    sink = MailSink(sink_directory(settings), "127.0.0.1", settings.mail_sink_port)
    try:
        return sink.start()
    except OSError as exc:
        log.warning(
            "mail_sink_not_started",
            port=settings.mail_sink_port,
            error=f"{type(exc).__name__}: {exc.strerror or exc}",
            hint="another process listens on CARNET_MAIL_SINK_PORT (another Carnet?)",
        )
        return None
