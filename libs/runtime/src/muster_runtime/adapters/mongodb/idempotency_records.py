"""The idempotency-records port in the document store: one document per claimed key, by
`_id`."""

from __future__ import annotations

from datetime import datetime

from pymongo import timeout as store_timeout
from pymongo.errors import DuplicateKeyError, OperationFailure

from muster_runtime.mongo import Database, Document
from muster_runtime.ports.idempotency_records import (
    OUTCOME_WRITE,
    IdempotencyRecords,
    KeyRecord,
)

# How the store refuses a TTL index: FerretDB has none; MongoDB has a plain one already.
NOT_IMPLEMENTED, INDEX_OPTIONS_CONFLICT = 238, 85


class StoredIdempotencyRecords(IdempotencyRecords):
    """Keys in the service's document store, one document by `_id`.

    On MongoDB a TTL index on `expires_at` deletes expired keys; FerretDB refuses TTL
    indexes (NotImplemented), so there the index is a plain one that `delete_expired`'s
    sweep uses.
    """

    def __init__(self, db: Database) -> None:
        self._records = db["idempotency_keys"]

    async def create_indexes(self) -> None:
        try:
            await self._records.create_index("expires_at", expireAfterSeconds=0)
        except OperationFailure as refused:
            if refused.code == INDEX_OPTIONS_CONFLICT:  # a plain index from before: make it TTL
                await self._records.database.command(
                    "collMod",
                    self._records.name,
                    index={"keyPattern": {"expires_at": 1}, "expireAfterSeconds": 0},
                )
            elif refused.code == NOT_IMPLEMENTED:  # FerretDB: the hourly sweep deletes them
                await self._records.create_index("expires_at")
            else:
                raise

    async def insert(self, record: KeyRecord) -> bool:
        try:
            await self._records.insert_one(_document(record))
        except DuplicateKeyError:
            return False
        return True

    async def get(self, record_id: str) -> KeyRecord | None:
        doc = await self._records.find_one({"_id": record_id})
        return None if doc is None else _record(doc)

    async def replace(self, claim: str, record: KeyRecord) -> bool:
        with store_timeout(OUTCOME_WRITE):
            done = await self._records.replace_one(
                {"_id": record.record_id, "claim": claim}, _document(record)
            )
        return done.matched_count == 1

    async def delete(self, record_id: str, claim: str) -> None:
        with store_timeout(OUTCOME_WRITE):
            await self._records.delete_one({"_id": record_id, "claim": claim})

    async def delete_expired(self, now: datetime) -> int:
        done = await self._records.delete_many({"expires_at": {"$lt": now}})
        return done.deleted_count


def _document(record: KeyRecord) -> Document:
    return {
        "_id": record.record_id,
        "fingerprint": record.fingerprint,
        "claim": record.claim,
        "claimed_at": record.claimed_at,
        "expires_at": record.expires_at,
        "status": record.status,
        "body": record.body,
        "headers": record.headers,
    }


def _record(doc: Document) -> KeyRecord:
    return KeyRecord(
        record_id=doc["_id"],
        fingerprint=doc["fingerprint"],
        claim=doc["claim"],
        claimed_at=doc["claimed_at"],
        expires_at=doc["expires_at"],
        status=doc.get("status"),
        body=bytes(doc.get("body") or b""),
        headers=dict(doc.get("headers") or {}),
    )
