"""The development sink: ephemeral ports, retention, readers, and its start by the application."""

from __future__ import annotations

import smtplib
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from carnet.config import Settings
from carnet.db import Database
from carnet.mail.service import MailService
from carnet.mail.sink import Mailbox, MailSink
from carnet.main import create_app

SECRET_KEY = "test-secret-key-not-for-production-0123456789"


def _send(port: int, to: str, subject: str, text: str = "corps") -> None:
    MailService(host="127.0.0.1", port=port, sender="Carnet <no-reply@carnet.example.fr>").send(
        to, subject, text
    )


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_port_zero_binds_an_ephemeral_port_and_stop_releases_it(tmp_path: Path) -> None:
    sink = MailSink(tmp_path, "127.0.0.1", 0)
    with pytest.raises(RuntimeError):
        _ = sink.port  # not running yet
    with sink:
        port = sink.port
        assert port > 0
        assert _accepts_connections(port)
        with smtplib.SMTP("127.0.0.1", port, local_hostname="test", timeout=5) as client:
            code, _reply = client.noop()
            assert code == 250
    assert not sink.running
    assert not _accepts_connections(port)


def test_two_sinks_on_port_zero_get_different_ports(tmp_path: Path) -> None:
    with MailSink(tmp_path / "a", port=0) as first, MailSink(tmp_path / "b", port=0) as second:
        assert first.port != second.port
        _send(first.port, "a@exemple.fr", "to first")
        _send(second.port, "b@exemple.fr", "to second")
        assert [m.subject for m in first.messages()] == ["to first"]
        assert [m.subject for m in second.messages()] == ["to second"]


def test_a_taken_port_is_an_immediate_os_error(tmp_path: Path) -> None:
    with MailSink(tmp_path / "a", port=0) as running:
        with pytest.raises(OSError, match="Address already in use"):
            MailSink(tmp_path / "b", port=running.port).start()
        _send(running.port, "still@exemple.fr", "the first sink still works")
        assert running.wait_for("still@exemple.fr")


def test_only_the_newest_messages_are_kept(tmp_path: Path) -> None:
    with MailSink(tmp_path, port=0, keep=3) as sink:
        for n in range(1, 8):
            _send(sink.port, "jeanne@exemple.fr", f"message {n}")
        assert [m.subject for m in sink.messages()] == ["message 5", "message 6", "message 7"]
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".eml"] * 3  # no partial files


def test_default_retention_is_a_thousand(tmp_path: Path) -> None:
    sink = MailSink(tmp_path, port=0)
    with sink:
        # Pre-fill with 1000 well-formed messages, then one more arrives over SMTP.
        for n in range(1000):
            (tmp_path / f"20000101T000000{n:06d}Z-00000000.eml").write_bytes(
                b"Subject: old\r\n\r\nold\r\n"
            )
        _send(sink.port, "jeanne@exemple.fr", "new")
        ids = sink.mailbox.ids()
    assert len(ids) == 1000
    assert ids[0] == "20000101T000000000001Z-00000000"  # the oldest went
    assert sink.mailbox.get(ids[-1]).subject == "new"  # type: ignore[union-attr]


def test_mailbox_reads_in_order_and_ignores_strangers(tmp_path: Path) -> None:
    with MailSink(tmp_path, port=0) as sink:
        _send(sink.port, "a@exemple.fr", "premier")
        _send(sink.port, "b@exemple.fr", "second")
    (tmp_path / "notes.txt").write_text("not a message")
    (tmp_path / ".20990101T000000000000Z-aaaaaaaa.partial").write_bytes(b"Subject: half")
    mailbox = Mailbox(tmp_path)
    messages = mailbox.messages()
    assert [(m.to, m.subject) for m in messages] == [
        ("a@exemple.fr", "premier"),
        ("b@exemple.fr", "second"),
    ]
    assert messages[0].received_at <= messages[1].received_at
    assert mailbox.get(messages[1].id) == messages[1]
    assert mailbox.get("../notes") is None
    assert mailbox.get("20990101T000000000000Z-ffffffff") is None
    assert Mailbox(tmp_path / "missing").messages() == []


def test_wait_for_polls_then_times_out(tmp_path: Path) -> None:
    with (
        MailSink(tmp_path, port=0) as sink,
        pytest.raises(TimeoutError, match=r"nobody@exemple\.fr"),
    ):
        sink.wait_for("nobody@exemple.fr", timeout=0.2)


def _dev_settings(database_url: str, data_dir: Path, port: int) -> Settings:
    return Settings(
        env="development",
        database_url=database_url,
        secret_key=SECRET_KEY,
        data_dir=data_dir,
        mail_sink_port=port,
        log_json=False,
        log_level="ERROR",
    )


def test_the_app_runs_the_sink_in_development_without_smtp(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    settings = _dev_settings(database_url, tmp_path, _free_port())
    with TestClient(create_app(settings, database)) as client:
        assert client.get("/healthz").status_code == 200
        MailService.from_settings(settings).send("dev@exemple.fr", "Code", "123456")
        assert Mailbox(tmp_path / "mail").wait_for("dev@exemple.fr").text == "123456\n"
    assert not _accepts_connections(settings.mail_sink_port)  # stopped at shutdown


def test_the_app_starts_even_when_another_process_holds_the_sink_port(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    with MailSink(tmp_path / "other", port=0) as other:
        settings = _dev_settings(database_url, tmp_path, other.port)
        with TestClient(create_app(settings, database)) as client:
            assert client.get("/healthz").status_code == 200
            MailService.from_settings(settings).send("dev@exemple.fr", "Code", "654321")
        # The mail reached the sink that holds the port, which the app's shutdown left running.
        assert other.wait_for("dev@exemple.fr").text == "654321\n"
        assert _accepts_connections(other.port)


def test_the_app_starts_no_sink_when_smtp_is_configured(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    port = _free_port()
    settings = _dev_settings(database_url, tmp_path, port).model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": 2}
    )
    with TestClient(create_app(settings, database)):
        assert not _accepts_connections(port)
