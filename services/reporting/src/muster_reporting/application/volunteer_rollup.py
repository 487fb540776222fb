"""Registered volunteers counted at every level of the area hierarchy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from muster_contracts.areas import AreaTree
from muster_contracts.events import VolunteerRegistered
from muster_reporting.application.as_of import Change
from muster_reporting.application.ports import History
from muster_reporting.domain.registrations import registration_counts
from muster_runtime.ports.counter_cells import CounterCells
from muster_runtime.projections import ConsumedEvent, of_type


class VolunteerRollup:
    """One counter cell per area; a registration counts in its home area and every ancestor.

    Each cell also carries its children's counts (`children.<id>.…`), so a drill-down
    report is one point read, however many children the area has.
    """

    # Every event type this projection reads; others are never decoded in a rebuild.
    event_types = frozenset({VolunteerRegistered.event_type})

    def __init__(
        self,
        cells: CounterCells,
        areas: AreaTree,
        history: History | None = None,
    ) -> None:
        self.cells = cells
        self.history = history
        self._areas = areas
        # What the last `apply` counted and `record_history` has not written yet.
        self._unrecorded: list[Change] = []
        # Counts per (home area, categories): few distinct ones, read-only downstream.
        self._counts: dict[tuple[str, tuple[str, ...]], list[tuple[str, dict[str, int]]]] = {}

    def _cells_of(self, event: VolunteerRegistered) -> list[tuple[str, dict[str, int]]]:
        key = (event.home_area_id, tuple(c.value for c in event.categories))
        if key not in self._counts:
            lineage = self._areas.prefix_lineage_ids(event.home_area_id)
            self._counts[key] = registration_counts(lineage, key[1])
        return self._counts[key]

    async def apply(self, events: list[ConsumedEvent]) -> None:
        changes: list[tuple[ConsumedEvent, str, dict[str, int]]] = [
            (consumed, area_id, counts)
            for consumed, event in of_type(events, VolunteerRegistered)
            for area_id, counts in self._cells_of(event)
        ]
        if changes:
            await self.cells.add(changes)
        # The history waits for `record_history`, after every projection's current figures.
        self._unrecorded = [
            Change(event, cell, counts, event.envelope.recorded_at)
            for event, cell, counts in changes
        ]

    async def record_history(self) -> None:
        """Write the as-of history of the batch `apply` just counted (a redelivered batch
        counts the same changes again: buckets count each event once)."""
        changes, self._unrecorded = self._unrecorded, []
        if changes and self.history is not None:
            await self.history.record(changes)

    async def cell(
        self, area_id: str, period: str | None = None, as_of: datetime | None = None
    ) -> dict[str, Any]:
        """The area's counts and its children's (an empty cell if nobody registered yet),
        now or as registered by an instant."""
        if period is not None:
            raise ValueError("registrations are counted for all time only")
        if as_of is not None:
            if self.history is None:
                raise ValueError("this rollup keeps no history")
            return (await self.history.as_of([area_id], as_of))[area_id]
        return (await self.cells.read([area_id])).get(area_id, {})
