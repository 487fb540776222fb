"""Reporting's read models in memory: for fast tests of the projections' rules without a
store. The counter cells are the runtime's in-memory adapter; a history keeps every change
and answers a figure as of an instant by summing those recorded before its minute (each
event once per cell); the funnel's facts are a dictionary."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from muster_reporting.application.as_of import HISTORY_SINCE, Change, effective_instant
from muster_reporting.application.ports import (
    CountingStore,
    FunnelFacts,
    History,
    HistoryWriting,
)
from muster_runtime.adapters.memory.counter_cells import InMemoryReadModelStore
from muster_runtime.projections import add_nested


class InMemoryHistory(History):
    def __init__(self) -> None:
        # (cell, source, offset) -> the change counted for it (an event once per cell)
        self.changes: dict[tuple[str, str, int], list[Change]] = {}

    async def record(self, changes: Iterable[Change]) -> None:
        batch: dict[tuple[str, str, int], list[Change]] = {}
        for change in changes:
            key = (change.cell, change.event.source, change.event.offset)
            if key not in self.changes:
                batch.setdefault(key, []).append(change)
        self.changes.update(batch)

    async def as_of(self, cell_ids: list[str], at: datetime) -> dict[str, dict[str, Any]]:
        before = effective_instant(at)
        if before < HISTORY_SINCE:
            raise ValueError(f"history is kept from {HISTORY_SINCE.isoformat()}")
        sums: dict[str, dict[str, int]] = {cell: {} for cell in cell_ids}
        for (cell, _, _), changes in self.changes.items():
            if cell not in sums:
                continue
            for change in changes:
                if change.recorded_at < before:
                    for name, amount in change.counts.items():
                        sums[cell][name] = sums[cell].get(name, 0) + amount
        totals: dict[str, dict[str, Any]] = {cell: {} for cell in cell_ids}
        for cell, summed in sums.items():
            add_nested(totals[cell], summed)
        return totals


class _NothingToWrite(HistoryWriting):
    """A history in memory is readable as soon as it is recorded."""

    async def measure_backlog(self) -> None:
        pass

    async def write(self) -> int:
        return 0

    async def drain(self) -> None:
        pass

    async def run(self, every_seconds: float = 1.0) -> None:
        pass


class InMemoryFunnelFacts(FunnelFacts):
    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}

    def begin(self) -> None:
        pass

    async def commit(self) -> None:
        pass

    async def get(self, key: str) -> dict[str, Any] | None:
        return self.documents.get(key)

    async def set(self, key: str, fields: Mapping[str, Any], *, now: bool = False) -> None:
        self.documents.setdefault(key, {"_id": key}).update(fields)

    async def add_to_set(self, key: str, field: str, value: str) -> None:
        values = self.documents.setdefault(key, {"_id": key}).setdefault(field, [])
        if value not in values:
            values.append(value)


class InMemoryCountingStore(InMemoryReadModelStore, CountingStore):
    def __init__(self) -> None:
        super().__init__()
        self.histories: dict[str, InMemoryHistory] = {}
        self.facts: dict[str, InMemoryFunnelFacts] = {}

    def history(self, name: str) -> History:
        return self.histories.setdefault(name, InMemoryHistory())

    def history_writer(self) -> HistoryWriting:
        return _NothingToWrite()

    def funnel_facts(self, name: str) -> FunnelFacts:
        return self.facts.setdefault(name, InMemoryFunnelFacts())
