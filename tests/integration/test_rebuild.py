"""Rebuilding reporting's read models from the log gives exactly the live result."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson
from aiokafka import AIOKafkaProducer

from muster_cli.bench.eventlog import DistrictLog, publish_district
from muster_cli.bench.replay import check_totals
from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.events import SealedPersonalData, VolunteerCategory, VolunteerRegistered
from muster_contracts.topology import event_topic
from muster_reporting.adapters.as_of_history import CellHistory, HistoryWriter
from muster_reporting.bootstrap import (
    ReportingSettings,
    projections,
    rebuild_read_models,
)
from muster_runtime.adapters.mongodb.counter_cells import unpack
from muster_runtime.adapters.mongodb.packed_json import unpack_json
from muster_runtime.adapters.mongodb.service_rebuild import read_model_versions
from muster_runtime.dead_letters import list_dead_letters
from muster_runtime.mongo import Database
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings
from muster_runtime.topics import ensure_topics
from tests.integration.helpers import eventually
from tests.integration.test_event_store import CONTEXT

REGISTRATIONS = 120


async def live_read_models(settings: ReportingSettings, db: Database) -> Database:
    """The database of the version of reporting's read models that serves."""
    versions = read_model_versions(db.client, settings)
    return versions.database((await versions.live()).version)


async def _snapshot(db: Database, collection: str) -> dict[str, Any]:
    """A collection's documents by `_id`; a packed cell as its counts and marks, a list of
    pending activities as its activities and marks (their versions count writes, which a
    rebuild makes once)."""
    return {
        doc["_id"]: (unpack(doc).counts, unpack(doc).hwm)
        if isinstance(doc.get("counts"), bytes)
        else (unpack_json(doc["activities"]), doc["hwm"])
        if isinstance(doc.get("activities"), bytes)
        else doc
        async for doc in db[collection].find()
    }


async def test_a_rebuild_reproduces_the_live_read_models_exactly(
    settings: ServiceSettings, db: Database
) -> None:
    areas = load_area_tree()
    buildings = [a.id for a in areas.at_level(AreaLevel.BUILDING)]
    pick = random.Random(5)
    reporting_settings = ReportingSettings(
        **settings.model_dump(exclude={"service_name", "http_port"})
    )
    producer = ServiceRuntime(
        settings.model_copy(update={"service_name": "volunteer"}), produces="volunteer"
    )
    live = ServiceRuntime(reporting_settings, consumes=("volunteer",))
    *_, handlers = projections(live.db, areas)
    live.consume_with(*handlers)
    async with producer.running(), live.running():
        assert producer.store is not None
        for _ in range(REGISTRATIONS):
            volunteer_id = str(uuid4())
            event = VolunteerRegistered(
                volunteer_id=volunteer_id,
                home_area_id=pick.choice(buildings),
                categories=(pick.choice(list(VolunteerCategory)),),
                skills=(),
                personal=SealedPersonalData(key_id=volunteer_id, ciphertext="sealed"),
            )
            await producer.store.append(
                f"volunteer-{volunteer_id}", "volunteer", 0, [event], CONTEXT
            )

        async def all_counted() -> bool:
            # Every batch applied in full (the district cell alone may be written first).
            return live.consumed_total == REGISTRATIONS

        await eventually(all_counted, timeout=180)
    before = await _snapshot(db, "volunteers_by_area")

    result = await rebuild_read_models(reporting_settings, show_progress=False, grace_seconds=0.5)

    assert (result.events, result.version, result.switched) == (REGISTRATIONS, 1, True)
    rebuilt = await live_read_models(reporting_settings, db)
    assert rebuilt.name == f"{db.name}_v1"
    assert await _snapshot(rebuilt, "volunteers_by_area") == before
    assert "volunteers_by_area" not in await db.list_collection_names()  # the old one dropped


