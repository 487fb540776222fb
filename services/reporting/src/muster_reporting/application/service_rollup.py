"""Activities held, volunteer turn-outs, unique volunteers, approved service hours and
beneficiaries, counted at every level of the area hierarchy from dispatch's events.

One cell per (area, period): all time, the year, ISO week, month and day (in the reporting
time zone) of the day a figure belongs to. A cell holds its totals, its breakdowns by
service category, drive and team (`category.<c>.…`, `drives.<d>.…`, `teams.<t>.…`) and its
children's, breakdowns too (`children.<id>.…`), so a drill-down is one cell: one point
read now, one area's buckets as of an instant.

Cells are counted exactly once per event (partition high-water marks, see `CounterCells`).
Beneficiary amendments carry the full new counts, so the rollup adds the difference from
the activity's previous counts; activity facts needed later (place, day, category, drive,
team, counts) are kept per activity, written after the cells so a redelivery recomputes
the same difference. Every change is also counted in calendar buckets of when it was
recorded (`CellHistory`), for figures as of a past minute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from muster_contracts.areas import AreaTree
from muster_contracts.events.activities import (
    ActivityCancelled,
    ActivityScheduled,
    BeneficiariesRecorded,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
)
from muster_reporting.application.as_of import CellHistory, Change, merged
from muster_reporting.application.leaderboards import (
    FirstService,
    FirstServices,
    Sighting,
    VolunteerHours,
)
from muster_reporting.application.periods import local_day, periods_of
from muster_runtime.mongo import Database, Document
from muster_runtime.projections import (
    ConsumedEvent,
    Contribution,
    CounterCells,
    VersionedDocuments,
)

# Measures also broken down by category, drive and team, with beneficiaries by group
# (unique volunteers are not).
BREAKDOWN_MEASURES = ("activities", "cancelled", "turnouts", "minutes", "beneficiaries_total")
BREAKDOWNS = ("category", "drives", "teams")


class Buffered(Protocol):
    """A read model that can count in memory during a rebuild and write once at the end."""

    def buffer(self) -> None: ...

    async def flush(self) -> None: ...


@dataclass(frozen=True)
class ServiceDelta:
    """What one event changes, where and when: before it is spread over areas and periods."""

    place_area_id: str
    day: date
    counts: Mapping[str, int]
    category: str | None = None
    drive_id: str | None = None
    team_id: str | None = None
    volunteer_id: str | None = None
    new_record: bool = False

    def breakdowns(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for dimension, value in zip(
            BREAKDOWNS, (self.category, self.drive_id, self.team_id), strict=True
        ):
            if value is None:
                continue
            for measure, amount in self.counts.items():
                if measure in BREAKDOWN_MEASURES or measure.startswith("beneficiaries."):
                    out[f"{dimension}.{field_key(value)}.{measure}"] = amount
        return out


@dataclass
class RollupBatch:
    """Everything a batch of events changes, applied together."""

    cells: list[Contribution] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    hours: list[Contribution] = field(default_factory=list)
    # New service records, settled together against the unique-volunteer memberships.
    sightings: list[tuple[ConsumedEvent, Sighting, dict[str, str], dict[str, str]]] = field(
        default_factory=list
    )


def field_key(value: str) -> str:
    """A value usable as a document field name (no dots, no leading `$`)."""
    return value.replace(".", "_").replace("$", "_")


def cell_id(area_id: str, period: str | None) -> str:
    return area_id if period is None else f"{area_id}|{period}"


def spread(areas: AreaTree, delta: ServiceDelta) -> list[tuple[str, str, dict[str, int]]]:
    """(area, cell, increments) for every area up the tree and every period of the day (pure):
    a cell's own, and under `children.<id>` the child's on the way down."""
    lineage = areas.prefix_lineage_ids(delta.place_area_id)
    own = dict(delta.counts) | delta.breakdowns()
    out: list[tuple[str, str, dict[str, int]]] = []
    for period in periods_of(delta.day):
        for area, child in zip(lineage, (*lineage[1:], None), strict=True):
            increments = dict(own)
            if child is not None:
                increments |= {f"children.{child}.{k}": v for k, v in own.items()}
            out.append((area, cell_id(area, period), increments))
    return out


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
        self.history = CellHistory(db, "service_by_area")
        self.activities = VersionedDocuments(db["activity_facts"])
        self.firsts = FirstServices(db)
        self.volunteer_hours = VolunteerHours(db)
        self._areas = areas

    @property
    def zone(self) -> ZoneInfo:
        """The time zone the rollup counts days, weeks, months and years in."""
        return self._zone

    async def create_indexes(self) -> None:
        await self.volunteer_hours.create_indexes()

    def buffer(self) -> None:
        """Count in memory (a rebuild into empty collections) until `flush`."""
        for model in self._models():
            model.buffer()

    async def flush(self) -> None:
        for model in self._models():
            await model.flush()

    def _models(self) -> tuple[Buffered, ...]:
        return (self.cells, self.activities, self.history, self.firsts, self.volunteer_hours.cells)

    async def apply(self, events: list[ConsumedEvent]) -> None:
        batch = RollupBatch()
        facts: dict[str, Document] = {}  # activity facts as of the event being applied
        fact_updates: list[tuple[str, int, dict[str, Any], bool]] = []
        for consumed in events:
            delta = await self._delta(consumed, facts, fact_updates)
            if delta is not None:
                self._count(consumed, delta, batch)
        seen = await self.firsts.see_batch([sighting for _, sighting, _, _ in batch.sightings])
        for (consumed, _, areas, parents), firsts in zip(batch.sightings, seen, strict=True):
            for first in firsts:
                self._count_first(
                    consumed, first, areas[first.cell], parents.get(first.cell), batch
                )
        await self.cells.apply(merged(batch.cells))
        await self.history.record(batch.changes)
        await self.volunteer_hours.cells.apply(merged(batch.hours))
        # After the cells: a redelivered batch recomputes the same differences.
        for activity_id, version, update, create in fact_updates:
            await self.activities.apply(activity_id, version, update, create=create)

    def _count(self, consumed: ConsumedEvent, delta: ServiceDelta, batch: RollupBatch) -> None:
        recorded_at = consumed.envelope.recorded_at
        spread_cells = spread(self._areas, delta)
        for _, cell, increments in spread_cells:
            batch.cells.append((consumed, cell, increments, {}))
            batch.changes.append(Change(consumed, cell, increments, recorded_at))
        if delta.volunteer_id is None:
            return
        served = {k: v for k, v in delta.counts.items() if k in ("minutes", "turnouts")}
        for _, cell, _ in spread_cells:
            batch.hours.append(
                self.volunteer_hours.contribution(consumed, cell, delta.volunteer_id, served)
            )
        if not delta.new_record:
            return
        areas = {cell: area for area, cell, _ in spread_cells}
        event_id = str(consumed.envelope.event_id)
        sighting = Sighting(list(areas), delta.volunteer_id, event_id, recorded_at)
        batch.sightings.append((consumed, sighting, areas, self._parents(spread_cells)))

    @staticmethod
    def _parents(spread_cells: list[tuple[str, str, dict[str, int]]]) -> dict[str, str]:
        """Each cell's parent cell (same period, the area one level up)."""
        parents: dict[str, str] = {}
        for (_, parent, _), (_, child, _) in pairwise(spread_cells):
            if child.partition("|")[2] == parent.partition("|")[2]:
                parents[child] = parent
        return parents

    @staticmethod
    def _count_first(
        consumed: ConsumedEvent,
        first: FirstService,
        area: str,
        parent: str | None,
        batch: RollupBatch,
    ) -> None:
        """A volunteer new to a cell counts once there and in the parent's drill-down."""
        targets = [(first.cell, "volunteers")]
        if parent is not None:
            targets.append((parent, f"children.{area}.volunteers"))
        for cell, name in targets:
            if first.moved_from is None:
                batch.cells.append((consumed, cell, {name: 1}, {}))
                batch.changes.append(Change(consumed, cell, {name: 1}, first.recorded_at))
            else:  # counted already; only when it was recorded moves earlier
                batch.changes.append(Change(consumed, cell, {name: -1}, first.moved_from))
                batch.changes.append(Change(consumed, cell, {name: 1}, first.recorded_at))

    async def _delta(
        self,
        consumed: ConsumedEvent,
        facts: dict[str, Document],
        fact_updates: list[tuple[str, int, dict[str, Any], bool]],
    ) -> ServiceDelta | None:
        envelope = consumed.envelope
        payload = envelope.payload
        kind = envelope.type
        if kind == ActivityScheduled.event_type:
            fact = {
                "place_area_id": payload["place_area_id"],
                "category": payload["category"],
                "drive_id": payload.get("drive_id"),
                "team_id": payload.get("team_id"),
                "day": local_day(payload["starts_at"], self._zone).isoformat(),
            }
            facts[payload["activity_id"]] = {"_id": payload["activity_id"], **fact}
            fact_updates.append(
                (payload["activity_id"], envelope.stream_version, {"$set": fact}, True)
            )
            return self._from_facts(facts[payload["activity_id"]], fact["day"], {"activities": 1})
        if kind not in self.event_types:
            return None
        activity_id = payload["activity_id"]
        known = facts.get(activity_id) or await self.activities.get(activity_id)
        if known is None:
            return None  # scheduled before this projection's history began
        fact = facts[activity_id] = known
        # Hours count on the day they were served; the rest on the activity's day.
        day = str(
            payload.get("service_date")
            or fact.get("day")  # activities scheduled before periods were counted lack it
            or local_day(envelope.occurred_at, self._zone).isoformat()
        )
        if kind == ActivityCancelled.event_type:
            return self._from_facts(fact, day, {"activities": -1, "cancelled": 1})
        if kind == BeneficiariesRecorded.event_type:
            before: dict[str, int] = fact.get("beneficiaries", {})
            after: dict[str, int] = payload["counts"]
            counts: dict[str, int] = {}
            for group in set(before) | set(after):
                change = int(after.get(group, 0)) - int(before.get(group, 0))
                if change:
                    counts[f"beneficiaries.{group}"] = change
            counts["beneficiaries_total"] = sum(map(int, after.values())) - sum(
                map(int, before.values())
            )
            facts[activity_id] = fact | {"beneficiaries": after}
            fact_updates.append(
                (activity_id, envelope.stream_version, {"$set": {"beneficiaries": after}}, False)
            )
            return self._from_facts(fact, day, counts)
        volunteer_id = payload["volunteer_id"]
        if kind == ServiceRecordIssued.event_type:
            counts = {"turnouts": 1, "minutes": int(payload["minutes"])}
            return self._from_facts(fact, day, counts, volunteer_id, new_record=True)
        counts = {"minutes": int(payload["delta_minutes"])}
        return self._from_facts(fact, day, counts, volunteer_id)

    @staticmethod
    def _from_facts(
        fact: Document,
        day: str,
        counts: dict[str, int],
        volunteer_id: str | None = None,
        *,
        new_record: bool = False,
    ) -> ServiceDelta:
        return ServiceDelta(
            place_area_id=fact["place_area_id"],
            day=date.fromisoformat(day),
            counts=counts,
            category=fact.get("category"),
            drive_id=fact.get("drive_id"),
            team_id=fact.get("team_id"),
            volunteer_id=volunteer_id,
            new_record=new_record,
        )

    async def cells_of(
        self, cell_ids: list[str], as_of: datetime | None = None
    ) -> dict[str, Document]:
        """Cells by id (empty for those with nothing counted), now or as of an instant."""
        if as_of is not None:
            return await self.history.as_of(cell_ids, as_of)
        found = {d["_id"]: d for d in await self.cells.read(cell_ids, {"hwm": 0})}
        return {c: found.get(c, {}) for c in cell_ids}

    async def cell(
        self, area_id: str, period: str | None = None, as_of: datetime | None = None
    ) -> Document:
        """An area's totals for all time or a period, now or as of an instant."""
        return (await self.cells_of([cell_id(area_id, period)], as_of))[cell_id(area_id, period)]

    async def drill_down(
        self,
        area_id: str,
        child_ids: list[str],
        period: str | None = None,
        as_of: datetime | None = None,
    ) -> tuple[Document, dict[str, Document]]:
        """An area's cell and its children's figures (breakdowns too), all from the area's
        one cell: one read now, one area's buckets as of an instant."""
        cell = await self.cell(area_id, period, as_of)
        children: dict[str, Document] = cell.get("children", {})
        return cell, {child: children.get(child, {}) for child in child_ids}
