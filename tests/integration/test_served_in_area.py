"""Who served where, on the real store: one document per (area, volunteer), counted once per
event and holding each period's unique-volunteer membership. Each consumer remembers what it
wrote or read, and a remembered document that another consumer changed meanwhile never
makes a volunteer count twice or at the wrong instant."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from uuid import UUID

from muster_contracts.envelope import Actor, EventEnvelope, Role
from muster_reporting.adapters.served_in_area import ServedInAreaDocuments as ServedInArea
from muster_reporting.application.served_in_area import Firsts, Service, member_id
from muster_runtime.mongo import Database, Document
from muster_runtime.projections import ConsumedEvent
from tests.integration.conftest import Commands

AREA = "130203"
VOLUNTEER = "v-1"
AT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
PERIODS = ("all", "2026", "2026-W48", "2026-11", "2026-11-27")
_next_offsets: dict[int, int] = {}


def _at(minutes: int) -> datetime:
    return AT + timedelta(minutes=minutes)


def record(
    n: int,
    recorded_at: datetime,
    *,
    volunteer_id: str = VOLUNTEER,
    area: str = AREA,
    periods: tuple[str, ...] = PERIODS,
    minutes: int = 60,
    partition: int = 0,
    offset: int | None = None,
    new_record: bool = True,
) -> Service:
    """A service record (or, with `new_record=False`, a correction) as event `e-<n>`."""
    envelope = EventEnvelope(
        event_id=UUID(int=n), type="service.record_issued", schema_version=1,
        stream_id=f"activity-{n}", stream_type="activity", stream_version=1, position=n,
        occurred_at=recorded_at, recorded_at=recorded_at, correlation_id=UUID(int=n),
        actor=Actor(subject="organiser", role=Role.ORGANISER), payload={},
    )  # fmt: skip
    if offset is None:  # the next on its partition
        offset = _next_offsets[partition] = _next_offsets.get(partition, -1) + 1
    event = ConsumedEvent(envelope, "dispatch", partition, offset)
    turnouts = 1 if new_record else 0
    return Service(event, area, volunteer_id, periods, minutes, turnouts, new_record)


def holders(firsts: Firsts) -> list[tuple[str, datetime, datetime | None]]:
    return [(key, held.first, held.moved_from) for key, held in firsts]


async def test_two_consumers_settle_one_membership_per_cell_and_volunteer(db: Database) -> None:
    first, second = ServedInArea(db), ServedInArea(db)
    month = ("2026-11",)

    counted, _ = await first.apply([record(20, _at(20), periods=month)])
    assert holders(counted[0]) == [("2026-11", _at(20), None)]
    # Another consumer sees an earlier-recorded record: it takes the membership over, and
    # moves the count to its own instant. The first consumer's memory is now stale.
    moved, _ = await second.apply([record(10, _at(10), periods=month, partition=1)])
    assert holders(moved[0]) == [("2026-11", _at(10), _at(20))]

    # Later records change no membership, from memory (stale or not) or from the store.
    assert (await first.apply([record(30, _at(30), periods=month)]))[0] == {0: []}
    assert (await second.apply([record(40, _at(40), periods=month, partition=1)]))[0] == {0: []}
    # One recorded before the stale remembered holder but after the real one: the store
    # decides, and it changes nothing either.
    assert (await first.apply([record(15, _at(15), periods=month)]))[0] == {0: []}
    # One recorded before everything takes it over from the real holder, not the stale one.
    earliest, _ = await first.apply([record(5, _at(5), periods=month)])
    assert holders(earliest[0]) == [("2026-11", _at(5), _at(10))]

    doc = await db["service_volunteers"].find_one({"_id": member_id(AREA, VOLUNTEER)})
    assert doc is not None
    assert doc["2026-11"]["by"] == str(UUID(int=5))
    assert doc["2026-11"]["minutes"] == 6 * 60  # each record counted once, by either
    assert doc["2026-11"]["turnouts"] == 6


async def test_a_record_costs_one_write_per_area_and_a_redelivery_none(
    listened: tuple[Database, Commands],
) -> None:
    db, commands = listened
    served = ServedInArea(db)
    areas = ("130203", "130203001", "130203001001")
    await served.apply([record(1, _at(1), area=a, offset=1) for a in areas])  # one bulk insert
    assert [name for name, _ in commands.seen] == ["insert"]
    commands.seen.clear()

    later = [record(2, _at(2), area=a, offset=2) for a in areas]
    await served.apply(later)  # known documents, memberships decided from memory
    assert [name for name, _ in commands.seen] == ["update"] * len(areas)
    assert all(len(cmd["updates"]) == 1 for _, cmd in commands.seen)
    commands.seen.clear()

    firsts, _ = await served.apply(later)  # redelivered: nothing to write
    assert commands.seen == []
    assert firsts == {i: [] for i in range(len(areas))}  # earlier records hold the cells


async def test_batched_services_settle_as_if_seen_one_by_one(db: Database) -> None:
    """The live store path, a batch at a time (bulk insert, remembered documents, guarded
    updates), decides and counts exactly what applying the same events one after the other
    in memory decides."""
    rng = random.Random(7)
    areas = ["130203", "130203001"]
    periods = list(PERIODS)
    records = [
        record(
            n, _at(m), volunteer_id=f"v-{rng.randint(1, 3)}", area=rng.choice(areas),
            periods=tuple(rng.sample(periods, rng.randint(1, 5))), minutes=rng.randint(-30, 120),
            new_record=rng.random() < 0.8, partition=n % 3, offset=n,
        )
        for n, m in enumerate(rng.sample(range(500), 120))
    ]  # fmt: skip
    records += rng.sample(records, 20)  # redeliveries, out of order
    live, in_memory = ServedInArea(db), ServedInArea(db)
    in_memory.buffer()

    decided_live: list[Firsts] = []
    start = 0
    while start < len(records):
        size = rng.randint(1, 25)
        firsts, _ = await live.apply(records[start : start + size])
        decided_live += [firsts.get(i, []) for i in range(len(records[start : start + size]))]
        start += size
    decided_in_memory = [(await in_memory.apply([r]))[0].get(0, []) for r in records]

    assert decided_live == decided_in_memory
    outcomes = [held.moved_from is None for decided in decided_live for _, held in decided]
    assert outcomes.count(False) > 0  # earlier-recorded records taking a cell over
    in_store = {d["_id"]: d async for d in db["service_volunteers"].find()}
    assert in_store == await _documents(db, in_memory)


async def test_two_consumers_in_either_order_count_what_one_by_one_counts(db: Database) -> None:
    rng = random.Random(11)
    records = [
        record(
            n, _at(m), volunteer_id=f"v-{rng.randint(1, 3)}", periods=("all", "2026-11"),
            minutes=rng.randint(-30, 120), new_record=rng.random() < 0.8, partition=n % 2,
            offset=n,
        )
        for n, m in enumerate(rng.sample(range(500), 80))
    ]  # fmt: skip
    consumers = [ServedInArea(db), ServedInArea(db)]
    in_memory = ServedInArea(db)
    in_memory.buffer()
    for r in records:
        await in_memory.apply([r])
    expected = await _documents(db, in_memory)
    start = 0
    while start < len(records):
        size = rng.randint(1, 10)
        await rng.choice(consumers).apply(records[start : start + size])
        start += size

    in_store = {d["_id"]: d async for d in db["service_volunteers"].find()}
    assert in_store == expected


async def _documents(db: Database, buffered: ServedInArea) -> dict[str, Document]:
    """What `buffered` counted in memory, as a rebuild writes it (into another database)."""
    rebuilt = db.client[f"{db.name}_rebuilt"]
    try:
        buffered.collection = rebuilt["service_volunteers"]
        await buffered.flush()
        return {d["_id"]: d async for d in rebuilt["service_volunteers"].find()}
    finally:
        await db.client.drop_database(rebuilt.name)
