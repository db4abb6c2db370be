"""`carnet documents` commands."""

from __future__ import annotations

import base64
import json

from typer.testing import CliRunner

from carnet.cli import app


def test_codes_and_new_master_key() -> None:
    runner = CliRunner()
    codes = runner.invoke(app, ["documents", "codes"])
    assert codes.exit_code == 0, codes.output
    body = json.loads(codes.output)
    assert {"code": "90", "label": "Autres documents déposés par le patient"}.items() <= next(
        c for c in body["class_codes"] if c["code"] == "90"
    ).items()
    key = runner.invoke(app, ["documents", "new-master-key"])
    assert key.exit_code == 0
    assert len(base64.b64decode(key.output.strip(), validate=True)) == 32
