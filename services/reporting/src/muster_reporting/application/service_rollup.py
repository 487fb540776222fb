"""Activities held, volunteer turn-outs, approved service hours and beneficiaries, counted
at every level of the area hierarchy from dispatch's events.

Cells are counted exactly once per event (partition high-water marks, see `CounterCells`).
Beneficiary amendments carry the full new counts, so the rollup adds the difference from
the activity's previous counts; activity facts needed later (place, counts) are kept per
activity, written after the cells so a redelivery recomputes the same difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from muster_contracts.areas import AreaTree
from muster_contracts.events.activities import (
    ActivityCancelled,
    ActivityScheduled,
    BeneficiariesRecorded,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
)
from muster_runtime.mongo import Database, Document
from muster_runtime.projections import ConsumedEvent, CounterCells, VersionedDocuments

Contribution = tuple[ConsumedEvent, str, Mapping[str, int], Mapping[str, Any]]


class ServiceRollup:
    # Every event type this projection reads; others are never decoded in a rebuild.
    event_types = frozenset(
        {
            ActivityScheduled.event_type,
            ActivityCancelled.event_type,
            BeneficiariesRecorded.event_type,
            ServiceRecordIssued.event_type,
            ServiceRecordAdjusted.event_type,
        }
    )

    def __init__(self, db: Database, areas: AreaTree, timezone: str = "Asia/Shanghai") -> None:
        self._zone = ZoneInfo(timezone)
        self.cells = CounterCells(db["service_by_area"])
        self.activities = VersionedDocuments(db["activity_facts"])
        self._areas = areas

    def _spread(
        self, consumed: ConsumedEvent, area_id: str, day: str, counts: Mapping[str, int]
    ) -> list[Contribution]:
        """Counts for every area up the tree, in all time, the month and the day served."""
        lineage = self._areas.lineage_ids(area_id)
        # The same increments in every period (read-only downstream): built once per level.
        levels: list[tuple[str, Mapping[str, int]]] = []
        for area, child in zip(lineage, (*lineage[1:], None), strict=True):
            increments = dict(counts)
            if child is not None:
                increments |= {f"children.{child}.{k}": v for k, v in counts.items()}
            levels.append((area, increments))
        return [
            (consumed, cell_id(area, period), increments, {})
            for period in (None, day[:7], day)
            for area, increments in levels
        ]

    async def apply(self, events: list[ConsumedEvent]) -> None:
        # One event at a time: later events of an activity need the facts of earlier ones.
        for consumed in events:
            await self._apply_one(consumed)

    async def _apply_one(self, consumed: ConsumedEvent) -> None:
        envelope = consumed.envelope
        payload = envelope.payload
        kind = envelope.type
        if kind == ActivityScheduled.event_type:
            day = self._local_day(payload["starts_at"])
            await self.cells.apply(
                self._spread(consumed, payload["place_area_id"], day, {"activities": 1})
            )
            await self.activities.apply(
                payload["activity_id"],
                envelope.stream_version,
                {
                    "$set": {
                        "place_area_id": payload["place_area_id"],
                        "category": payload["category"],
                        "day": day,
                    }
                },
                create=True,
            )
            return
        if kind not in self.event_types:
            return
        facts = await self.activities.get(payload["activity_id"])
        if facts is None:
            return  # scheduled before this projection's history began
        place = facts["place_area_id"]
        # Hours count on the day they were served; the rest on the activity's day.
        day = str(
            payload.get("service_date")
            or facts.get("day")  # activities scheduled before periods were counted lack it
            or self._local_day(envelope.occurred_at.isoformat())
        )
        counts: dict[str, int] = {}
        fact_update: dict[str, Any] = {}
        if kind == ActivityCancelled.event_type:
            counts = {"activities": -1, "cancelled": 1}
        elif kind == BeneficiariesRecorded.event_type:
            before: dict[str, int] = facts.get("beneficiaries", {})
            after: dict[str, int] = payload["counts"]
            for group in set(before) | set(after):
                delta = int(after.get(group, 0)) - int(before.get(group, 0))
                if delta:
                    counts[f"beneficiaries.{group}"] = delta
            counts["beneficiaries_total"] = sum(map(int, after.values())) - sum(
                map(int, before.values())
            )
            fact_update = {"$set": {"beneficiaries": after}}
        elif kind == ServiceRecordIssued.event_type:
            counts = {"turnouts": 1, "minutes": int(payload["minutes"])}
        else:
            counts = {"minutes": int(payload["delta_minutes"])}
        await self.cells.apply(self._spread(consumed, place, day, counts))
        if fact_update:
            await self.activities.apply(
                payload["activity_id"], envelope.stream_version, fact_update
            )

    def _local_day(self, at: str) -> str:
        return datetime.fromisoformat(at).astimezone(self._zone).date().isoformat()

    async def cell(self, area_id: str, period: str | None = None) -> Document:
        """An area's totals for all time, a month (`2026-11`) or a day (`2026-11-27`)."""
        found = await self.cells.read([cell_id(area_id, period)], {"hwm": 0})
        return found[0] if found else {}


def cell_id(area_id: str, period: str | None) -> str:
    return area_id if period is None else f"{area_id}|{period}"
