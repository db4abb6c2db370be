"""`carnet wallet …` end to end against a real server process (`carnet serve`), reading the
e-mailed codes from a real SMTP sink, as a person at a terminal would."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from carnet import migrate
from carnet.db import Database
from carnet.kit import card_qr
from carnet.mail.sink import MailSink
from carnet.rights.models import Coverage

from ..factories import add_person
from .pngread import read_grey

SECRET = "2580"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def platform(tmp_path: Path, mail_sink: MailSink) -> Iterator[tuple[str, dict[str, str], dict]]:
    """A migrated SQLite platform with three register persons, served by `carnet serve`."""
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    migrate.upgrade(url)
    database = Database(url)
    with database.session() as s:
        jeanne = add_person(
            s, birth_name="DUPONT", first_names="JEANNE", sex="F", birth_date="1985-04-12"
        )
        lucas = add_person(
            s, birth_name="DUPONT", first_names="LUCAS", sex="M", birth_date="2016-09-03"
        )
        marc = add_person(
            s, birth_name="MARTIN", first_names="MARC", sex="M", birth_date="1952-01-20"
        )
        for person, insured, quality in ((jeanne, jeanne, "00"), (lucas, jeanne, "06")):
            s.add(
                Coverage(
                    person_id=person.id,
                    insured_person_id=insured.id,
                    quality=quality,
                    rank=1,
                    regime="01",
                    fund="751",
                    centre="0001",
                    start_date=date(2020, 1, 1),
                )
            )
        s.add(
            Coverage(
                person_id=marc.id,
                insured_person_id=marc.id,
                quality="00",
                rank=1,
                regime="01",
                fund="751",
                centre="0001",
                start_date=date(2020, 1, 1),
            )
        )
        people = {
            name: {"nir": p.matricule, "birth_date": p.birth_date}
            for name, p in (("jeanne", jeanne), ("lucas", lucas), ("marc", marc))
        }
    database.dispose()
    env = {
        **os.environ,
        "CARNET_DATABASE_URL": url,
        "CARNET_SMTP_HOST": "127.0.0.1",
        "CARNET_SMTP_PORT": str(mail_sink.port),
    }
    env.pop("CARNET_WALLET_SECRET_CODE", None)  # every command below says where its code is
    port = _free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "carnet", "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield base, env, people
    finally:
        process.terminate()
        process.wait(timeout=15)


def wallet(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carnet", "wallet", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def activate(
    base: str, env: dict[str, str], mail_sink: MailSink, directory: Path, person: dict[str, str]
) -> dict[str, object]:
    """`carnet wallet activate`, typing the e-mailed code at its (hidden) prompt."""
    email = f"{person['nir']}@exemple.fr"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "carnet",
            "wallet",
            "activate",
            "--server",
            base,
            "--dir",
            str(directory),
            "--nir",
            person["nir"],
            "--birth-date",
            person["birth_date"],
            "--email",
            email,
            "--secret-code",
            SECRET,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # No controlling terminal: the hidden prompt reads standard input.
        start_new_session=True,
    )
    try:
        message = mail_sink.wait_for(email, timeout=60)
        otp = re.search(r"\b(\d{6})\b", message.text)
        assert otp
        out, err = process.communicate(otp.group(1) + "\n", timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert SECRET not in out + err
    return dict(json.loads(out))


def test_wallet_commands_end_to_end(
    platform: tuple[str, dict[str, str], dict], mail_sink: MailSink, tmp_path: Path
) -> None:
    base, env, people = platform
    jeanne_dir, marc_dir = tmp_path / "jeanne", tmp_path / "marc"
    card = activate(base, env, mail_sink, jeanne_dir, people["jeanne"])
    assert card["status"] == "active"
    activate(base, env, mail_sink, marc_dir, people["marc"])

    png = tmp_path / "qr.png"
    qr = wallet(env, "qr", "--dir", str(jeanne_dir), "--secret-code", SECRET, "--png", str(png))
    assert qr.returncode == 0, qr.stderr
    text = qr.stdout.strip()
    assert card_qr.parse(text).token.card_number == card["card_number"]
    assert "level Q" in qr.stderr
    width, height, pixels = read_grey(png)
    import zxingcpp

    decoded = zxingcpp.read_barcodes(memoryview(pixels).cast("B", (height, width)))
    assert [b.text for b in decoded] == [text]

    # The server URL was remembered at activation.
    shown = wallet(env, "card", "--dir", str(jeanne_dir), "--secret-code", SECRET)
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert [(b["quality"], b["matricule"]) for b in view["beneficiaries"]] == [
        ("holder", people["jeanne"]["nir"]),
        ("dependant", people["lucas"]["nir"]),
    ]

    # A holder token for the APIs (the health space), from a script.
    signed_in = wallet(env, "token", "--dir", str(jeanne_dir), "--secret-code", SECRET)
    assert signed_in.returncode == 0, signed_in.stderr
    bearer = {"Authorization": f"Bearer {signed_in.stdout.strip()}"}
    mine = httpx.get(f"{base}/api/v1/card", headers=bearer, timeout=30)
    assert (mine.status_code, mine.json()["card_number"]) == (200, card["card_number"])

    until = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    given = wallet(
        env, "delegate", "--dir", str(jeanne_dir), "--secret-code", SECRET,
        "--delegate-nir", people["marc"]["nir"], "--beneficiary-nir", people["lucas"]["nir"],
        "--until", until,
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    delegation_id = json.loads(given.stdout)["id"]
    received = wallet(env, "delegations", "--dir", str(marc_dir), "--secret-code", SECRET)
    assert [d["id"] for d in json.loads(received.stdout)["received"]] == [delegation_id]
    delegated = wallet(
        env, "qr", "--dir", str(marc_dir), "--secret-code", SECRET,
        "--delegation", str(delegation_id),
    )  # fmt: skip
    assert card_qr.parse(delegated.stdout.strip()).token.delegation_id == delegation_id
    revoked = wallet(
        env, "revoke-delegation", str(delegation_id), "--dir", str(jeanne_dir),
        "--secret-code", SECRET,
    )  # fmt: skip
    assert json.loads(revoked.stdout)["state"] == "revoked"

    wrong = wallet(env, "card", "--dir", str(jeanne_dir), "--secret-code", "7391")
    assert wrong.returncode == 1
    assert "wrong_secret_code" in wrong.stderr

    suspended = wallet(env, "suspend", "--dir", str(jeanne_dir), "--secret-code", SECRET)
    assert json.loads(suspended.stdout)["status"] == "suspended"
    refused = wallet(env, "card", "--dir", str(jeanne_dir), "--secret-code", SECRET)
    assert refused.returncode == 1
    assert "card_suspended" in refused.stderr

    state = wallet(env, "status", "--dir", str(jeanne_dir))
    assert json.loads(state.stdout)["status"] == "suspended"
    assert SECRET not in state.stdout
