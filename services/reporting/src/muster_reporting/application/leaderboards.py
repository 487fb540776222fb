"""Who served: unique volunteers per cell, volunteers and teams ranked by approved hours,
and star-rated volunteers per area.

* `FirstServices` — one membership document per (cell, volunteer), inserted first: the
  event that creates it counts the volunteer once in the cell. The earliest-recorded
  event holds it (ties by event id), so which event counts is the same in any replay; a
  later-processed but earlier-recorded event takes it over and moves the count to its own
  instant (for as-of figures). A redelivered holder finds itself and counts again, which
  the cells' high-water marks make a no-op.
* `VolunteerHours` — approved minutes and turn-outs per (cell, volunteer), ranked by an
  index on (cell, minutes).
* `VolunteerStanding` — a volunteer's cumulative minutes and home-area lineage, for stars.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from muster_contracts.areas import AreaTree
from muster_contracts.events import VolunteerRegistered
from muster_contracts.events.activities import ServiceRecordAdjusted, ServiceRecordIssued
from muster_contracts.stars import star_rating
from muster_reporting.application.as_of import instant, parse_instant
from muster_runtime.mongo import Database, Document, insert_absent
from muster_runtime.projections import (
    ConsumedEvent,
    Contribution,
    CounterCells,
    insert_in_chunks,
)


@dataclass(frozen=True)
class Membership:
    """A volunteer counted in a cell: by which event, at which recorded instant."""

    first: datetime
    by: str
    moved_from: datetime | None = None


@dataclass(frozen=True)
class Sighting:
    """A new service record: its volunteer served in these cells."""

    cells: list[str]
    volunteer_id: str
    event_id: str
    recorded_at: datetime


@dataclass(frozen=True)
class FirstService:
    """What a service record means for the unique count of one cell."""

    cell: str
    recorded_at: datetime
    moved_from: datetime | None  # None: a new volunteer in the cell; else the count moves


def member_id(cell: str, volunteer_id: str) -> str:
    return f"{cell}#{volunteer_id}"


def decide_first(held: Membership | None, candidate: Membership) -> Membership | None:
    """The membership after `candidate` is seen, or None when nothing changes (pure)."""
    if held is None:
        return candidate
    if held.by == candidate.by:
        return held  # a redelivery of the holder: count it again (a no-op in the cells)
    if (candidate.first, candidate.by) < (held.first, held.by):
        return Membership(candidate.first, candidate.by, moved_from=held.first)
    return None


class FirstServices:
    # Memberships remembered; past it the memory starts again (the store answers).
    MAX_REMEMBERED = 200_000

    def __init__(self, db: Database) -> None:
        self.collection = db["service_volunteer_firsts"]
        self._buffer: dict[str, Membership] | None = None
        # Memberships as this consumer last wrote or read them. A holder only ever changes
        # to an earlier-recorded event, so a remembered one is never earlier than the
        # store's: an event recorded after it changes nothing and needs no store operation.
        self._held: dict[str, Membership] = {}

    def buffer(self) -> None:
        self._buffer = {}

    async def flush(self) -> None:
        if self._buffer is None:
            return
        docs = [_membership_doc(key, m) for key, m in self._buffer.items()]
        self._buffer = None
        await insert_in_chunks(self.collection, docs)

    async def see(
        self, cell: str, volunteer_id: str, event_id: str, recorded_at: datetime
    ) -> FirstService | None:
        """Record that the volunteer served in the cell; what it changes in the count."""
        key = member_id(cell, volunteer_id)
        candidate = Membership(recorded_at, event_id)
        if self._buffer is not None:
            after = decide_first(self._buffer.get(key), candidate)
            if after is not None:
                self._buffer[key] = after
            return _outcome(cell, after, event_id)
        try:
            await self.collection.insert_one(_membership_doc(key, candidate))
            return FirstService(cell, recorded_at, None)
        except DuplicateKeyError:
            return await self._settle(key, cell, candidate)

    async def see_all(
        self, cells: list[str], volunteer_id: str, event_id: str, recorded_at: datetime
    ) -> list[FirstService]:
        """`see` for many cells."""
        return (await self.see_batch([Sighting(cells, volunteer_id, event_id, recorded_at)]))[0]

    async def see_batch(self, sightings: list[Sighting]) -> list[list[FirstService]]:
        """`see_all` for each sighting, in order, as if one after the other.

        Memberships not remembered are inserted in one bulk insert (for their first
        sighting in the batch) or, held already, read once; then every sighting is decided
        against the remembered holder, and only one recorded before it goes to the store.
        """
        if self._buffer is not None:
            return [
                [
                    first
                    for cell in s.cells
                    if (first := await self.see(cell, s.volunteer_id, s.event_id, s.recorded_at))
                ]
                for s in sightings
            ]
        if len(self._held) > self.MAX_REMEMBERED:
            self._held.clear()
        unknown: dict[str, Membership] = {}
        for s in sightings:
            for cell in s.cells:
                key = member_id(cell, s.volunteer_id)
                if key not in self._held and key not in unknown:
                    unknown[key] = Membership(s.recorded_at, s.event_id)
        await self._insert_or_read(unknown)
        out: list[list[FirstService]] = []
        for s in sightings:
            candidate = Membership(s.recorded_at, s.event_id)
            seen: list[FirstService] = []
            for cell in s.cells:
                key = member_id(cell, s.volunteer_id)
                held = self._held[key]
                if held.by == s.event_id:  # the holder (perhaps just inserted, or redelivered)
                    seen.append(FirstService(cell, held.first, held.moved_from))
                elif (candidate.first, candidate.by) < (held.first, held.by):
                    settled = await self._settle(key, cell, candidate)  # may take it over
                    if settled is not None:
                        seen.append(settled)
            out.append(seen)
        return out

    async def _insert_or_read(self, memberships: dict[str, Membership]) -> None:
        """Remember `memberships`: inserted where new, else as the store holds them."""
        if not memberships:
            return
        keys = list(memberships)
        taken = await insert_absent(
            self.collection, [_membership_doc(key, memberships[key]) for key in keys]
        )
        held = [keys[i] for i in sorted(taken)]
        self._held.update(memberships)
        for doc in await asyncio.gather(*(self.collection.find_one({"_id": k}) for k in held)):
            assert doc is not None  # memberships are never deleted
            self._held[doc["_id"]] = _membership_of(doc)

    async def _settle(self, key: str, cell: str, candidate: Membership) -> FirstService | None:
        """Against a membership someone holds already: keep it, or take it if earlier."""
        event_id = candidate.by
        while True:
            doc = await self.collection.find_one({"_id": key})
            assert doc is not None
            held = _membership_of(doc)
            after = decide_first(held, candidate)
            if after is None or after is held:
                self._held[key] = held
                return _outcome(cell, after, event_id)
            taken = await self.collection.update_one(
                {"_id": key, "by": held.by},
                {"$set": {k: v for k, v in _membership_doc(key, after).items() if k != "_id"}},
            )
            if taken.matched_count == 1:
                self._held[key] = after
                return _outcome(cell, after, event_id)


def _outcome(cell: str, held: Membership | None, event_id: str) -> FirstService | None:
    if held is None or held.by != event_id:
        return None
    return FirstService(cell, held.first, held.moved_from)


def _membership_of(doc: Document) -> Membership:
    moved_from = doc.get("moved_from")
    return Membership(
        parse_instant(doc["first"]), doc["by"], parse_instant(moved_from) if moved_from else None
    )


def _membership_doc(key: str, held: Membership) -> Document:
    # Instants as text: BSON dates would drop the microseconds the order depends on.
    moved_from = instant(held.moved_from) if held.moved_from else None
    return {"_id": key, "first": instant(held.first), "by": held.by, "moved_from": moved_from}


class VolunteerHours:
    """Approved minutes and turn-outs of each volunteer in each cell (area and period)."""

    def __init__(self, db: Database) -> None:
        self.cells = CounterCells(db["service_volunteer_hours"])

    async def create_indexes(self) -> None:
        await self.cells.collection.create_index(
            [("cell", ASCENDING), ("minutes", DESCENDING)], name="cell_minutes"
        )

    def contribution(
        self, event: ConsumedEvent, cell: str, volunteer_id: str, counts: dict[str, int]
    ) -> Contribution:
        on_insert = {"cell": cell, "volunteer_id": volunteer_id}
        return (event, member_id(cell, volunteer_id), counts, on_insert)

    async def top(self, cell: str, limit: int) -> list[Document]:
        """The cell's volunteers with the most minutes (ties by volunteer id)."""
        query = self.cells.collection.find({"cell": cell, "minutes": {"$gt": 0}}, {"hwm": 0}).sort(
            [("minutes", DESCENDING), ("volunteer_id", ASCENDING)]
        )
        return [doc async for doc in query.limit(limit)]


