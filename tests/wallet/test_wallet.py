"""The reference wallet as a library: storage, offline codes, QR codes that scanners read."""

from __future__ import annotations

import base64
import stat
from datetime import timedelta
from pathlib import Path

import pytest
import segno
import zxingcpp
from fastapi.testclient import TestClient

from carnet.db import utcnow
from carnet.kit import card_qr
from carnet.wallet import Wallet, WalletError, check_secret_code, qr_png

from ..cards.conftest import SECRET, Activate, People
from .pngread import read_grey


def test_the_wallet_keeps_its_files_private_and_never_the_code_or_pin_key(
    activate: Activate, people: People, tmp_path: Path
) -> None:
    wallet = activate(people.jeanne)
    files = sorted(p.name for p in wallet.path.iterdir())
    assert files == ["device-key.pem", "wallet.json"]
    for path in wallet.path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    state = (wallet.path / "wallet.json").read_text()
    salt = wallet.state["pin_salt"]
    pin_key = card_qr.pin_key_from_code(SECRET, base64.urlsafe_b64decode(salt + "=="))
    for secret in (SECRET, base64.b64encode(pin_key).decode(), pin_key.hex()):
        for path in wallet.path.iterdir():
            assert secret not in path.read_text(), (secret, path)
    assert str(wallet.card_number) in state
    reopened = Wallet.open(wallet.path)
    assert (reopened.card_number, reopened.key_id) == (wallet.card_number, wallet.key_id)


def test_codes_are_made_offline_fresh_each_time_and_bound_to_the_card(
    activate: Activate, people: People
) -> None:
    wallet = Wallet.open(activate(people.jeanne).path)  # no HTTP client anywhere below
    now = utcnow()
    first = card_qr.parse(wallet.present(SECRET, now=now))
    second = card_qr.parse(wallet.present(SECRET, now=now))
    assert first.key_id == second.key_id == wallet.key_id
    assert first.token.card_number == wallet.card_number
    assert first.token.expires_at - first.token.issued_at == 120
    assert first.token.issued_at == int(now.timestamp())
    assert first.token.nonce != second.token.nonce
    assert first.token.pin_tag is not None
    assert first.token.pin_tag != second.token.pin_tag
    with pytest.raises(WalletError):
        wallet.present("12ab")


def _decode_png(path: Path) -> list[str]:
    width, height, pixels = read_grey(path)
    image = memoryview(pixels).cast("B", (height, width))
    return [
        barcode.text
        for barcode in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    ]


def test_qr_codes_fit_version_12_at_level_q_and_scanners_read_them(
    activate: Activate, people: People, tmp_path: Path
) -> None:
    wallet = activate(people.jeanne)
    # The longest code: the largest delegation id, a session purpose changes nothing in size.
    for delegation in (None, 2**40):
        text = wallet.present(SECRET, delegation_id=delegation)
        assert len(text) < 260
        qr = segno.make(text, error="q", micro=False, boost_error=False)
        assert qr.version <= 12, qr.version
        assert qr.mode == "alphanumeric"  # base45 is the QR alphanumeric alphabet
        png = tmp_path / f"code-{delegation}.png"
        assert qr_png(text, png) == qr.version
        assert _decode_png(png) == [text]
        assert card_qr.parse(text).token.delegation_id == delegation


def test_qr_png_refuses_what_does_not_fit(tmp_path: Path) -> None:
    with pytest.raises(WalletError) as refused:
        qr_png("CV1:" + "A" * 500, tmp_path / "big.png")
    assert refused.value.code == "qr_too_large"
    assert not (tmp_path / "big.png").exists()


@pytest.mark.parametrize("code", ["0000", "1111", "1234", "4321", "0123456", "98765432"])
def test_trivial_secret_codes_are_refused(code: str) -> None:
    with pytest.raises(WalletError):
        check_secret_code(code)


@pytest.mark.parametrize("code", ["123", "123456789", "12 34", "abcd", "１２３４"])
def test_secret_codes_are_4_to_8_ascii_digits(code: str) -> None:
    with pytest.raises(WalletError):
        check_secret_code(code)


@pytest.mark.parametrize("code", ["2580", "7391", "19850412", "1357", "11223"])
def test_ordinary_secret_codes_are_accepted(code: str) -> None:
    assert check_secret_code(code) == code


def test_a_code_made_a_while_ago_is_refused_by_the_platform(
    activate: Activate, people: People, app_client: TestClient
) -> None:
    wallet = activate(people.jeanne)
    stale = wallet.present(SECRET, now=utcnow() - timedelta(minutes=5), purpose=2)
    response = app_client.post("/api/v1/card/sessions", json={"code": stale})
    assert response.json()["error"]["code"] == "qr_expired"
