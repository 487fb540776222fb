"""What reporting's read models need from storage beyond counter cells, and nothing of how a
store keeps it.

The store (`ReportingStore`, or `CountingStore` for the read models that only count) makes every piece of storage the read models use, so it alone
decides how they are written: one batch at a time while live, or counted in memory and
written once at the end while a rebuild builds a version from nothing (`buffer`, `flush`).
`muster_reporting.adapters.read_models` is the document store's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from muster_reporting.application.as_of import Change
from muster_runtime.ports.counter_cells import ReadModelStore


class History(ABC):
    """The recorded history of one set of counter cells: figures as of a past minute."""

    @abstractmethod
    async def record(self, changes: Iterable[Change]) -> None:
        """Keep a batch's changes (all at once: an event counts once per cell's history)."""

    @abstractmethod
    async def as_of(self, cell_ids: list[str], at: datetime) -> dict[str, dict[str, Any]]:
        """The cells' counts from every change recorded before the start of `at`'s minute."""


class HistoryWriting(ABC):
    """What writes recorded history where `as_of` reads it, off the consumer's path."""

    @abstractmethod
    async def measure_backlog(self) -> None:
        """Publish how much recorded history is not written yet (`/metrics`)."""

    @abstractmethod
    async def write(self) -> int:
        """Write some of what was recorded; returns how much (0: nothing was left)."""

    @abstractmethod
    async def drain(self) -> None:
        """Write until nothing recorded is left."""

    @abstractmethod
    async def run(self, every_seconds: float = 1.0) -> None:
        """Write as history is recorded, until cancelled."""


class FunnelFacts(ABC):
    """Small documents by key (what a volunteer holds in a drive, an activity's drive).

    Between `begin` and `commit`, writes are held (and read back from there), so a batch's
    facts are stored only after its counts and their history: a redelivered batch then
    finds the facts as they were and recomputes the same changes.
    """

    @abstractmethod
    def begin(self) -> None: ...

    @abstractmethod
    async def commit(self) -> None: ...

    @abstractmethod
    async def get(self, key: str) -> dict[str, Any] | None: ...

    @abstractmethod
    async def set(self, key: str, fields: Mapping[str, Any], *, now: bool = False) -> None:
        """Set `fields`; `now` stores them at once even inside a batch."""

    @abstractmethod
    async def add_to_set(self, key: str, field: str, value: str) -> None: ...


class CountingStore(ReadModelStore):
    """Counter cells with their history, and the funnel's facts: what the registrations'
    rollup and the drive funnel keep."""

    @abstractmethod
    def history(self, name: str) -> History:
        """The history of the counter cells `name`."""

    @abstractmethod
    def history_writer(self) -> HistoryWriting:
        """What writes the histories this store made so far (make them first)."""

    @abstractmethod
    def funnel_facts(self, name: str) -> FunnelFacts: ...


class ReportingStore(CountingStore):
    """Every piece of storage reporting's read models use, made by one store."""
