"""Reporting's read models in memory: for fast tests of the projections' rules without a
store. The counter cells are the runtime's in-memory adapter; a history keeps every change
and answers a figure as of an instant by summing those recorded before its minute (each
event once per cell); facts and lists are dictionaries, applied by the same pure rules as
the document store's (`decide`, `apply_above_marks`); a board is ranked afresh from every
volunteer's figures whenever it is read (what the stored boards are kept equal to)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from muster_contracts.areas import AreaTree
from muster_reporting.adapters.served_in_area import ServedState, area_and_key, decide_in_memory
from muster_reporting.application.as_of import Change, answered_instant
from muster_reporting.application.leaderboards import Board, Touched, ranked
from muster_reporting.application.pending_activities import (
    Listed,
    PendingActivity,
    PendingChange,
    apply_above_marks,
)
from muster_reporting.application.ports import (
    Boards,
    CountingStore,
    FunnelFacts,
    History,
    HistoryWriting,
    PendingLists,
    ReportingStore,
    ServedInArea,
    Standing,
)
from muster_reporting.application.served_in_area import Firsts, Served, Service, member_id
from muster_reporting.domain.standing import STANDING_EVENT_TYPES, standing_change
from muster_runtime.adapters.memory.counter_cells import (
    InMemoryCounterCells,
    InMemoryReadModelStore,
)
from muster_runtime.adapters.memory.versioned_documents import InMemoryVersionedDocuments
from muster_runtime.ports.versioned_documents import VersionedDocuments
from muster_runtime.projections import ConsumedEvent, add_nested


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
        before = answered_instant(at)
        totals: dict[str, dict[str, Any]] = {cell: {} for cell in cell_ids}
        for (cell, _, _), changes in self.changes.items():
            if cell in totals:
                for change in changes:
                    if change.recorded_at < before:
                        add_nested(totals[cell], change.counts)
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


class InMemoryPendingLists(PendingLists):
    def __init__(self) -> None:
        self.lists: dict[str, Listed] = {}

    async def apply(self, changes: Sequence[PendingChange]) -> None:
        apply_above_marks(changes, self.lists)

    async def of_area(self, area_id: str) -> list[PendingActivity]:
        listed = self.lists.get(area_id)
        return [] if listed is None else listed.pending()


class InMemoryServedInArea(ServedInArea):
    def __init__(self) -> None:
        self.states: dict[str, ServedState] = {}

    async def create_indexes(self) -> None:
        pass

    async def apply(
        self, services: list[Service]
    ) -> tuple[dict[int, Firsts], dict[str, dict[str, Served]]]:
        # Nothing known without a read: boards read the figures.
        return decide_in_memory(self.states, services), {}

    async def figures(self, wanted: dict[str, set[str]]) -> dict[str, dict[str, Served]]:
        out: dict[str, dict[str, Served]] = {}
        for cell, volunteers in wanted.items():
            area, key = area_and_key(cell)
            out[cell] = {}
            for volunteer_id in volunteers:
                state = self.states.get(member_id(area, volunteer_id))
                counts = state.counts.get(key, {}) if state is not None else {}
                out[cell][volunteer_id] = Served.of(volunteer_id, counts)
        return out

    async def everyone(self, cell: str) -> list[Served]:
        area, key = area_and_key(cell)
        return [
            Served.of(state.volunteer_id, state.counts[key])
            for state in self.states.values()
            if state.area == area and state.counts.get(key, {}).get("minutes", 0) > 0
        ]


class InMemoryBoards(Boards):
    """Boards ranked afresh from who served where whenever they are read."""

    def __init__(self, served: InMemoryServedInArea, capacity: int) -> None:
        self._served = served
        self._capacity = capacity

    async def board(self, cell: str) -> Board:
        return ranked(await self._served.everyone(cell), self._capacity, 1)

    async def prepare(self, cells: Iterable[str]) -> set[str]:
        return set()

    async def settle(
        self, touched: Touched, known: Mapping[str, Mapping[str, Served]] | None = None
    ) -> None:
        pass


class InMemoryStanding(Standing):
    event_types = STANDING_EVENT_TYPES

    def __init__(self, areas: AreaTree, thresholds_hours: tuple[int, ...]) -> None:
        self.thresholds_hours = thresholds_hours
        self._areas = areas
        self._minutes = InMemoryCounterCells()  # one cell per volunteer: each event once
        self._homes: dict[str, tuple[str, ...]] = {}

    async def apply(self, events: list[ConsumedEvent]) -> None:
        for consumed in events:
            change = standing_change(consumed.envelope.type, consumed.envelope.payload)
            if change is None:
                continue
            if change.home_area_id is not None:
                lineage = self._areas.prefix_lineage_ids(change.home_area_id)
                self._homes[change.volunteer_id] = tuple(lineage)
            elif change.minutes is not None:
                await self._minutes.add(
                    [(consumed, change.volunteer_id, {"minutes": change.minutes})]
                )

    async def star_board(self, area_id: str) -> Board:
        minutes = await self._minutes.read([v for v, h in self._homes.items() if area_id in h])
        residents = [Served(v, int(counts.get("minutes", 0))) for v, counts in minutes.items()]
        return ranked(residents, None, self.first_star_minutes)


class InMemoryReportingStore(InMemoryCountingStore, ReportingStore):
    def __init__(self) -> None:
        super().__init__()
        self._activity_facts = InMemoryVersionedDocuments()
        self._pending = InMemoryPendingLists()
        self._served = InMemoryServedInArea()

    def activity_facts(self) -> VersionedDocuments:
        return self._activity_facts

    def pending_lists(self) -> PendingLists:
        return self._pending

    def served_in_area(self) -> ServedInArea:
        return self._served

    def volunteer_boards(self, *, capacity: int, shown: int) -> Boards:
        return InMemoryBoards(self._served, capacity)

    def standing(self, areas: AreaTree, thresholds_hours: tuple[int, ...]) -> Standing:
        return InMemoryStanding(areas, thresholds_hours)
