"""Envelope encryption of health-space contents: one data key per space, wrapped by a master key.

- A space's **data key** (AES-256) encrypts its documents with AES-256-GCM. It is stored only
  wrapped (RFC 3394 AES key wrap) by the **master key**; destroying the wrapped key makes every
  blob of the space unreadable (crypto-erase).
- The **master key** comes from the settings (``space_master_key``: base64 of 32 bytes). In
  development and test, when it is empty, it is derived from ``secret_key`` with HKDF-SHA256.
  Its id (``master_key_id``, a hash prefix, never the key) is stored next to each wrapped key so
  that a rotation can tell which master key wrapped which data key.
- A ciphertext is ``version byte ‖ 12-byte random nonce ‖ AES-GCM(ciphertext ‖ tag)``; the
  associated data binds it to where it is stored (the blob key), so that blobs cannot be swapped.

Domain-free on purpose (``carnet.kit`` imports no domain).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

FORMAT_VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
_HKDF_INFO = b"carnet space master key v1"


class EnvelopeError(Exception):
    """A key or a ciphertext that does not open: wrong master key, altered or swapped blob."""


class MasterKeyInvalid(ValueError):
    """``space_master_key`` is not base64 of 32 bytes."""


def parse_master_key(value: str, *, secret_key: str) -> bytes:
    """The master key from the settings' value; derived from ``secret_key`` when empty."""
    if not value.strip():
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_HKDF_INFO).derive(
            secret_key.encode()
        )
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MasterKeyInvalid("CARNET_SPACE_MASTER_KEY is not valid base64") from exc
    if len(key) != KEY_BYTES:
        raise MasterKeyInvalid(
            f"CARNET_SPACE_MASTER_KEY must be base64 of {KEY_BYTES} bytes, not {len(key)}"
        )
    return key


class Envelope:
    """Wraps and unwraps space data keys; encrypts and decrypts contents with them."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise MasterKeyInvalid(f"a master key has {KEY_BYTES} bytes")
        self._master_key = master_key
        self.master_key_id = hashlib.sha256(b"carnet master key id" + master_key).hexdigest()[:16]

    def __repr__(self) -> str:  # never the key
        return f"Envelope(master_key_id={self.master_key_id!r})"

    def new_data_key(self) -> tuple[bytes, bytes]:
        """A fresh random data key and its wrapped form (40 bytes) to store."""
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        return data_key, aes_key_wrap(self._master_key, data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return aes_key_unwrap(self._master_key, wrapped)
        except (InvalidUnwrap, ValueError) as exc:
            raise EnvelopeError(
                "the space's data key does not unwrap with this master key"
            ) from exc

    @staticmethod
    def encrypt(data_key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(data_key).encrypt(nonce, plaintext, associated_data)
        return bytes([FORMAT_VERSION]) + nonce + sealed

    @staticmethod
    def decrypt(data_key: bytes, blob: bytes, associated_data: bytes) -> bytes:
        if len(blob) < 1 + NONCE_BYTES + 16 or blob[0] != FORMAT_VERSION:
            raise EnvelopeError("not an encrypted content of a known format")
        nonce = blob[1 : 1 + NONCE_BYTES]
        try:
            return AESGCM(data_key).decrypt(nonce, blob[1 + NONCE_BYTES :], associated_data)
        except InvalidTag as exc:
            raise EnvelopeError("the encrypted content was altered or belongs elsewhere") from exc
