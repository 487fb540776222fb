"""`Idempotency-Key` at the edge: a retried POST returns the first result.

A key is claimed before the command runs and completed with the response after it. A
retry finding a completed key gets the stored answer; one finding a pending key (the
first attempt crashed or is still running) runs the command again, which is safe
because commands derive their ids from the key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson
from pymongo.errors import DuplicateKeyError

from muster_runtime.errors import RuleViolationError
from muster_runtime.mongo import Database

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


@dataclass(frozen=True)
class IdempotencySlot:
    record_id: str
    key: str
    replay: StoredResponse | None

    def derived_id(self, kind: str) -> UUID:
        """A stable id for what this request creates, identical on every retry."""
        return uuid5(NAMESPACE_URL, f"muster:{kind}:{self.record_id}")


def request_fingerprint(body: Any) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class IdempotencyStore:
    def __init__(self, db: Database) -> None:
        self._records = db["idempotency_keys"]

    async def claim(
        self, subject: str, operation: str, key: str, fingerprint: str
    ) -> IdempotencySlot:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise RuleViolationError(
                f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} characters",
                field="Idempotency-Key",
                rule="length",
            )
        record_id = f"{subject}|{operation}|{key}"
        try:
            await self._records.insert_one(
                {
                    "_id": record_id,
                    "fingerprint": fingerprint,
                    "state": "pending",
                    "created_at": datetime.now(UTC),
                }
            )
            return IdempotencySlot(record_id, key, None)
        except DuplicateKeyError:
            pass
        record = await self._records.find_one({"_id": record_id})
        if record is None:  # vanished between insert and read: claim again
            return await self.claim(subject, operation, key, fingerprint)
        if record["fingerprint"] != fingerprint:
            raise RuleViolationError(
                "this Idempotency-Key was used with a different request body",
                field="Idempotency-Key",
                rule="same_request",
            )
        if record["state"] == "complete":
            return IdempotencySlot(record_id, key, StoredResponse(record["status"], record["body"]))
        return IdempotencySlot(record_id, key, None)

    async def complete(self, slot: IdempotencySlot, status: int, body: Any) -> None:
        await self._records.update_one(
            {"_id": slot.record_id},
            {
                "$set": {
                    "state": "complete",
                    "status": status,
                    "body": body,
                    "completed_at": datetime.now(UTC),
                }
            },
        )
