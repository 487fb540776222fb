"""The idempotency-records port in memory: keys in a dict."""

from __future__ import annotations

from datetime import datetime

from muster_runtime.ports.idempotency_records import IdempotencyRecords, KeyRecord


class InMemoryIdempotencyRecords(IdempotencyRecords):
    """Keys in a dict, for tests of code that claims keys."""

    def __init__(self) -> None:
        self.records: dict[str, KeyRecord] = {}

    async def insert(self, record: KeyRecord) -> bool:
        if record.record_id in self.records:
            return False
        self.records[record.record_id] = record
        return True

    async def get(self, record_id: str) -> KeyRecord | None:
        return self.records.get(record_id)

    async def replace(self, claim: str, record: KeyRecord) -> bool:
        held = self.records.get(record.record_id)
        if held is None or held.claim != claim:
            return False
        self.records[record.record_id] = record
        return True

    async def delete(self, record_id: str, claim: str) -> None:
        held = self.records.get(record_id)
        if held is not None and held.claim == claim:
            del self.records[record_id]

    async def delete_expired(self, now: datetime) -> int:
        expired = [k for k, r in self.records.items() if r.expires_at < now]
        for record_id in expired:
            del self.records[record_id]
        return len(expired)
