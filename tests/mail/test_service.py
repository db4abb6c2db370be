"""MailService over real SMTP: the round trip to the sink, refusals, failures that leak nothing."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from carnet.config import Settings
from carnet.mail.service import (
    InvalidMailAddress,
    InvalidMailHeader,
    MailDeliveryError,
    MailNotConfigured,
    MailRecipientRefused,
    MailService,
    validate_address,
)
from carnet.mail.sink import MailSink

SECRET_KEY = "test-secret-key-not-for-production-0123456789"
PASSWORD = "Tr0ub4dor-smtp-password-never-shown"


def _service(port: int, **kwargs: object) -> MailService:
    return MailService(
        host="127.0.0.1",
        port=port,
        sender="Carnet — Assurance Maladie <no-reply@carnet.example.fr>",
        **kwargs,  # type: ignore[arg-type]
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_round_trip_keeps_utf8_subject_and_body_and_sets_the_headers(mail_sink: MailSink) -> None:
    service = _service(mail_sink.port)
    subject = "Votre code d'activation — carte Vitale numérique (été)"
    text = "Bonjour Élodie Lefèvre-Château,\n\nVotre code à usage unique : 482913\nÀ bientôt.\n"

    message_id = service.deliver("Elodie.Lefevre@Exemple.FR", subject, text)

    received = mail_sink.wait_for("elodie.lefevre@exemple.fr")
    assert received.subject == subject
    assert received.text == text
    assert received.message_id == message_id
    assert message_id.endswith("@carnet.example.fr>")
    assert received.recipients == ("Elodie.Lefevre@exemple.fr",)  # domain normalised
    assert received.sender == "no-reply@carnet.example.fr"
    headers = dict(received.headers)
    assert headers["From"] == "Carnet — Assurance Maladie <no-reply@carnet.example.fr>"
    assert headers["To"] == "Elodie.Lefevre@exemple.fr"
    assert headers["Content-Type"] == 'text/plain; charset="utf-8"'
    sent_at = parsedate_to_datetime(headers["Date"])
    assert abs((received.received_at - sent_at).total_seconds()) < 5
    # On the wire (and on disk) the message is 7-bit: encoded words and quoted-printable.
    raw = (mail_sink.directory / f"{received.id}.eml").read_bytes()
    assert raw.isascii()
    assert b"482913" in raw


def test_send_returns_none_and_each_message_has_its_own_id(mail_sink: MailSink) -> None:
    service = _service(mail_sink.port)
    assert service.send("a@exemple.fr", "Un", "1") is None  # type: ignore[func-returns-value]
    service.send("a@exemple.fr", "Deux", "2")
    messages = mail_sink.messages()
    assert [m.subject for m in messages] == ["Un", "Deux"]
    assert messages[0].message_id != messages[1].message_id
    assert mail_sink.wait_for("A@EXEMPLE.FR").subject == "Deux"  # the newest


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("victim@exemple.fr", "Code\r\nBcc: attacker@evil.example"),
        ("victim@exemple.fr", "Code\nBcc: attacker@evil.example"),
        ("victim@exemple.fr", "Code\rX-Injected: 1"),
        ("victim@exemple.fr", "Code\x00"),
        ("victim@exemple.fr", "Code\u2028Bcc: attacker@evil.example"),
        ("victim@exemple.fr\r\nBcc: attacker@evil.example", "Code"),
        ("victim@exemple.fr\n", "Code"),
    ],
)
def test_header_injection_is_refused_before_anything_is_sent(
    mail_sink: MailSink, to: str, subject: str
) -> None:
    with pytest.raises(InvalidMailHeader) as caught:
        _service(mail_sink.port).send(to, subject, "text")
    assert caught.value.status_code == 422
    assert caught.value.code == "invalid_mail_header"
    assert mail_sink.messages() == []


def test_a_sender_setting_with_a_line_break_is_a_configuration_error(mail_sink: MailSink) -> None:
    service = MailService(
        host="127.0.0.1", port=mail_sink.port, sender="Carnet <a@exemple.fr>\r\nBcc: x@evil.example"
    )
    with pytest.raises(MailNotConfigured, match="CARNET_MAIL_FROM"):
        service.send("b@exemple.fr", "s", "t")
    assert mail_sink.messages() == []


def test_the_body_may_hold_line_breaks(mail_sink: MailSink) -> None:
    _service(mail_sink.port).send("b@exemple.fr", "s", "ligne 1\r\nBcc: not-a-header@x.fr\n")
    message = mail_sink.wait_for("b@exemple.fr")
    assert message.recipients == ("b@exemple.fr",)
    assert "Bcc" not in dict(message.headers)
    assert message.text == "ligne 1\nBcc: not-a-header@x.fr\n"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "plain",
        "@exemple.fr",
        "jeanne@",
        "jeanne@localhost",
        "jeanne@@exemple.fr",
        "jeanne@exemple@fr",
        "jeanne martin@exemple.fr",
        " jeanne@exemple.fr",
        "<jeanne@exemple.fr>",
        "Jeanne <jeanne@exemple.fr>",
        "jeanne@exemple.fr, paul@exemple.fr",
        "jeanne..martin@exemple.fr",
        ".jeanne@exemple.fr",
        "jeanne.@exemple.fr",
        '"jeanne"@exemple.fr',
        "jeanne@-exemple.fr",
        "jeanne@exemple-.fr",
        "jeanne@exemple..fr",
        "jeanne@192.168.0.1",
        "jeanne@[192.168.0.1]",
        "élodie@exemple.fr",
        "jeanne@exémple.fr",
        "j" * 65 + "@exemple.fr",
        "jeanne@" + "a" * 64 + ".fr",
        "j@" + ("a" * 60 + ".") * 5 + "fr",
    ],
)
def test_bad_addresses_are_refused(mail_sink: MailSink, address: str) -> None:
    with pytest.raises(InvalidMailAddress) as caught:
        _service(mail_sink.port).send(address, "s", "t")
    assert caught.value.status_code == 422
    assert caught.value.code == "invalid_email"
    assert mail_sink.messages() == []


@pytest.mark.parametrize(
    ("address", "normalised"),
    [
        ("jeanne.martin@exemple.fr", "jeanne.martin@exemple.fr"),
        ("Jeanne.Martin+carnet@Mail.Exemple.FR", "Jeanne.Martin+carnet@mail.exemple.fr"),
        ("o'neil_2@sub-domain.exemple.co.uk", "o'neil_2@sub-domain.exemple.co.uk"),
    ],
)
def test_good_addresses_are_accepted(address: str, normalised: str) -> None:
    assert validate_address(address) == normalised


def test_unreachable_server_is_a_503_that_names_no_credential() -> None:
    service = _service(_closed_port(), username="operator@carnet.example.fr", password=PASSWORD)
    with pytest.raises(MailDeliveryError) as caught:
        service.send("jeanne@exemple.fr", "s", "t")
    error = caught.value
    assert (error.status_code, error.code) == (503, "mail_unavailable")
    shown = f"{error} {error.to_dict()} {service!r}"
    assert PASSWORD not in shown
    assert "operator@carnet.example.fr" not in str(error.to_dict())


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A server that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield int(listener.getsockname()[1])
    listener.close()


def test_a_server_that_does_not_answer_times_out_quickly(silent_server: int) -> None:
    service = _service(silent_server, timeout=0.5)
    with pytest.raises(MailDeliveryError):
        service.send("jeanne@exemple.fr", "s", "t")


def test_login_refused_or_impossible_is_a_503_that_names_no_credential(
    mail_sink: MailSink,
) -> None:
    # The sink offers no AUTH: the login fails as a real server refusing it would.
    service = _service(mail_sink.port, username="operator", password=PASSWORD)
    with pytest.raises(MailDeliveryError) as caught:
        service.send("jeanne@exemple.fr", "s", "t")
    assert PASSWORD not in f"{caught.value} {caught.value.to_dict()}"
    assert mail_sink.messages() == []


def test_starttls_against_a_server_without_it_fails_instead_of_sending_in_clear(
    mail_sink: MailSink,
) -> None:
    with pytest.raises(MailDeliveryError):
        _service(mail_sink.port, starttls=True).send("jeanne@exemple.fr", "s", "t")
    assert mail_sink.messages() == []


class _Refusing:
    """Refuses one mailbox permanently (550) and another temporarily (450)."""

    async def handle_RCPT(  # noqa: N802 - the hook name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("gone@"):
            return "550 5.1.1 No such user"
        if address.startswith("full@"):
            return "452 4.2.2 Mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - the hook name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        return "250 OK"


def test_recipient_refused_permanently_is_422_temporarily_503(tmp_path: Path) -> None:
    port = _closed_port()
    controller = Controller(_Refusing(), hostname="127.0.0.1", port=port, server_hostname="t")
    controller.start()
    try:
        service = _service(port)
        with pytest.raises(MailRecipientRefused) as refused:
            service.send("gone@exemple.fr", "s", "t")
        assert (refused.value.status_code, refused.value.code) == (422, "mail_recipient_refused")
        with pytest.raises(MailDeliveryError) as later:
            service.send("full@exemple.fr", "s", "t")
        assert later.value.status_code == 503
        service.send("present@exemple.fr", "s", "t")
    finally:
        controller.stop()


def _settings(**kwargs: object) -> Settings:
    # A production configuration needs a space master key; mail does not use it.
    master_key = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    return Settings(secret_key=SECRET_KEY, space_master_key=master_key, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("env", ["test", "production"])
def test_no_smtp_host_outside_development_fails_clearly_on_send(env: str) -> None:
    service = MailService.from_settings(_settings(env=env, smtp_host=""))  # building never fails
    with pytest.raises(MailNotConfigured, match="CARNET_SMTP_HOST") as caught:
        service.send("jeanne@exemple.fr", "s", "t")
    assert (caught.value.status_code, caught.value.code) == (503, "mail_not_configured")
    assert isinstance(caught.value, MailDeliveryError)  # callers may catch the family


def test_development_without_smtp_host_sends_to_the_sink_port(mail_sink: MailSink) -> None:
    service = MailService.from_settings(
        _settings(env="development", smtp_host="", mail_sink_port=mail_sink.port)
    )
    service.send("dev@exemple.fr", "s", "t")
    assert mail_sink.wait_for("dev@exemple.fr").text == "t\n"


def test_development_with_the_sink_disabled_is_not_configured() -> None:
    service = MailService.from_settings(_settings(env="development", mail_sink_port=0))
    with pytest.raises(MailNotConfigured, match="CARNET_MAIL_SINK_PORT"):
        service.send("dev@exemple.fr", "s", "t")


def test_configured_smtp_host_is_used_with_the_settings_credentials(mail_sink: MailSink) -> None:
    settings = _settings(
        env="production",
        smtp_host="127.0.0.1",
        smtp_port=mail_sink.port,
        mail_from="Carnet <ne-pas-repondre@carnet.example.fr>",
    )
    MailService.from_settings(settings).send("prod@exemple.fr", "s", "t")
    assert mail_sink.wait_for("prod@exemple.fr").sender == "ne-pas-repondre@carnet.example.fr"
    with_password = settings.model_copy(update={"smtp_username": "u", "smtp_password": PASSWORD})
    assert PASSWORD not in repr(MailService.from_settings(with_password))


def test_concurrent_sends_are_all_stored_once(mail_sink: MailSink) -> None:
    service = _service(mail_sink.port)
    errors: list[BaseException] = []

    def send_five(worker: int) -> None:
        try:
            for i in range(5):
                service.send(f"w{worker}@exemple.fr", f"{worker}-{i}", "t")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=send_five, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    messages = mail_sink.messages()
    assert sorted(m.subject for m in messages) == sorted(
        f"{w}-{i}" for w in range(4) for i in range(5)
    )
    ids = [m.id for m in messages]
    assert len(set(ids)) == 20
    assert ids == sorted(ids)
