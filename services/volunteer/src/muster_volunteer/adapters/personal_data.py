"""Personal data sealed with a per-volunteer data key (deleting the key erases the data
everywhere, stored events included), and phone and ID number claims that keep one person
one record.

Envelope encryption: a volunteer's data key is stored only wrapped by a key-encryption key
(KEK) held outside the store, in a key file or a key-management server
(`muster_auth.keys`). A dump of the database and the topics holds sealed data and wrapped
keys, and neither opens without the KEK.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError

from muster_auth.keys import KeyEncryptionKeys
from muster_contracts.events import SealedPersonalData
from muster_runtime.mongo import Database

# Raised here, defined with the port (importable from here too).
from muster_volunteer.application.ports import PersonalDataErasedError as PersonalDataErasedError
from muster_volunteer.domain.volunteer import PersonalData

NONCE_BYTES = 12
Sealable = TypeVar("Sealable", bound=BaseModel)
# A claim whose registration never got stored (crash between claim and append) may be
# taken over after this long.
ORPHAN_CLAIM_AGE = timedelta(seconds=30)
REWRAP_BATCH = 200


@dataclass(frozen=True)
class Rewrapped:
    """What a re-wrap did: data keys moved under the current KEK, of how many found."""

    key_id: str
    rewrapped: int
    found: int


class DataKeyCache:
    """Unwrapped data keys kept in memory for a short while, so that reading a page of
    volunteers does not cost a key-management round trip each."""

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self._seconds = seconds
        self._size = size
        self._keys: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def get(self, volunteer_id: str) -> bytes | None:
        entry = self._keys.get(volunteer_id)
        if entry is None or entry[0] < time.monotonic():
            self._keys.pop(volunteer_id, None)
            return None
        return entry[1]

    def put(self, volunteer_id: str, key: bytes) -> None:
        if self._seconds <= 0:
            return
        self._keys[volunteer_id] = (time.monotonic() + self._seconds, key)
        self._keys.move_to_end(volunteer_id)
        while len(self._keys) > self._size:
            self._keys.popitem(last=False)

    def forget(self, volunteer_id: str) -> None:
        self._keys.pop(volunteer_id, None)


class PersonalDataVault:
    """Seals and unseals personal data; `volunteer_keys` holds each volunteer's data key
    wrapped: `{_id, kek_id, wrapped_key, created_at}`."""

    def __init__(self, db: Database, keks: KeyEncryptionKeys, *, cache_seconds: float = 60) -> None:
        self._keys = db["volunteer_keys"]
        self._keks = keks
        self._cache = DataKeyCache(cache_seconds)

    async def seal(self, volunteer_id: str, data: BaseModel) -> SealedPersonalData:
        """Seal `data` (personal data, an email contact) with the volunteer's key."""
        key = await self._key_for(volunteer_id)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(key).encrypt(
            nonce, data.model_dump_json().encode(), volunteer_id.encode()
        )
        return SealedPersonalData(
            key_id=volunteer_id, ciphertext=base64.urlsafe_b64encode(nonce + ciphertext).decode()
        )

    async def unseal(self, sealed: SealedPersonalData) -> PersonalData:
        return await self.unseal_as(sealed, PersonalData)

    async def unseal_as(self, sealed: SealedPersonalData, model: type[Sealable]) -> Sealable:
        """Open sealed data as `model`; PersonalDataErasedError once the key is gone."""
        key = self._cache.get(sealed.key_id)
        if key is None:
            doc = await self._keys.find_one({"_id": sealed.key_id})
            if doc is None:
                raise PersonalDataErasedError(sealed.key_id)
            key = await self._open(doc)
            self._cache.put(sealed.key_id, key)
        raw = base64.urlsafe_b64decode(sealed.ciphertext)
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], sealed.key_id.encode())
        return model.model_validate_json(plain)

    async def shred(self, volunteer_id: str) -> None:
        """Destroy the key: every copy of the sealed data, in any store or topic, is noise."""
        self._cache.forget(volunteer_id)
        await self._keys.delete_one({"_id": volunteer_id})

    async def rewrap(
        self, progress: Callable[[int, int], None] | None = None, *, clear_only: bool = False
    ) -> Rewrapped:
        """Wrap every data key under the current KEK: those under an earlier KEK, and those
        stored in clear by versions before envelope encryption (`clear_only`: just these).
        The sealed data is not touched. A key shredded meanwhile stays shredded."""
        current = await self._keks.current_key_id()
        pending: dict[str, Any] = (
            {"key": {"$exists": True}} if clear_only else {"kek_id": {"$ne": current}}
        )
        found = await self._keys.count_documents(pending)
        done = 0
        last = ""
        while True:
            batch = [
                doc
                async for doc in self._keys.find(pending | {"_id": {"$gt": last}})
                .sort("_id", 1)
                .limit(REWRAP_BATCH)
            ]
            if not batch:
                break
            for doc in batch:
                last = str(doc["_id"])
                key = await self._open(doc)
                wrapped = await self._keks.wrap(current, key, last.encode())
                was = (
                    {"key": {"$exists": True}}
                    if "key" in doc
                    else {"kek_id": doc["kek_id"], "wrapped_key": doc["wrapped_key"]}
                )
                result = await self._keys.update_one(
                    {"_id": last} | was,
                    {"$set": {"kek_id": current, "wrapped_key": wrapped}, "$unset": {"key": ""}},
                )
                done += result.modified_count
            if progress is not None:
                progress(done, found)
        return Rewrapped(key_id=current, rewrapped=done, found=found)

    async def _open(self, doc: dict[str, Any]) -> bytes:
        if "key" in doc:  # stored in clear before envelope encryption: read, then wrapped
            return bytes(doc["key"])
        return await self._keks.unwrap(
            str(doc["kek_id"]), bytes(doc["wrapped_key"]), str(doc["_id"]).encode()
        )

    async def _key_for(self, volunteer_id: str) -> bytes:
        # Insert-or-read: a retried registration reuses the key of its first attempt.
        key = AESGCM.generate_key(bit_length=256)
        kek_id = await self._keks.current_key_id()
        wrapped = await self._keks.wrap(kek_id, key, volunteer_id.encode())
        try:
            await self._keys.insert_one(
                {
                    "_id": volunteer_id,
                    "kek_id": kek_id,
                    "wrapped_key": wrapped,
                    "created_at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            doc = await self._keys.find_one({"_id": volunteer_id})
            assert doc is not None
            key = await self._open(doc)
        self._cache.put(volunteer_id, key)
        return key


HOLDERS_PER_QUERY = 500


class IdentityClaims:
    """Unique claims on an identifying value (a phone number, a resident ID number), keyed
    by a keyed hash so no value is stored in clear; one collection per kind of value."""

    def __init__(self, db: Database, pepper: bytes, collection: str) -> None:
        self._claims = db[collection]
        self._pepper = pepper

    def fingerprint(self, value: str) -> str:
        return hmac.new(self._pepper, value.encode(), hashlib.sha256).hexdigest()

    async def claim(self, value: str, volunteer_id: str) -> str | None:
        """Claim the value for `volunteer_id`; returns the other holder's id if it is taken."""
        claim_id = self.fingerprint(value)
        now = datetime.now(UTC)
        try:
            await self._claims.insert_one(
                {"_id": claim_id, "volunteer_id": volunteer_id, "claimed_at": now}
            )
            return None
        except DuplicateKeyError:
            pass
        existing = await self._claims.find_one({"_id": claim_id})
        if existing is None:
            return await self.claim(value, volunteer_id)
        holder = str(existing["volunteer_id"])
        return None if holder == volunteer_id else holder

    async def holders(self, values: list[str]) -> dict[str, str]:
        """Who holds each of `values` that is claimed (value -> volunteer id)."""
        by_fingerprint = {self.fingerprint(v): v for v in values}
        found: dict[str, str] = {}
        for start in range(0, len(values), HOLDERS_PER_QUERY):
            chunk = list(by_fingerprint)[start : start + HOLDERS_PER_QUERY]
            async for doc in self._claims.find({"_id": {"$in": chunk}}):
                found[by_fingerprint[doc["_id"]]] = str(doc["volunteer_id"])
        return found

    async def release(self, value: str, volunteer_id: str) -> None:
        await self._claims.delete_one(
            {"_id": self.fingerprint(value), "volunteer_id": volunteer_id}
        )

    async def take_over(self, value: str, orphan_holder: str, volunteer_id: str) -> bool:
        """Move a claim whose holder was never registered; only after ORPHAN_CLAIM_AGE."""
        result = await self._claims.update_one(
            {
                "_id": self.fingerprint(value),
                "volunteer_id": orphan_holder,
                "claimed_at": {"$lt": datetime.now(UTC) - ORPHAN_CLAIM_AGE},
            },
            {"$set": {"volunteer_id": volunteer_id, "claimed_at": datetime.now(UTC)}},
        )
        return result.modified_count == 1
