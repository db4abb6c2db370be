"""`carnet mail` commands: the development sink (run, list, show) and a test send over SMTP."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from carnet.commands_support import fail
from carnet.config import get_settings
from carnet.exceptions import AppError
from carnet.logging import configure_logging
from carnet.mail.service import MailService
from carnet.mail.sink import DEFAULT_KEEP, Mailbox, MailSink, sink_directory

app = typer.Typer(
    help=("Outgoing e-mail over SMTP, and the development SMTP sink whose messages can be read."),
    no_args_is_help=True,
)

DirectoryOption = Annotated[
    Path | None,
    typer.Option(help="Where the sink stores messages (default: CARNET_DATA_DIR/mail)"),
]


@app.callback()
def mail() -> None:
    """Outgoing e-mail over SMTP, and the development SMTP sink whose messages can be read."""
    # Log lines go to standard error, so that standard output stays machine-readable.
    configure_logging(get_settings())


def _directory(directory: Path | None) -> Path:
    return directory if directory is not None else sink_directory(get_settings())


@app.command("sink")
def sink_command(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="TCP port (default CARNET_MAIL_SINK_PORT; 0: any)"),
    ] = None,
    directory: DirectoryOption = None,
    keep: Annotated[int, typer.Option(min=1, help="Messages kept (the oldest go)")] = DEFAULT_KEEP,
) -> None:
    """Run the development SMTP sink in the foreground until interrupted (Ctrl-C, SIGTERM).

    Prints one JSON line with the address it listens on, then stores every message it receives.
    """
    chosen_port = get_settings().mail_sink_port if port is None else port
    sink = MailSink(_directory(directory), host, chosen_port, keep=keep)
    try:
        sink.start()
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{chosen_port}: {exc.strerror or exc}") from exc
    stopped = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    typer.echo(json.dumps({"host": host, "port": sink.port, "directory": str(sink.directory)}))
    try:
        while not stopped.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()


@app.command("list")
def list_command(
    directory: DirectoryOption = None,
    last: Annotated[
        int | None, typer.Option(min=1, help="Only the LAST most recent messages")
    ] = None,
) -> None:
    """Print the stored messages, oldest first, as JSON lines (id, received_at, to, subject)."""
    mailbox = Mailbox(_directory(directory))
    ids = mailbox.ids()
    if last is not None:
        ids = ids[-last:]
    for message_id in ids:
        message = mailbox.get(message_id)
        if message is not None:  # pruned since listed
            typer.echo(json.dumps(message.summary(), ensure_ascii=False))


@app.command("show")
def show_command(
    message_id: Annotated[str, typer.Argument(metavar="ID", help="A message id from `list`")],
    directory: DirectoryOption = None,
) -> None:
    """Print one stored message: its headers (decoded), a blank line, its text."""
    message = Mailbox(_directory(directory)).get(message_id)
    if message is None:
        raise fail(f"no message {message_id!r}")
    for name, value in message.headers:
        typer.echo(f"{name}: {value}")
    typer.echo("")
    typer.echo(message.text, nl=not message.text.endswith("\n"))


@app.command("send")
def send_command(
    to: Annotated[str, typer.Option(help="Recipient address")],
    subject: Annotated[str, typer.Option(help="Subject")] = "Carnet: test message",
    text: Annotated[str, typer.Option(help="Plain-text body")] = (
        "This message tests the outgoing mail settings of Carnet."
    ),
) -> None:
    """Send one message with the configured SMTP settings (CARNET_SMTP_*), to test them."""
    service = MailService.from_settings(get_settings())
    try:
        message_id = service.deliver(to, subject, text)
    except AppError as exc:
        raise fail(f"{exc.code}: {exc.message}") from exc
    typer.echo(json.dumps({"sent": True, "message_id": message_id, "server": service.host}))
