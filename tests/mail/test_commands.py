"""`carnet mail …` as operators and developers run it: sink, list, show, send."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from carnet.mail.service import MailService
from carnet.mail.sink import MailSink

PASSWORD = "Tr0ub4dor-smtp-password-never-shown"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CARNET_DATA_DIR": str(data_dir), **extra}


def _carnet(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carnet", "mail", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _send(port: int, to: str, subject: str, text: str) -> None:
    MailService(host="127.0.0.1", port=port, sender="Carnet <no-reply@carnet.example.fr>").send(
        to, subject, text
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def filled_sink(data_dir: Path) -> MailSink:
    # The directory `carnet mail list` reads by default: CARNET_DATA_DIR/mail.
    with MailSink(data_dir / "mail", port=0) as sink:
        _send(sink.port, "jeanne@exemple.fr", "Premier message", "un")
        _send(sink.port, "noemie@exemple.fr", "Code d'activation — été", "Votre code : 482913\n")
    return sink


def test_list_prints_one_json_line_per_message_oldest_first(
    data_dir: Path, filled_sink: MailSink
) -> None:
    result = _carnet("list", env=_env(data_dir))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(m["to"], m["subject"]) for m in lines] == [
        ("jeanne@exemple.fr", "Premier message"),
        ("noemie@exemple.fr", "Code d'activation — été"),
    ]
    assert set(lines[0]) == {"id", "received_at", "to", "subject"}
    assert [m["id"] for m in lines] == [m.id for m in filled_sink.messages()]

    last = _carnet("list", "--last", "1", env=_env(data_dir))
    assert [json.loads(line)["to"] for line in last.stdout.splitlines()] == ["noemie@exemple.fr"]


def test_list_of_an_empty_mailbox_prints_nothing(data_dir: Path) -> None:
    result = _carnet("list", env=_env(data_dir))
    assert (result.returncode, result.stdout) == (0, "")


def test_show_prints_decoded_headers_then_the_text(data_dir: Path, filled_sink: MailSink) -> None:
    message_id = filled_sink.messages()[-1].id
    result = _carnet("show", message_id, env=_env(data_dir))
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition("\n\n")
    assert "Subject: Code d'activation — été" in head.splitlines()
    assert "To: noemie@exemple.fr" in head.splitlines()
    assert "From: Carnet <no-reply@carnet.example.fr>" in head.splitlines()
    assert body == "Votre code : 482913\n"


@pytest.mark.parametrize("message_id", ["20990101T000000000000Z-abcdef01", "../../etc/passwd"])
def test_show_of_an_unknown_id_fails(
    data_dir: Path, filled_sink: MailSink, message_id: str
) -> None:
    result = _carnet("show", message_id, env=_env(data_dir))
    assert result.returncode == 1
    assert "no message" in result.stderr


def test_send_uses_the_smtp_settings(data_dir: Path, mail_sink: MailSink) -> None:
    env = _env(data_dir, CARNET_SMTP_HOST="127.0.0.1", CARNET_SMTP_PORT=str(mail_sink.port))
    result = _carnet(
        "send",
        "--to",
        "ops@exemple.fr",
        "--subject",
        "Essai SMTP é",
        "--text",
        "Ça marche.",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    received = mail_sink.wait_for("ops@exemple.fr")
    assert out == {"sent": True, "message_id": received.message_id, "server": "127.0.0.1"}
    assert (received.subject, received.text) == ("Essai SMTP é", "Ça marche.\n")


def test_send_to_an_unreachable_server_fails_without_showing_the_password(data_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    env = _env(
        data_dir,
        CARNET_SMTP_HOST="127.0.0.1",
        CARNET_SMTP_PORT=str(closed_port),
        CARNET_SMTP_USERNAME="operator",
        CARNET_SMTP_PASSWORD=PASSWORD,
        CARNET_LOG_LEVEL="DEBUG",  # even the most talkative logs must not show it
    )
    result = _carnet("send", "--to", "ops@exemple.fr", env=env)
    assert result.returncode == 1
    assert "mail_unavailable" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_send_refuses_a_bad_address(data_dir: Path, mail_sink: MailSink) -> None:
    env = _env(data_dir, CARNET_SMTP_HOST="127.0.0.1", CARNET_SMTP_PORT=str(mail_sink.port))
    result = _carnet("send", "--to", "not an address", env=env)
    assert result.returncode == 1
    assert "invalid_email" in result.stderr
    assert mail_sink.messages() == []


def test_send_without_smtp_outside_development_says_what_to_configure(data_dir: Path) -> None:
    result = _carnet("send", "--to", "ops@exemple.fr", env=_env(data_dir, CARNET_SMTP_HOST=""))
    assert result.returncode == 1
    assert "mail_not_configured" in result.stderr
    assert "CARNET_SMTP_HOST" in result.stderr


def test_sink_runs_in_the_foreground_until_terminated(data_dir: Path, tmp_path: Path) -> None:
    directory = tmp_path / "sink"
    command = [sys.executable, "-m", "carnet", "mail", "sink", "--port", "0"]
    with subprocess.Popen(
        [*command, "--directory", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(data_dir),
    ) as process:
        try:
            assert process.stdout is not None
            started = json.loads(process.stdout.readline())
            assert started["host"] == "127.0.0.1"
            assert started["directory"] == str(directory)
            _send(started["port"], "dev@exemple.fr", "Bonjour", "depuis le test")
            process.send_signal(signal.SIGTERM)
            _out, err = process.communicate(timeout=30)
            assert process.returncode == 0, err
        finally:
            if process.poll() is None:
                process.kill()
    result = _carnet("list", "--directory", str(directory), env=_env(data_dir))
    assert [json.loads(line)["subject"] for line in result.stdout.splitlines()] == ["Bonjour"]


def test_sink_on_a_taken_port_fails(data_dir: Path, mail_sink: MailSink) -> None:
    result = _carnet("sink", "--port", str(mail_sink.port), env=_env(data_dir))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{mail_sink.port}" in result.stderr
