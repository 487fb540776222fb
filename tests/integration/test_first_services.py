"""Unique volunteers per cell on the real store: each consumer remembers the memberships it
wrote or read, and a remembered one that another consumer changed meanwhile never makes a
volunteer count twice or at the wrong instant."""

from __future__ import annotations

import random
from dataclasses import astuple
from datetime import UTC, datetime, timedelta

from muster_reporting.application.leaderboards import (
    FirstService,
    FirstServices,
    Sighting,
    member_id,
)
from muster_runtime.mongo import Database

CELL = "130203|2026-11"
VOLUNTEER = "v-1"
AT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return AT + timedelta(minutes=minutes)


async def test_two_consumers_settle_one_first_service_per_cell_and_volunteer(
    db: Database,
) -> None:
    first, second = FirstServices(db), FirstServices(db)

    counted = await first.see_all([CELL], VOLUNTEER, "e-20", _at(20))
    assert [(s.recorded_at, s.moved_from) for s in counted] == [(_at(20), None)]
    # Another consumer sees an earlier-recorded record: it takes the membership over, and
    # moves the count to its own instant. The first consumer's memory is now stale.
    moved = await second.see_all([CELL], VOLUNTEER, "e-10", _at(10))
    assert [(s.recorded_at, s.moved_from) for s in moved] == [(_at(10), _at(20))]

    # Later records change nothing, from memory (stale or not) or from the store.
    assert await first.see_all([CELL], VOLUNTEER, "e-30", _at(30)) == []
    assert await second.see_all([CELL], VOLUNTEER, "e-40", _at(40)) == []
    # One recorded before the stale remembered holder but after the real one: the store
    # decides, and it changes nothing either.
    assert await first.see_all([CELL], VOLUNTEER, "e-15", _at(15)) == []
    # One recorded before everything takes it over from the real holder, not the stale one.
    earliest = await first.see_all([CELL], VOLUNTEER, "e-05", _at(5))
    assert [(s.recorded_at, s.moved_from) for s in earliest] == [(_at(5), _at(10))]

    doc = await db["service_volunteer_firsts"].find_one({"_id": member_id(CELL, VOLUNTEER)})
    assert doc is not None
    assert doc["by"] == "e-05"


async def test_a_remembered_membership_needs_no_store_operation(db: Database) -> None:
    firsts = FirstServices(db)
    cells = [CELL, "130203", "130203|2026"]
    assert len(await firsts.see_all(cells, VOLUNTEER, "e-10", _at(10))) == 3
    await db["service_volunteer_firsts"].drop()  # the store forgets; memory answers alone

    assert await firsts.see_all(cells, VOLUNTEER, "e-20", _at(20)) == []
    again = await firsts.see_all(cells, VOLUNTEER, "e-10", _at(10))  # a redelivery
    assert sorted(s.cell for s in again) == sorted(cells)
    assert await db["service_volunteer_firsts"].count_documents({}) == 0


async def test_batched_sightings_settle_as_if_seen_one_by_one(db: Database) -> None:
    """The live store path, a batch at a time (bulk insert, remembered holders), decides
    exactly what seeing the same records one after the other in memory decides."""
    rng = random.Random(7)
    cells = ["130203", "130203|2026", "130203|2026-11", "130203001|2026-11"]
    records = [
        Sighting(rng.sample(cells, rng.randint(1, 4)), f"v-{rng.randint(1, 4)}", f"e-{n}", _at(m))
        for n, m in enumerate(rng.sample(range(500), 120))
    ]
    records += rng.sample(records, 20)  # redeliveries, out of order
    live, in_memory = FirstServices(db), FirstServices(db)
    in_memory.buffer()

    decided_live: list[list[FirstService]] = []
    start = 0
    while start < len(records):
        size = rng.randint(1, 25)
        decided_live += await live.see_batch(records[start : start + size])
        start += size
    decided_in_memory = [await in_memory.see_all(*astuple(s)) for s in records]

    assert decided_live == decided_in_memory
    pairs = {member_id(c, s.volunteer_id) for s in records for c in s.cells}
    outcomes = [first.moved_from is None for decided in decided_live for first in decided]
    assert outcomes.count(True) >= len(pairs)  # each pair new once (and redelivered holders)
    assert outcomes.count(False) > 0  # earlier-recorded records taking a cell over
    assert await db["service_volunteer_firsts"].count_documents({}) == len(pairs)
