"""The platform's own ES256 signing keys, one per purpose (e.g. invoice signatures).

A key is an EC P-256 private key in a PKCS#8 PEM file, ``<data_dir>/keys/<name>.pem``. In
development and test a missing key is created on first use (mode 0600); in production it is
refused: a key that signs on behalf of insured persons must be provisioned on purpose (and backed
up), never appear silently on one server of a cluster. The key id is the RFC 7638 JWK thumbprint,
so a verifier can pick the key from the published JWKS without any registry of ids.

Retired keys stay publishable: files ``<name>.retired-<anything>.pem`` next to the current one are
listed in the JWKS (so signatures made before a rotation can still be verified) but never sign.

Domain-free on purpose (``carnet.kit`` imports no domain).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey

ALGORITHM = "ES256"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class SigningKeyMissing(RuntimeError):
    """Production without a provisioned key file: the message names the file to provision."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        super().__init__(
            f"the signing key {name!r} is missing: provision an EC P-256 private key (PKCS#8 PEM, "
            f"mode 0600) at {path}, e.g. `openssl genpkey -algorithm EC -pkeyopt "
            f"ec_paramgen_curve:P-256 -out {path}`; keys are created automatically only in "
            "development and test"
        )


class SigningKeyInvalid(RuntimeError):
    """The key file exists but does not hold an EC P-256 private key."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    name: str
    path: Path
    key: ECKey
    kid: str

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK (RFC 7517), with its kid, algorithm and use."""
        jwk: dict[str, Any] = dict(self.key.as_dict(private=False))
        jwk.update({"kid": self.kid, "alg": ALGORITHM, "use": "sig"})
        return jwk

    def sign_compact(self, payload: bytes, *, typ: str | None = None) -> str:
        """A compact JWS (RFC 7515) of ``payload``, ES256, the kid in the protected header."""
        header: dict[str, Any] = {"alg": ALGORITHM, "kid": self.kid}
        if typ is not None:
            header["typ"] = typ
        return jws.serialize_compact(header, payload, self.key, algorithms=[ALGORITHM])


def key_path(data_dir: Path, name: str) -> Path:
    if not _NAME.match(name):
        raise ValueError(f"invalid signing key name {name!r}")
    return Path(data_dir) / "keys" / f"{name}.pem"


def _from_pem(path: Path, name: str, pem: bytes) -> SigningKey:
    try:
        key = ECKey.import_key(pem)
    except Exception as exc:  # joserfc/cryptography raise various types for a bad PEM
        raise SigningKeyInvalid(f"{path} is not a PEM EC private key: {exc}") from exc
    if not key.is_private or key.as_dict(private=False).get("crv") != "P-256":
        raise SigningKeyInvalid(f"{path} must hold an EC P-256 *private* key")
    return SigningKey(name=name, path=path, key=key, kid=key.thumbprint())


def _create(path: Path) -> None:
    """Write a new key atomically; if another process won the race, keep its key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = ECKey.generate_key("P-256", private=True).as_pem(private=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails if the file appeared meanwhile: two workers starting together share a key.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def load_signing_key(data_dir: Path, name: str, *, create: bool) -> SigningKey:
    """Read the key ``name``; create it first when missing and ``create`` (never in production)."""
    path = key_path(data_dir, name)
    if not path.is_file():
        if not create:
            raise SigningKeyMissing(path, name)
        _create(path)
    return _from_pem(path, name, path.read_bytes())


def retired_keys(data_dir: Path, name: str) -> list[SigningKey]:
    """Keys replaced by a rotation, still published for verification (never used to sign)."""
    folder = key_path(data_dir, name).parent
    found = []
    for path in sorted(folder.glob(f"{name}.retired-*.pem")):
        found.append(_from_pem(path, name, path.read_bytes()))
    return found


_cache: dict[tuple[str, str], SigningKey] = {}
_lock = threading.Lock()


def signing_key(data_dir: Path, name: str, *, env: str) -> SigningKey:
    """The key for ``name``, read once per process; auto-created outside production only."""
    cache_key = (str(Path(data_dir).resolve()), name)
    found = _cache.get(cache_key)
    if found is not None:
        return found
    with _lock:
        found = _cache.get(cache_key)
        if found is None:
            found = load_signing_key(data_dir, name, create=env != "production")
            _cache[cache_key] = found
    return found


def jwks(data_dir: Path, name: str, *, env: str) -> dict[str, Any]:
    """The public JWKS of ``name``: the current key first, then the retired ones."""
    current = signing_key(data_dir, name, env=env)
    keys = [current.public_jwk()]
    keys += [k.public_jwk() for k in retired_keys(data_dir, name) if k.kid != current.kid]
    return {"keys": keys}


def clear_cache() -> None:
    """Forget loaded keys (after a rotation, and in tests)."""
    with _lock:
        _cache.clear()
