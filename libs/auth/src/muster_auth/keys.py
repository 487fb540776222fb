"""Key-encryption keys (KEKs): the port through which a service wraps and unwraps its data
keys, and the local key file that serves it in development.

A data key is stored only wrapped by a KEK, and a KEK never enters the store or the topics:
it stays in a key file outside the database or in a key-management server
(`muster_auth.kmip_keys`). Every wrapped key carries the id of the KEK that wrapped it,
so KEKs rotate: a new KEK becomes current and the data keys are re-wrapped under it, while
the data they seal stays as it is.

Another key-management system (a Vault transit engine, a cloud KMS) is one more class with
these four methods.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from muster_runtime.errors import ServiceUnavailableError

NONCE_BYTES = 12


class KeyUnavailableError(ServiceUnavailableError):
    """The key-management system is unreachable, does not know the KEK a wrapped key names,
    or the wrapped key does not open under it (altered, or wrapped for another context):
    503 at the edge, nothing done."""

    code = "keys_unavailable"


class KeyEncryptionKeys(Protocol):
    """Wraps data keys under key-encryption keys the caller never sees."""

    async def current_key_id(self) -> str:
        """The id of the KEK new data keys are wrapped under."""
        ...

    async def wrap(self, key_id: str, data_key: bytes, context: bytes) -> bytes:
        """`data_key` encrypted under KEK `key_id`, bound to `context` (e.g. the owner's id):
        it unwraps only with the same context."""
        ...

    async def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        """The data key back; `KeyUnavailableError` if the KEK or the context is wrong."""
        ...

    async def rotate(self) -> str:
        """Make a new KEK current and return its id; the earlier ones still unwrap."""
        ...


class LocalKeyFile:
    """KEKs in a JSON file beside the service (mode 0600), for development and single-host
    deployments: `{"current": id, "keys": {id: base64 of 32 bytes}}`. Wraps with AES-256-GCM.

    The file is re-read when it changes on disk, so a rotation by the command line reaches a
    running service without a restart.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: int | None = None
        self._current = ""
        self._keys: dict[str, bytes] = {}
        self._lock = asyncio.Lock()
        self._load()

    @staticmethod
    def create(path: Path) -> bool:
        """Write a new key file with one KEK, readable by its owner only; False (and the file
        untouched) if it exists already."""
        path.parent.mkdir(parents=True, exist_ok=True)
        key_id = _new_key_id()
        body = json.dumps({"current": key_id, "keys": {key_id: _encode(_new_key())}}, indent=1)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(body + "\n")
        return True

    async def current_key_id(self) -> str:
        self._reload_if_changed()
        return self._current

    async def wrap(self, key_id: str, data_key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self._key(key_id)).encrypt(nonce, data_key, context)

    async def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        try:
            return AESGCM(self._key(key_id)).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context
            )
        except InvalidTag:
            raise KeyUnavailableError(f"wrapped key does not open under {key_id}") from None

    async def rotate(self) -> str:
        async with self._lock:
            self._reload_if_changed()
            key_id = _new_key_id()
            keys = {k: _encode(v) for k, v in self._keys.items()} | {key_id: _encode(_new_key())}
            temporary = self._path.with_name(self._path.name + ".rotating")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(json.dumps({"current": key_id, "keys": keys}, indent=1) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self._path)
            self._load()
            return key_id

    def _key(self, key_id: str) -> bytes:
        if key_id not in self._keys:
            self._reload_if_changed()
        try:
            return self._keys[key_id]
        except KeyError:
            raise KeyUnavailableError(f"no key-encryption key {key_id!r}") from None

    def _reload_if_changed(self) -> None:
        try:
            stamp = os.stat(self._path).st_mtime_ns
        except OSError:
            raise KeyUnavailableError("the key file is unreadable") from None
        if stamp != self._stamp:
            self._load()

    def _load(self) -> None:
        try:
            stamp = os.stat(self._path).st_mtime_ns
            document = json.loads(self._path.read_text(encoding="utf-8"))
            keys = {str(k): base64.b64decode(v) for k, v in document["keys"].items()}
            current = str(document["current"])
        except FileNotFoundError:
            raise KeyUnavailableError(f"key file {self._path} does not exist") from None
        except (ValueError, KeyError, TypeError) as error:
            raise KeyUnavailableError(f"key file {self._path} is not readable: {error}") from None
        if current not in keys or any(len(k) != 32 for k in keys.values()):
            raise KeyUnavailableError(
                f"key file {self._path}: keys must be 32 bytes, current among them"
            )
        self._stamp, self._current, self._keys = stamp, current, keys


def _new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _new_key_id() -> str:
    return f"file-{secrets.token_hex(6)}"


def _encode(key: bytes) -> str:
    return base64.b64encode(key).decode()