class VolunteerStanding:
    """Each volunteer's cumulative approved minutes and home-area lineage, for stars.

    Registrations and service records arrive on different topics, in either order: the
    lineage is set whenever the registration comes, the minutes are counted as they come.
    """

    event_types = frozenset(
        {
            VolunteerRegistered.event_type,
            ServiceRecordIssued.event_type,
            ServiceRecordAdjusted.event_type,
        }
    )

    def __init__(self, db: Database, areas: AreaTree, thresholds_hours: tuple[int, ...]) -> None:
        self.cells = CounterCells(db["volunteer_standing"])
        self.thresholds_hours = thresholds_hours
        self._areas = areas

    async def create_indexes(self) -> None:
        await self.cells.collection.create_index(
            [("areas", ASCENDING), ("minutes", DESCENDING)], name="areas_minutes"
        )

    async def apply(self, events: list[ConsumedEvent]) -> None:
        minutes: list[Contribution] = []
        lineages: dict[str, dict[str, Any]] = {}
        for consumed in events:
            envelope = consumed.envelope
            payload = envelope.payload
            if envelope.type == VolunteerRegistered.event_type:
                lineage = list(self._areas.prefix_lineage_ids(payload["home_area_id"]))
                lineages[payload["volunteer_id"]] = {"areas": lineage}
            elif envelope.type == ServiceRecordIssued.event_type:
                minutes.append(
                    (consumed, payload["volunteer_id"], {"minutes": payload["minutes"]}, {})
                )
            elif envelope.type == ServiceRecordAdjusted.event_type:
                delta = {"minutes": payload["delta_minutes"]}
                minutes.append((consumed, payload["volunteer_id"], delta, {}))
        await self.cells.set_fields(lineages)
        await self.cells.apply(minutes)

    async def star_rated(self, area_id: str, limit: int) -> tuple[dict[int, int], list[Document]]:
        """How many volunteers living in the area hold each star count, and the top ones."""
        collection = self.cells.collection
        at_least: dict[int, int] = {}
        for stars, hours in enumerate(self.thresholds_hours, start=1):
            at_least[stars] = await collection.count_documents(
                {"areas": area_id, "minutes": {"$gte": hours * 60}}
            )
        by_stars = {
            stars: at_least[stars] - at_least.get(stars + 1, 0) for stars in sorted(at_least)
        }
        first = self.thresholds_hours[0] * 60
        query = collection.find(
            {"areas": area_id, "minutes": {"$gte": first}}, {"hwm": 0, "areas": 0}
        ).sort([("minutes", DESCENDING), ("_id", ASCENDING)])
        top = [doc | {"stars": self.stars(doc)} async for doc in query.limit(limit)]
        return by_stars, top

    def stars(self, doc: Document) -> int:
        return star_rating(int(doc.get("minutes", 0)), self.thresholds_hours)
