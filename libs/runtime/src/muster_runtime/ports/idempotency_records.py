"""The idempotency-records port: where the `Idempotency-Key`s of requests are kept, as
`muster_http.idempotency.IdempotencyKeys` claims, completes and releases them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

# The longest a request waits to record its outcome (seconds): an unreachable store must not
# hold an answer that is already decided.
OUTCOME_WRITE = 1.0


@dataclass(frozen=True)
class KeyRecord:
    """One claimed key: pending while its command runs, then holding the answer."""

    record_id: str
    fingerprint: str
    claim: str
    claimed_at: datetime
    expires_at: datetime
    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.status is not None


class IdempotencyRecords(ABC):
    """Where keys are kept: insert, read, compare-and-set on the claim, delete."""

    @abstractmethod
    async def insert(self, record: KeyRecord) -> bool:
        """Store `record` unless its id is taken; whether it was stored."""

    @abstractmethod
    async def get(self, record_id: str) -> KeyRecord | None: ...

    @abstractmethod
    async def replace(self, claim: str, record: KeyRecord) -> bool:
        """Store `record` over the one of its id if that still holds `claim`."""

    @abstractmethod
    async def delete(self, record_id: str, claim: str) -> None:
        """Delete the record if it still holds `claim`."""

    @abstractmethod
    async def delete_expired(self, now: datetime) -> int:
        """Delete records that expired before `now`; how many."""

    async def create_indexes(self) -> None:
        return None