async def test_a_rebuild_reproduces_live_service_rollups_and_activity_facts(
    settings: ServiceSettings, db: Database
) -> None:
    """Activities held and not held yet, turn-outs, hours and beneficiaries, counted in
    memory in the rebuild; the lists of pending activities too."""
    reporting_settings = ReportingSettings(
        **settings.model_dump(exclude={"service_name", "http_port"})
    )
    log = DistrictLog(load_area_tree(), seed=9)
    wire = [log.registration(datetime(2026, 11, 2, tzinfo=UTC)) for _ in range(5)]
    wire += list(log.activity(approved=True)) + list(log.activity(approved=False))
    wire += list(log.activity(approved=True))
    topics = [event_topic(settings.topic_prefix, c) for c in ("volunteer", "dispatch")]
    await ensure_topics(settings.kafka_bootstrap, topics, settings.topic_partitions)
    await publish_district(settings.kafka_bootstrap, settings.topic_prefix, iter(wire))
    live = ServiceRuntime(reporting_settings, consumes=("volunteer", "dispatch"))
    *_, handlers = projections(live.db, load_area_tree())
    live.consume_with(*handlers)
    async with live.running():

        async def all_counted() -> bool:
            return not await check_totals(db, log.truth)

        await eventually(all_counted, timeout=120)
    read_models = (
        "volunteers_by_area",
        "service_by_area",
        "activity_facts",
        "pending_activities",
        "service_by_area_buckets",
    )
    await HistoryWriter([CellHistory(db, "service_by_area")]).drain()
    before = {name: await _snapshot(db, name) for name in read_models}
    assert log.truth.activities_scheduled == 1
    assert len(before["pending_activities"]["130203"][0]) == 1  # the one never approved

    result = await rebuild_read_models(reporting_settings, show_progress=False, grace_seconds=0.5)

    assert result.events == len(wire)
    rebuilt = await live_read_models(reporting_settings, db)
    assert {name: await _snapshot(rebuilt, name) for name in read_models} == before
    assert await check_totals(rebuilt, log.truth) == []


async def test_a_rebuild_sets_aside_what_it_cannot_apply_once_and_counts_the_rest(
    settings: ServiceSettings, db: Database
) -> None:
    """A record that is no event, and an event no projection can apply, go to the dead
    letters as the live consumer sends them (once, however often the log is rebuilt);
    everything else is counted."""
    reporting_settings = ReportingSettings(
        **settings.model_dump(exclude={"service_name", "http_port"})
    )
    log = DistrictLog(load_area_tree(), seed=13)
    wire = [log.registration(datetime(2026, 11, 2, tzinfo=UTC)) for _ in range(5)]
    wire += list(log.activity())
    record = next(w for w in wire if dict(w.headers)["event-type"] == b"service.record_issued")
    broken = orjson.loads(record.value)
    del broken["payload"]["volunteer_id"]  # a producer bug: the envelope is fine, the payload not
    broken["event_id"] = str(uuid4())
    broken["stream_version"] = 99
    topics = {c: event_topic(settings.topic_prefix, c) for c in ("volunteer", "dispatch")}
    await ensure_topics(settings.kafka_bootstrap, list(topics.values()), settings.topic_partitions)
    await publish_district(settings.kafka_bootstrap, settings.topic_prefix, iter(wire))
    kafka = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await kafka.start()
    try:
        garbage = await kafka.send_and_wait(
            topics["dispatch"], b"\x00 not an event", key=record.key, headers=record.headers
        )
        unappliable = await kafka.send_and_wait(
            topics["dispatch"], orjson.dumps(broken), key=record.key, headers=record.headers
        )
    finally:
        await kafka.stop()

    first = await rebuild_read_models(reporting_settings, show_progress=False, grace_seconds=0.5)
    again = await rebuild_read_models(reporting_settings, show_progress=False, grace_seconds=0.5)

    assert first.events == again.events == len(wire) + 2
    assert first.set_aside == again.set_aside == 2
    assert await check_totals(await live_read_models(reporting_settings, db), log.truth) == []
    letters = await list_dead_letters(settings.kafka_bootstrap, settings.topic_prefix, "reporting")
    where = {(x.source_topic, x.source_partition, x.source_offset): x for x in letters}
    assert len(letters) == 2  # the second rebuild found them there and sent neither again
    not_an_event = where[(topics["dispatch"], garbage.partition, garbage.offset)]
    assert not_an_event.value == b"\x00 not an event"
    assert "not an event envelope" in not_an_event.reason
    cannot_apply = where[(topics["dispatch"], unappliable.partition, unappliable.offset)]
    assert orjson.loads(cannot_apply.value) == broken
    assert "could not be applied" in cannot_apply.reason
    assert "volunteer_id" in cannot_apply.reason
