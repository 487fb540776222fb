"""Activities held, volunteer turn-outs, unique volunteers, approved service hours and
beneficiaries, counted at every level of the area hierarchy from dispatch's events.

What counts (the README states the same):

* Activities held (场次, `activities`): an activity counts once its hours are approved
  (`activity.hours_approved`), on its local start day; never at scheduling, never when
  cancelled (an approved activity cannot be cancelled).
* Beneficiaries (受益人次): the counts of approved activities only. Counts recorded
  before the approval are kept in the activity's facts and counted at the approval; an
  amendment after it counts its difference; an activity never approved adds none.
* Activities not held yet (`activities_scheduled`): +1 at scheduling, -1 at approval or
  cancellation; `cancelled` +1 at cancellation. An amendment (`activity.amended`) that
  moves an activity to another local day or place moves its count there, and what it
  counts later (held, cancelled, hours) follows it. Their split by the clock (upcoming, in
  progress, awaiting approval) is read from `PendingActivities`.
* Turn-outs (人次) and unique volunteers: from service records, one turn-out per
  (volunteer, activity) on the first local day of its records, whatever their minutes (a
  record of 0 minutes too); such a volunteer counts among the unique volunteers.

One cell per (area, period): all time, the year, ISO week, month and day (in the reporting
time zone) of the day a figure belongs to. A cell holds its totals, its breakdowns by
service category, drive and team (`category.<c>.…`, `drives.<d>.…`, `teams.<t>.…`) and its
children's, breakdowns too (`children.<id>.…`), so a drill-down is one cell: one point
read now, one area's buckets as of an instant.

Cells are counted exactly once per event (the counter-cells port) and only ever read whole
by id, so the store may keep them in whatever form is cheapest for it (packed, on the
development store).
Beneficiary amendments carry the full new counts, so the rollup adds the difference from
the activity's previous counts; activity facts needed later (place, day, category, drive,
team, counts) are kept per activity, written after the cells so a redelivery recomputes
the same difference. Every change is also counted in calendar buckets of when it was
recorded (`History`), for figures as of a past minute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from muster_contracts.areas import AreaTree
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityScheduled,
)
from muster_reporting.application.as_of import Change
from muster_reporting.application.leaderboards import Touched
from muster_reporting.application.pending_activities import (
    PendingActivity,
    PendingChange,
    split,
)
from muster_reporting.application.ports import ReportingStore
from muster_reporting.application.served_in_area import (
    Firsts,
    Service,
    period_key,
    period_of,
)
from muster_reporting.domain.periods import cell_id, local_day, periods_of
from muster_reporting.domain.service_counts import (
    SERVICE_EVENT_TYPES,
    ServiceDelta,
    count_service,
    delta_of,
    spread,
)
from muster_runtime.ports.counter_cells import CellChange
from muster_runtime.projections import ConsumedEvent

Document = dict[str, Any]

# A top-volunteers board keeps 150 volunteers, 50 more than a report shows (corrections
# can push volunteers off it: see `leaderboards`).
LEADERBOARD_SHOWN = 100
LEADERBOARD_CAPACITY = 150


@dataclass(frozen=True)
class FirstService:
    """A volunteer counted once in a cell, at the instant of the record that counts them;
    `moved_from`: the instant they were counted at before (an earlier record took over)."""

    cell: str
    recorded_at: datetime
    moved_from: datetime | None


@dataclass
class RollupBatch:
    """Everything a batch of events changes, applied together."""

    cells: list[CellChange] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    # What each event changes per (area, volunteer), with the area's parent.
    services: list[tuple[Service, str | None]] = field(default_factory=list)
    # The leaderboards whose volunteers' figures changed.
    touched: Touched = field(default_factory=dict)
    # Activities entering or leaving the areas' lists of pending activities.
    pending: list[PendingChange] = field(default_factory=list)


class ServiceRollup:
    # Every event type this projection reads; others are never decoded in a rebuild.
    event_types = SERVICE_EVENT_TYPES | {ActivityAmended.event_type}

    def __init__(
        self, store: ReportingStore, areas: AreaTree, timezone: str = "Asia/Shanghai"
    ) -> None:
        self._zone = ZoneInfo(timezone)
        self.cells = store.counters("service_by_area", read_whole=True)
        self.history = store.history("service_by_area")
        self.activities = store.activity_facts()
        self.pending = store.pending_lists()
        self.served = store.served_in_area()
        self.leaderboards = store.volunteer_boards(
            capacity=LEADERBOARD_CAPACITY, shown=LEADERBOARD_SHOWN
        )
        self._areas = areas
        # What the last `apply` counted and `record_history` has not written yet.
        self._unrecorded: tuple[list[Change], list[tuple[str, int, dict[str, Any], bool]]]
        self._unrecorded = ([], [])

    @property
    def zone(self) -> ZoneInfo:
        """The time zone the rollup counts days, weeks, months and years in."""
        return self._zone

    async def create_indexes(self) -> None:
        await self.served.create_indexes()

    async def apply(self, events: list[ConsumedEvent]) -> None:
        batch = RollupBatch()
        facts: dict[str, Document] = {}  # activity facts as of the event being applied
        fact_updates: list[tuple[str, int, dict[str, Any], bool]] = []
        for consumed in events:
            if consumed.envelope.type == ActivityAmended.event_type:
                await self._amended(consumed, facts, fact_updates, batch)
                continue
            delta = await self._delta(consumed, facts, fact_updates, batch.pending)
            if delta is not None:
                self._count(consumed, delta, batch)
        await self.leaderboards.prepare(batch.touched)  # before the figures change
        firsts, created = await self.served.apply([service for service, _ in batch.services])
        for index, (service, parent) in enumerate(batch.services):
            self._count_firsts(service, parent, firsts.get(index, []), batch)
        await self.pending.apply(batch.pending)
        await self.cells.add(batch.cells)
        await self.leaderboards.settle(batch.touched, created)
        # The history and the facts wait for `record_history`, after every projection's
        # current figures: what a report shows now is written first.
        self._unrecorded = (batch.changes, fact_updates)

    async def record_history(self) -> None:
        """Write the as-of history of the batch `apply` just counted, then its activity facts.

        The facts go last: until they are stored, a redelivered batch recomputes the same
        differences, so a batch stopped after its current figures (which count each event
        once) still records its history when it comes again.
        """
        changes, fact_updates = self._unrecorded
        self._unrecorded = ([], [])
        await self.history.record(changes)
        for activity_id, version, fields, create in fact_updates:
            await self.activities.apply(activity_id, version, {"$set": fields}, create=create)

    def _count(self, consumed: ConsumedEvent, delta: ServiceDelta, batch: RollupBatch) -> None:
        recorded_at = consumed.envelope.recorded_at
        spread_cells = spread(self._areas, delta)
        for _, cell, increments in spread_cells:
            batch.cells.append((consumed, cell, increments))
            batch.changes.append(Change(consumed, cell, increments, recorded_at))
        volunteer_id = delta.volunteer_id
        if volunteer_id is None:
            return
        periods = tuple(period_key(p) for p in periods_of(delta.day))
        minutes = int(delta.counts.get("minutes", 0))
        lineage = self._areas.prefix_lineage_ids(delta.place_area_id)
        for parent, area in zip((None, *lineage), lineage, strict=False):
            service = Service(
                consumed,
                area,
                volunteer_id,
                periods,
                minutes,
                int(delta.counts.get("turnouts", 0)),
                delta.new_record,
            )
            batch.services.append((service, parent))
            for key in periods:
                risen = batch.touched.setdefault(cell_id(area, period_of(key)), {})
                risen[volunteer_id] = risen.get(volunteer_id, True) and minutes >= 0

    def _count_firsts(
        self, service: Service, parent: str | None, firsts: Firsts, batch: RollupBatch
    ) -> None:
        """A volunteer new to a cell counts once there and in the parent's drill-down."""
        for key, held in firsts:
            period = period_of(key)
            first = FirstService(cell_id(service.area, period), held.first, held.moved_from)
            parent_cell = cell_id(parent, period) if parent is not None else None
            self._count_first(service.event, first, service.area, parent_cell, batch)

    @staticmethod
    def _count_first(
        consumed: ConsumedEvent,
        first: FirstService,
        area: str,
        parent: str | None,
        batch: RollupBatch,
    ) -> None:
        targets = [(first.cell, "volunteers")]
        if parent is not None:
            targets.append((parent, f"children.{area}.volunteers"))
        for cell, name in targets:
            if first.moved_from is None:
                batch.cells.append((consumed, cell, {name: 1}))
                batch.changes.append(Change(consumed, cell, {name: 1}, first.recorded_at))
            else:  # counted already; only when it was recorded moves earlier
                batch.changes.append(Change(consumed, cell, {name: -1}, first.moved_from))
                batch.changes.append(Change(consumed, cell, {name: 1}, first.recorded_at))

    async def _delta(
        self,
        consumed: ConsumedEvent,
        facts: dict[str, Document],
        fact_updates: list[tuple[str, int, dict[str, Any], bool]],
        pending: list[PendingChange],
    ) -> ServiceDelta | None:
        """What the event counts (`count_service`), with the activity's facts as of the
        events before it in the batch; notes how the facts and the pending lists change."""
        envelope = consumed.envelope
        payload = envelope.payload
        known: Document | None = None
        if envelope.type in self.event_types and envelope.type != ActivityScheduled.event_type:
            activity_id = payload["activity_id"]
            known = facts.get(activity_id) or await self.activities.get(activity_id)
        counted = count_service(envelope.type, payload, known, self._zone, envelope.occurred_at)
        if counted.delta is None:
            return None
        activity_id = payload["activity_id"]
        fact = facts[activity_id] = dict(counted.facts or known or {})
        if counted.stored is not None:
            fields = dict(counted.stored)
            fact_updates.append((activity_id, envelope.stream_version, fields, counted.create))
        if counted.listed:
            pending.extend(self._listed(consumed, fact, payload))
        elif counted.listed is False and known is not None:
            pending.extend(self._unlisted(consumed, known, activity_id))
        return counted.delta

    async def _amended(
        self,
        consumed: ConsumedEvent,
        facts: dict[str, Document],
        fact_updates: list[tuple[str, int, dict[str, Any], bool]],
        batch: RollupBatch,
    ) -> None:
        """An activity moved in time or place before its approval: its facts take the new
        place and local start day, its pending entry the new times (in the lists of the new
        place's areas, out of the old place's others), and its `activities_scheduled`
        count moves from the old (place, day) to the new one, in one change per cell."""
        envelope = consumed.envelope
        payload = envelope.payload
        activity_id = payload["activity_id"]
        known = facts.get(activity_id) or await self.activities.get(activity_id)
        if known is None or known.get("approved") or known.get("cancelled"):
            return  # scheduled before this projection's history began, or settled
        moved = {
            "place_area_id": payload["place_area_id"],
            "day": local_day(payload["starts_at"], self._zone).isoformat(),
        }
        amended = facts[activity_id] = known | moved
        fact_updates.append((activity_id, envelope.stream_version, moved, False))
        still = set(self._areas.prefix_lineage_ids(moved["place_area_id"]))
        batch.pending.extend(
            c for c in self._unlisted(consumed, known, activity_id) if c.area_id not in still
        )
        batch.pending.extend(self._listed(consumed, amended, payload))
        if not known.get("day") or (known["place_area_id"], known["day"]) == (
            moved["place_area_id"],
            moved["day"],
        ):
            return
        merged: dict[str, dict[str, int]] = {}
        for fact, count in ((known, -1), (amended, 1)):
            delta = delta_of(fact, fact["day"], {"activities_scheduled": count})
            for _, cell, increments in spread(self._areas, delta):
                into = merged.setdefault(cell, {})
                for name, amount in increments.items():
                    into[name] = into.get(name, 0) + amount
        recorded_at = envelope.recorded_at
        for cell, increments in merged.items():
            kept = {name: amount for name, amount in increments.items() if amount}
            if kept:
                batch.cells.append((consumed, cell, kept))
                batch.changes.append(Change(consumed, cell, kept, recorded_at))

    def _listed(
        self, consumed: ConsumedEvent, fact: Document, scheduled: Document
    ) -> list[PendingChange]:
        """A scheduled activity entering the pending lists of its place's areas."""
        lineage = self._areas.prefix_lineage_ids(fact["place_area_id"])
        starts_at = datetime.fromisoformat(scheduled["starts_at"])
        ends_at = datetime.fromisoformat(scheduled["ends_at"])
        return [
            PendingChange(
                consumed,
                area,
                fact["_id"],
                PendingActivity.at(
                    starts_at,
                    ends_at,
                    date.fromisoformat(fact["day"]),
                    child,
                    fact.get("category"),
                    fact.get("drive_id"),
                    fact.get("team_id"),
                ),
            )
            for area, child in zip(lineage, (*lineage[1:], None), strict=True)
        ]

    def _unlisted(
        self, consumed: ConsumedEvent, fact: Document, activity_id: str
    ) -> list[PendingChange]:
        """An approved or cancelled activity leaving the pending lists."""
        lineage = self._areas.prefix_lineage_ids(fact["place_area_id"])
        return [PendingChange(consumed, area, activity_id, None) for area in lineage]

    async def cells_of(
        self, cell_ids: list[str], as_of: datetime | None = None
    ) -> dict[str, Document]:
        """Cells by id (empty for those with nothing counted), now or as of an instant."""
        if as_of is not None:
            return await self.history.as_of(cell_ids, as_of)
        found = await self.cells.read(cell_ids)
        return {c: found.get(c, {}) for c in cell_ids}

    async def cell(
        self, area_id: str, period: str | None = None, as_of: datetime | None = None
    ) -> Document:
        """An area's totals for all time or a period, now or as of an instant."""
        return (await self.cells_of([cell_id(area_id, period)], as_of))[cell_id(area_id, period)]

    async def periods_of(self, area_id: str, periods: Sequence[str]) -> list[Document]:
        """An area's current cells of `periods`, in their order, read together (a year of
        days is one read of a few hundred documents, not a few hundred reads)."""
        found = await self.cells_of([cell_id(area_id, period) for period in periods])
        return [found[cell_id(area_id, period)] for period in periods]

    async def not_held(
        self,
        area_id: str,
        child_ids: list[str],
        period: str | None,
        only: tuple[str, str] | None,
        now: datetime,
    ) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """The activities of an area's period not held yet, by where they stand at `now`
        (upcoming, in progress, awaiting approval), the area's and each child's: one read
        of the area's pending list by `_id`."""
        return split(await self.pending.of_area(area_id), now, period, child_ids, only)

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
