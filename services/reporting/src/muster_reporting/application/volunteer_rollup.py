"""Registered volunteers counted at every level of the area hierarchy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from muster_contracts.areas import AreaTree
from muster_contracts.events import VolunteerRegistered, decode_payload
from muster_runtime.mongo import Document
from muster_runtime.projections import ConsumedEvent, CounterCells


class VolunteerRollup:
    """One counter cell per area; a registration counts in its home area and every ancestor.

    Each cell also carries its children's counts (`children.<id>.…`), so a drill-down
    report is one point read, however many children the area has.
    """

    def __init__(self, collection: AsyncCollection[Document], areas: AreaTree) -> None:
        self.cells = CounterCells(collection)
        self._areas = areas

    async def apply(self, events: list[ConsumedEvent]) -> None:
        contributions: list[tuple[ConsumedEvent, str, Mapping[str, int], Mapping[str, Any]]] = []
        for consumed in events:
            envelope = consumed.envelope
            if envelope.type != VolunteerRegistered.event_type:
                continue
            event = decode_payload(envelope.type, envelope.schema_version, envelope.payload)
            assert isinstance(event, VolunteerRegistered)
            counts = {"registered": 1} | {f"category.{c.value}": 1 for c in event.categories}
            lineage = self._areas.lineage_ids(event.home_area_id)
            for area_id, child_id in zip(lineage, (*lineage[1:], None), strict=True):
                increments = dict(counts)
                if child_id is not None:
                    increments |= {f"children.{child_id}.{k}": v for k, v in counts.items()}
                contributions.append((consumed, area_id, increments, {}))
        if contributions:
            await self.cells.apply(contributions)

    async def cell(self, area_id: str, period: str | None = None) -> Document:
        """The area's counts and its children's (an empty cell if nobody registered yet)."""
        if period is not None:
            raise ValueError("registrations are counted for all time only")
        found = await self.cells.read([area_id], {"hwm": 0})
        return found[0] if found else {}
