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
    """One counter cell per area; a registration counts in its home area and every ancestor."""

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
            increments = {"registered": 1} | {f"category.{c.value}": 1 for c in event.categories}
            for area_id in self._areas.lineage_ids(event.home_area_id):
                contributions.append((consumed, area_id, increments, {}))
        if contributions:
            await self.cells.apply(contributions)

    async def counts(self, area_ids: list[str]) -> dict[str, Document]:
        cursor = self.cells.collection.find({"_id": {"$in": area_ids}}, {"hwm": 0})
        return {doc["_id"]: doc async for doc in cursor}
