"""The envelope (AES-256-GCM under wrapped per-space keys) and the blob stores: the filesystem
store, and the S3 store against moto's real HTTP server (not an in-process patch)."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from carnet.config import Settings
from carnet.kit.blobstore import BlobNotFound, FilesystemBlobStore, S3BlobStore
from carnet.kit.envelope import Envelope, EnvelopeError, MasterKeyInvalid, parse_master_key

from . import samples
from .conftest import SPACES, World


def test_envelope_round_trip_and_tamper_evidence() -> None:
    envelope = Envelope(os.urandom(32))
    data_key, wrapped = envelope.new_data_key()
    assert len(wrapped) == 40
    assert data_key not in wrapped
    assert envelope.unwrap(wrapped) == data_key
    sealed = envelope.encrypt(data_key, b"compte rendu", b"1/abc")
    assert b"compte rendu" not in sealed
    assert envelope.decrypt(data_key, sealed, b"1/abc") == b"compte rendu"
    with pytest.raises(EnvelopeError):
        envelope.decrypt(data_key, sealed, b"2/abc")  # moved to another place
    altered = bytearray(sealed)
    altered[20] ^= 1
    with pytest.raises(EnvelopeError):
        envelope.decrypt(data_key, bytes(altered), b"1/abc")
    with pytest.raises(EnvelopeError):
        Envelope(os.urandom(32)).unwrap(wrapped)  # another master key
    assert "master_key_id" in repr(envelope)
    assert envelope.master_key_id not in ("", None)


def test_master_key_from_settings() -> None:
    key = os.urandom(32)
    assert parse_master_key(base64.b64encode(key).decode(), secret_key="x" * 40) == key
    derived = parse_master_key("", secret_key="x" * 40)
    assert len(derived) == 32
    assert derived == parse_master_key("", secret_key="x" * 40)
    assert derived != parse_master_key("", secret_key="y" * 40)
    with pytest.raises(MasterKeyInvalid):
        parse_master_key(base64.b64encode(b"short").decode(), secret_key="x" * 40)
    with pytest.raises(MasterKeyInvalid):
        parse_master_key("not base64 !", secret_key="x" * 40)


def test_filesystem_store(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    store.put("12/abc", b"one")
    store.put("12/abc", b"two")  # atomic replace
    store.put("12/def", b"three")
    store.put("13/abc", b"other person")
    assert store.get("12/abc") == b"two"
    assert not list((tmp_path / "blobs").rglob(".tmp-*"))
    store.delete("12/def")
    store.delete("12/def")  # idempotent
    with pytest.raises(BlobNotFound):
        store.get("12/def")
    assert store.delete_prefix("12") == 1
    assert store.get("13/abc") == b"other person"
    with pytest.raises(ValueError, match="invalid blob key"):
        store.put("../escape", b"x")


def test_concurrent_writes_never_leave_a_partial_blob(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    payloads = [bytes([i]) * 200_000 for i in range(8)]

    def write(data: bytes) -> None:
        for _ in range(5):
            store.put("1/same", data)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("1/same") in payloads


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _bucket(endpoint: str, name: str) -> str:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=name)
    return name


def test_s3_store_against_a_real_http_server(s3_endpoint: str) -> None:
    bucket = _bucket(s3_endpoint, "carnet-store-test")
    store = S3BlobStore(
        bucket=bucket,
        endpoint_url=s3_endpoint,
        access_key_id="testing",
        secret_access_key="testing",
    )
    store.put("12/abc", b"one")
    store.put("12/def", b"two")
    store.put("13/abc", b"three")
    assert store.get("12/abc") == b"one"
    store.delete("12/abc")
    with pytest.raises(BlobNotFound):
        store.get("12/abc")
    assert store.delete_prefix("12") == 1
    assert store.get("13/abc") == b"three"
    assert "testing" not in repr(store)


@pytest.fixture
def settings(settings: Settings, s3_endpoint: str, request: pytest.FixtureRequest) -> Settings:
    if "s3" not in request.node.name:
        return settings
    bucket = _bucket(s3_endpoint, f"carnet-docs-{os.urandom(4).hex()}")
    return settings.model_copy(
        update={
            "blob_store": "s3",
            "s3_endpoint_url": s3_endpoint,
            "s3_bucket": bucket,
            "s3_access_key_id": "testing",
            "s3_secret_access_key": "testing",
            "space_master_key": base64.b64encode(os.urandom(32)).decode(),
        }
    )


def test_documents_on_s3_end_to_end(world: World, settings: Settings, s3_endpoint: str) -> None:
    doc = world.uploaded(world.me(), samples.pdf(3))
    content = world.client.get(f"{SPACES}/me/documents/{doc['id']}/content", headers=world.me())
    assert content.status_code == 200
    assert content.content == samples.pdf(3)
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    key = f"{world.family.jeanne.id}/{doc['id']}"
    stored = client.get_object(Bucket=settings.s3_bucket, Key=key)["Body"].read()
    assert b"%PDF" not in stored
    assert len(stored) == len(samples.pdf(3)) + 1 + 12 + 16
    assert not list(world.blob_dir.rglob("*")) if world.blob_dir.exists() else True
