"""Blob stores for encrypted contents: a local directory (default) or an S3-compatible bucket.

Keys are relative paths of safe characters (``<person id>/<document id>``): a person's blobs
share a prefix, so that a space purge can remove them all (``delete_prefix``). Stores never see
plaintext: callers encrypt first (``carnet.kit.envelope``).

Domain-free on purpose (``carnet.kit`` imports no domain).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,100}(/[A-Za-z0-9_-]{1,100}){0,4}$")


class BlobNotFound(KeyError):
    """No blob under this key."""


class BlobStoreError(RuntimeError):
    """The store could not be read or written (disk, network, credentials)."""


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError(f"invalid blob key {key!r}")
    return key


class BlobStore(Protocol):
    """Where encrypted contents live. ``put`` is atomic: a reader sees all of a blob or nothing."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None:
        """Remove a blob; removing a missing blob is not an error."""

    def delete_prefix(self, prefix: str) -> int:
        """Remove every blob under ``prefix/``; returns how many were removed."""

    def keys(self, prefix: str = "", *, older_than: datetime | None = None) -> Iterator[str]:
        """Every blob key under ``prefix/`` (all keys when ``prefix`` is empty), streamed in no
        promised order; blobs being written are never listed. ``older_than``: only blobs last
        written before that instant (a blob younger than it may belong to a transaction that
        has not committed yet)."""
        ...


class FilesystemBlobStore:
    """Blobs as files under ``root``; written to a temporary file, fsynced, then renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"FilesystemBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        # The rename itself must reach the disk: fsync the directory.
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def delete_prefix(self, prefix: str) -> int:
        directory = self._path(prefix)
        if not directory.is_dir():
            return 0
        removed = 0
        for path in sorted(directory.rglob("*"), reverse=True):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
                removed += not path.name.startswith(".tmp-")
        directory.rmdir()
        return removed

    def keys(self, prefix: str = "", *, older_than: datetime | None = None) -> Iterator[str]:
        start = self._path(prefix) if prefix else self.root
        limit = older_than.timestamp() if older_than is not None else None
        yield from self._walk(str(start), len(str(self.root)) + 1, limit, lazy=True)

    def _walk(self, directory: str, base: int, limit: float | None, *, lazy: bool) -> Iterator[str]:
        """Depth first. The top directory (one entry per space) is read lazily; the others (one
        space's blobs) are read whole first, so that a caller may delete what it was given."""
        try:
            scanner = os.scandir(directory)
        except (FileNotFoundError, NotADirectoryError):
            return
        with scanner:
            entries = scanner if lazy else sorted(scanner, key=lambda e: e.name)
            for entry in entries:
                if entry.name.startswith(".tmp-"):
                    continue  # being written (or left by a crash mid-write)
                try:
                    if entry.is_dir(follow_symlinks=False):
                        yield from self._walk(entry.path, base, limit, lazy=False)
                        continue
                    if not entry.is_file(follow_symlinks=False) or (
                        limit is not None and entry.stat(follow_symlinks=False).st_mtime >= limit
                    ):
                        continue
                except FileNotFoundError:  # removed meanwhile
                    continue
                yield entry.path[base:].replace(os.sep, "/")


class S3BlobStore:
    """Blobs as objects of an S3-compatible bucket (AWS S3, MinIO, Ceph, Garage…)."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "",
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    def __repr__(self) -> str:  # never the credentials
        return f"S3BlobStore(bucket={self.bucket!r})"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _failed(self, verb: str, exc: Exception) -> str:
        return f"cannot {verb} the S3 bucket {self.bucket!r}: {type(exc).__name__}: {exc}"

    def put(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreError(f"cannot write to the S3 bucket {self.bucket!r}: {exc}") from exc

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            data: bytes = answer["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise BlobNotFound(key) from exc
            raise BlobStoreError(f"cannot read the S3 bucket {self.bucket!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise BlobStoreError(f"cannot read the S3 bucket {self.bucket!r}: {exc}") from exc
        return data

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreError(self._failed("remove objects of", exc)) from exc

    def delete_prefix(self, prefix: str) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        removed = 0
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix) + "/"):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    self._client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                    )
                    removed += len(keys)
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreError(self._failed("remove objects of", exc)) from exc
        return removed

    def keys(self, prefix: str = "", *, older_than: datetime | None = None) -> Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        listed = self._key(prefix) + "/" if prefix else self.prefix
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=listed):
                for item in page.get("Contents", []):
                    modified = item.get("LastModified")
                    if older_than is not None and modified is not None:
                        if modified.tzinfo is None:
                            modified = modified.replace(tzinfo=UTC)
                        if modified >= older_than:
                            continue
                    yield str(item["Key"])[len(self.prefix) :]
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreError(self._failed("list objects of", exc)) from exc
