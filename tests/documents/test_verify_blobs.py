"""`carnet documents verify-blobs [--repair]`: rows against blobs, on the filesystem store and on
S3 (moto's real HTTP server): missing and altered contents, orphan blobs, and a repair that
removes the orphans only."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import select
from typer.testing import CliRunner

from carnet.audit.models import AuditEvent
from carnet.config import Settings, get_settings
from carnet.db import Database
from carnet.documents.service import vault_for
from carnet.kit.blobstore import BlobNotFound, BlobStore, FilesystemBlobStore, S3BlobStore

from . import samples
from .conftest import SPACES, World


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["filesystem", "s3"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    if request.param == "filesystem":
        return settings
    endpoint: str = request.getfixturevalue("s3_endpoint")
    bucket = f"carnet-verify-{os.urandom(4).hex()}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    return settings.model_copy(
        update={
            "blob_store": "s3",
            "s3_endpoint_url": endpoint,
            "s3_bucket": bucket,
            "s3_access_key_id": "testing",
            "s3_secret_access_key": "testing",
            "space_master_key": base64.b64encode(os.urandom(32)).decode(),
        }
    )


def verify(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, dict[str, Any]]:
    """Run the command in-process against the test's database and store."""
    from carnet.cli import app

    names = ("database_url", "blob_store", "blob_dir", "space_master_key")
    names += tuple(n for n in Settings.model_fields if n.startswith("s3_"))
    with monkeypatch.context() as patch:
        for name in names:
            value = getattr(settings, name)
            patch.setenv(f"CARNET_{name.upper()}", "" if value is None else str(value))
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(
                app, ["documents", "verify-blobs", *args], catch_exceptions=False
            )
        finally:
            get_settings.cache_clear()
    return result.exit_code, json.loads(result.stdout)


def store_of(settings: Settings) -> BlobStore:
    store = vault_for(settings).blobs
    assert isinstance(store, S3BlobStore if settings.blob_store == "s3" else FilesystemBlobStore)
    return store


def test_a_consistent_store_verifies(
    world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = world.uploaded(world.me(), samples.pdf(1))
    response = world.client.post(
        f"{SPACES}/me/documents/{first['id']}/versions",
        files={"file": ("v2.pdf", samples.pdf(2), "application/pdf")},
        data={"class_code": "10", "type_code": "11502-2", "title": "Compte rendu v2"},
        headers=world.me(),
    )
    assert response.status_code == 201, response.text
    gone = world.uploaded(world.me(world.family.paul), samples.pdf(3))
    deleted = world.client.delete(
        f"{SPACES}/me/documents/{gone['id']}", headers=world.me(world.family.paul)
    )
    assert deleted.status_code in (200, 204), deleted.text

    code, summary = verify(settings, monkeypatch, "--grace-minutes", "0")
    assert code == 0, summary
    assert summary["clean"] is True
    assert summary["rows_checked"] == 2  # both versions; the deleted row has no blob any more
    assert summary["blobs_listed"] == 2
    assert summary["problems"] == []


def test_missing_altered_and_orphan_blobs_and_the_repair(
    world: World, settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    jeanne, paul = world.family.jeanne, world.family.paul
    intact = world.uploaded(world.me(), samples.pdf(1))
    lost = world.uploaded(world.me(), samples.pdf(2))
    altered = world.uploaded(world.me(paul), samples.pdf(3))
    removed = world.uploaded(world.me(paul), samples.pdf(4))
    store = store_of(settings)
    removed_key = f"{paul.id}/{removed['id']}"
    leftover = store.get(removed_key)
    response = world.client.delete(f"{SPACES}/me/documents/{removed['id']}", headers=world.me(paul))
    assert response.status_code in (200, 204), response.text

    store.delete(f"{jeanne.id}/{lost['id']}")  # a lost blob
    altered_key = f"{paul.id}/{altered['id']}"
    sealed = bytearray(store.get(altered_key))
    sealed[-20] ^= 1
    store.put(altered_key, bytes(sealed))  # one bit flipped
    store.put(removed_key, leftover)  # a deleted document's blob that stayed
    crash_key = f"{jeanne.id}/crashedupload0000000000000000000"
    store.put(crash_key, os.urandom(64))  # written by an upload that never committed

    # Within the grace period, fresh blobs are not judged (their upload may still commit).
    code, summary = verify(settings, monkeypatch)
    assert code == 1
    assert (summary["missing"], summary["unreadable"], summary["orphans"]) == (1, 1, 0)

    code, summary = verify(settings, monkeypatch, "--grace-minutes", "0")
    assert code == 1
    assert summary["rows_checked"] == 3
    assert (summary["missing"], summary["unreadable"], summary["orphans"]) == (1, 1, 2)
    assert summary["orphans_removed"] == 0
    problems = {(p["kind"], p["blob_key"]) for p in summary["problems"]}
    assert problems == {
        ("missing", f"{jeanne.id}/{lost['id']}"),
        ("unreadable", altered_key),
        ("orphan", removed_key),
        ("orphan", crash_key),
    }
    assert store.get(crash_key)  # reporting changes nothing

    code, summary = verify(settings, monkeypatch, "--grace-minutes", "0", "--repair")
    assert code == 1  # the missing and the altered contents remain: a person must decide
    assert (summary["orphans"], summary["orphans_removed"]) == (2, 2)
    for key in (crash_key, removed_key):
        with pytest.raises(BlobNotFound):
            store.get(key)
    assert store.get(altered_key) == bytes(sealed)  # a row's blob is never removed
    content = world.client.get(f"{SPACES}/me/documents/{intact['id']}/content", headers=world.me())
    assert content.status_code == 200
    assert content.content == samples.pdf(1)

    code, summary = verify(settings, monkeypatch, "--grace-minutes", "0")
    assert code == 1
    assert (summary["missing"], summary["unreadable"], summary["orphans"]) == (1, 1, 0)

    with db.session() as s:
        audited = s.execute(
            select(AuditEvent.person_id, AuditEvent.outcome, AuditEvent.detail).where(
                AuditEvent.action == "space.documents.verify_blobs"
            )
        ).all()
    summaries = [a for a in audited if a.person_id is None]
    assert len(summaries) == 4
    assert all(a.outcome == "failure" for a in summaries)
    assert (paul.id, "failure", f"orphan: {removed_key}") in audited


def test_keys_list_committed_blobs_only(settings: Settings) -> None:
    store = store_of(settings)
    store.put("7/a", b"1")
    store.put("7/b", b"2")
    store.put("8/a", b"3")
    if isinstance(store, FilesystemBlobStore):
        (store.root / "8" / ".tmp-half-written.part").write_bytes(b"partial")
    assert sorted(store.keys()) == ["7/a", "7/b", "8/a"]
    assert sorted(store.keys("7")) == ["7/a", "7/b"]
    assert list(store.keys("9")) == []
