"""The documented way for API tests to read the mail the application sends."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from carnet.config import Settings
from carnet.mail.service import MailService
from carnet.mail.sink import MailSink


@pytest.fixture
def settings(mail_settings: Settings) -> Settings:
    return mail_settings


def test_app_client_sends_to_mail_sink_when_settings_is_overridden(
    app_client: TestClient, mail_sink: MailSink
) -> None:
    app_settings: Settings = app_client.app.state.settings  # type: ignore[attr-defined]
    assert (app_settings.smtp_host, app_settings.smtp_port) == ("127.0.0.1", mail_sink.port)
    assert app_settings.env == "test"
    MailService.from_settings(app_settings).send("api@exemple.fr", "Code", "Votre code : 123456")
    assert mail_sink.wait_for("api@exemple.fr").text == "Votre code : 123456\n"
