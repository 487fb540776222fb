"""The drive funnel, counted per drive and per area (the drive's area and its ancestors).

Cells (`drive:<id>`, `area:<id>`) are counter cells, so each event counts at most once
per cell, and their history (`CellHistory`) answers `as_of`. What a volunteer holds in a
drive is kept per (drive, volunteer) in a facts collection, read before and written after
a batch's cells and history: a redelivered batch recomputes the same changes, which the
cells and the history then skip; each stage is its own field, so writers of different
stages never overwrite each other. (A drive's area is written at once, so a redelivered
launch never adds its earlier counts twice; the one thing a crash just then could cost is
the history of counts made before the launch was seen, which a rebuild restores.)

Sign-ups, places and teams come from the drive's own stream, in order after its launch.
Check-ins (volunteer topic) and approved hours (activity streams) may be read before the
events that place them (a replay can read one topic before the other): a check-in to an
activity not seen yet is parked on the activity until it is scheduled, and a drive whose
launch is not seen yet is counted in its own cell only, until its launch adds that cell to
the areas. That hand-over assumes one consumer applies these events in turn; with several
replicas, a check-in applied at the very moment its drive's launch is merged could miss the
area cells (never the drive's own) — in practice a drive is launched long before anyone
checks in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from muster_contracts.areas import AreaTree
from muster_contracts.events.activities import ActivityScheduled
from muster_contracts.events.drives import DriveLaunched, TeamFormed, TeamSplit
from muster_reporting.application.as_of import Change
from muster_reporting.application.ports import CountingStore
from muster_reporting.domain.funnel import (
    MOVING_EVENT_TYPES,
    STAGES,
    Move,
    Stage,
    moves_of,
    step,
    total,
)
from muster_runtime.projections import ConsumedEvent

# Settled facts (activities' drives, drives' areas) a funnel keeps in memory, at most.
SETTLED_FACTS_KEPT = 100_000


def drive_cell(drive_id: str) -> str:
    return f"drive:{drive_id}"


def area_cell(area_id: str) -> str:
    return f"area:{area_id}"


class DriveFunnel:
    # Every event type this projection reads; others are never decoded in a rebuild.
    event_types = MOVING_EVENT_TYPES | {
        DriveLaunched.event_type,
        ActivityScheduled.event_type,
        TeamFormed.event_type,
        TeamSplit.event_type,
    }

    def __init__(self, store: CountingStore, areas: AreaTree) -> None:
        self.cells = store.counters("drive_funnel")
        self.history = store.history("drive_funnel")  # the cells as of any past instant
        self.facts = store.funnel_facts("drive_funnel_facts")
        self._areas = areas
        self._changes: list[Change] = []
        # Facts that never change once set: an activity's drive (set when it is scheduled)
        # and a drive's area (set when it is launched), so later events read them once.
        # Kept once the batch that read them is done (a failed batch's are not yet stored).
        self._settled: dict[str, dict[str, Any]] = {}
        self._settling: dict[str, dict[str, Any]] = {}

    async def _count(
        self, consumed: ConsumedEvent, by_cell: Mapping[str, Mapping[str, int]]
    ) -> None:
        """Add one event's counts to cells, and to their history at the event's instant."""
        await self.cells.add([(consumed, c, counts) for c, counts in by_cell.items()])
        at = consumed.envelope.recorded_at
        self._changes.extend(Change(consumed, c, counts, at) for c, counts in by_cell.items())

    async def apply(self, events: list[ConsumedEvent]) -> None:
        # One event at a time: an event may need what an earlier one recorded. The history
        # of the cells is kept once for the whole batch (it is read only by `as_of`).
        self._changes = []
        self._settling = {}
        self.facts.begin()
        for consumed in events:
            await self._apply_one(consumed)
        await self.history.record(self._changes)
        await self.facts.commit()  # last: a redelivered batch recomputes the same changes
        if len(self._settled) + len(self._settling) > SETTLED_FACTS_KEPT:
            self._settled.clear()
        self._settled.update(self._settling)

    async def _settled_fact(self, key: str, field: str) -> dict[str, Any] | None:
        """A fact that never changes once it has `field`: read once, then kept."""
        kept = self._settled.get(key)
        if kept is not None:
            return kept
        fact = await self.facts.get(key)
        if fact is not None and field in fact:
            self._settling[key] = fact
        return fact

    async def _apply_one(self, consumed: ConsumedEvent) -> None:
        kind = consumed.envelope.type
        payload = consumed.envelope.payload
        if kind == DriveLaunched.event_type:
            await self._launched(consumed, payload["drive_id"], payload["scope_area_id"])
        elif kind == ActivityScheduled.event_type:
            await self._scheduled(consumed, payload)
        elif kind == TeamFormed.event_type:
            await self.facts.set(f"team:{payload['team_id']}", {"drive_id": payload["drive_id"]})
        elif kind == TeamSplit.event_type:
            await self.facts.set(
                f"team:{payload['new_team_id']}", {"drive_id": payload["drive_id"]}
            )
        moves = moves_of(kind, payload)
        if moves:
            await self._move(consumed, moves)

    async def _launched(self, consumed: ConsumedEvent, drive_id: str, area_id: str) -> None:
        """Record the drive's area and add what was counted before the launch was seen."""
        drive = await self._settled_fact(f"drive:{drive_id}", "area_id")
        if drive is not None and "area_id" in drive:
            return  # a redelivery: the areas already have it
        if area_id not in self._areas:
            return  # outside the known area tree: counted per drive only
        counted = (await self.cells.read([drive_cell(drive_id)])).get(drive_cell(drive_id), {})
        earlier = {s.value: int(counted.get(s.value, 0)) for s in STAGES}
        earlier = {k: v for k, v in earlier.items() if v}
        if earlier:
            await self._count(
                consumed, {area_cell(a): earlier for a in self._areas.prefix_lineage_ids(area_id)}
            )
        # At once: the events after the launch count in the areas, and a redelivered launch
        # must not add the drive's earlier counts again.
        await self.facts.set(f"drive:{drive_id}", {"area_id": area_id}, now=True)

    async def _scheduled(self, consumed: ConsumedEvent, payload: Mapping[str, Any]) -> None:
        """Record the activity's drive and count the check-ins that arrived before it."""
        key = f"activity:{payload['activity_id']}"
        drive_id = payload.get("drive_id")
        if drive_id is None and payload.get("team_id"):
            team = await self.facts.get(f"team:{payload['team_id']}")
            drive_id = team.get("drive_id") if team else None
        activity = await self.facts.get(key) or {}
        if drive_id is not None:
            early = [
                Move(v, Stage.CHECKED_IN, drive_id=drive_id) for v in activity.get("early", [])
            ]
            if early:
                await self._move(consumed, early)
        # Parked check-ins are counted now: the same facts whichever was read first.
        await self.facts.set(key, {"drive_id": drive_id, "early": []})
        self._settled.pop(key, None)  # a redelivery may have found the team's drive since

    async def _drive_of(self, move: Move) -> str | None:
        if move.drive_id is not None:
            return move.drive_id
        assert move.activity_id is not None
        activity = await self._settled_fact(f"activity:{move.activity_id}", "drive_id")
        if activity is None or "drive_id" not in activity:
            if move.reach is Stage.CHECKED_IN:  # counted when the activity is scheduled
                await self.facts.add_to_set(
                    f"activity:{move.activity_id}", "early", move.volunteer_id
                )
            return None
        drive_id = activity["drive_id"]
        return str(drive_id) if drive_id else None  # None: an activity of no drive

    async def _move(self, consumed: ConsumedEvent, moves: list[Move]) -> None:
        held: dict[str, frozenset[Stage]] = {}
        changed: dict[str, set[Stage]] = {}
        changes: dict[str, list[dict[Stage, int]]] = {}  # by drive
        for move in moves:
            drive_id = await self._drive_of(move)
            if drive_id is None:
                continue
            key = f"journey:{drive_id}|{move.volunteer_id}"
            if key not in held:
                journey = await self.facts.get(key)
                held[key] = frozenset(s for s in STAGES if journey and journey.get(s))
            held[key], change = step(held[key], move)
            if change:
                changes.setdefault(drive_id, []).append(change)
                changed.setdefault(key, set()).update(change)
        by_cell: dict[str, dict[str, int]] = {}
        for drive_id, deltas in changes.items():
            counts = total(deltas)
            if not counts:
                continue
            cells = [drive_cell(drive_id)]
            drive = await self._settled_fact(f"drive:{drive_id}", "area_id")
            if drive is not None and "area_id" in drive:
                cells += [area_cell(a) for a in self._areas.prefix_lineage_ids(drive["area_id"])]
            for cell in cells:  # one contribution per cell and event: counted once
                summed = by_cell.setdefault(cell, {})
                for stage, amount in counts.items():
                    summed[stage] = summed.get(stage, 0) + amount
        if by_cell:
            await self._count(consumed, by_cell)
        # After the cells: a redelivery recomputes the same change. One field per stage, so
        # writers of different stages (different streams) never overwrite each other.
        for key, stages in changed.items():
            await self.facts.set(key, {s.value: s in held[key] for s in stages})

    async def counts(
        self,
        *,
        area_id: str | None = None,
        drive_id: str | None = None,
        as_of: datetime | None = None,
    ) -> dict[str, Any]:
        """The stage counts of an area or of one drive (empty if nothing was counted), now
        or as recorded by an instant."""
        cell = drive_cell(drive_id) if drive_id is not None else area_cell(str(area_id))
        if as_of is not None:
            return (await self.history.as_of([cell], as_of))[cell]
        return (await self.cells.read([cell])).get(cell, {})

    async def area_of_drive(self, drive_id: str) -> str | None:
        drive = await self.facts.get(f"drive:{drive_id}")
        return str(drive["area_id"]) if drive and "area_id" in drive else None
