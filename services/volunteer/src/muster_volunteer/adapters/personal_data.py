"""Personal data sealed with a per-volunteer key (deleting the key erases the data
everywhere, stored events included), and phone and ID number claims that keep one person
one record."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pymongo.errors import DuplicateKeyError

from muster_contracts.events import SealedPersonalData
from muster_runtime.mongo import Database
from muster_volunteer.domain.volunteer import PersonalData

NONCE_BYTES = 12
# A claim whose registration never got stored (crash between claim and append) may be
# taken over after this long.
ORPHAN_CLAIM_AGE = timedelta(seconds=30)


class PersonalDataErasedError(LookupError):
    """The volunteer's key is gone: their personal data can no longer be read."""


class PersonalDataVault:
    def __init__(self, db: Database) -> None:
        self._keys = db["volunteer_keys"]

    async def seal(self, volunteer_id: str, data: PersonalData) -> SealedPersonalData:
        key = await self._key_for(volunteer_id)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(key).encrypt(
            nonce, data.model_dump_json().encode(), volunteer_id.encode()
        )
        return SealedPersonalData(
            key_id=volunteer_id, ciphertext=base64.urlsafe_b64encode(nonce + ciphertext).decode()
        )

    async def unseal(self, sealed: SealedPersonalData) -> PersonalData:
        doc = await self._keys.find_one({"_id": sealed.key_id})
        if doc is None:
            raise PersonalDataErasedError(sealed.key_id)
        raw = base64.urlsafe_b64decode(sealed.ciphertext)
        plain = AESGCM(bytes(doc["key"])).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], sealed.key_id.encode()
        )
        return PersonalData.model_validate_json(plain)

    async def shred(self, volunteer_id: str) -> None:
        """Destroy the key: every copy of the sealed data, in any store or topic, is noise."""
        await self._keys.delete_one({"_id": volunteer_id})

    async def _key_for(self, volunteer_id: str) -> bytes:
        # Insert-or-read: a retried registration reuses the key of its first attempt.
        try:
            key = AESGCM.generate_key(bit_length=256)
            await self._keys.insert_one(
                {"_id": volunteer_id, "key": key, "created_at": datetime.now(UTC)}
            )
            return key
        except DuplicateKeyError:
            doc = await self._keys.find_one({"_id": volunteer_id})
            assert doc is not None
            return bytes(doc["key"])


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
