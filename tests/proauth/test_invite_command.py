"""`carnet pro invite --rpps R`: the one-time enrolment link."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carnet.config import get_settings
from tests.proauth.conftest import RPPS_MOREL, RPPS_NEW, RPPS_RETIRED, Professionals


def _invoke(monkeypatch: pytest.MonkeyPatch, database_url: str, *args: str) -> tuple[int, str, str]:
    from carnet.cli import app

    with monkeypatch.context() as patch:
        patch.setenv("CARNET_DATABASE_URL", database_url)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        finally:
            get_settings.cache_clear()
    return result.exit_code, result.stdout, result.stderr


def test_invite_prints_a_link_that_opens_the_enrolment_page(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    professionals: Professionals,
    app_client: TestClient,
) -> None:
    code, out, err = _invoke(
        monkeypatch, database_url, "pro", "invite", "--rpps", RPPS_MOREL,
        "--base-url", "https://carnet.example/",
    )  # fmt: skip
    assert code == 0, err
    link = out.strip()
    assert link.startswith("https://carnet.example/pro/enrolement/")
    assert "Claire Morel" in err
    page = app_client.get(link.removeprefix("https://carnet.example"))
    assert page.status_code == 200
    assert "Claire Morel" in page.text
    assert 'data-passkey="create"' in page.text


@pytest.mark.parametrize("rpps", [RPPS_NEW, RPPS_RETIRED, "123"])
def test_invite_refuses_unknown_inactive_or_malformed(
    monkeypatch: pytest.MonkeyPatch, database_url: str, professionals: Professionals, rpps: str
) -> None:
    code, out, err = _invoke(monkeypatch, database_url, "pro", "invite", "--rpps", rpps)
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
