"""Reporting rebuilds its read models while it keeps consuming: the rebuilt version equals
what live consumption made of the same log, field by field; a rebuild killed before its
switch leaves the live version untouched, and one stopped after it is finished by the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from muster_cli.bench.eventlog import DistrictLog, WireEvent, publish_district
from muster_cli.bench.replay import check_totals
from muster_contracts.envelope import EventEnvelope
from muster_contracts.topology import event_topic
from muster_reporting.adapters.live_version import LiveInsights
from muster_reporting.bootstrap import (
    CONSUMES,
    READ_MODELS,
    ReportingSettings,
    insights_of,
    rebuild_read_models,
)
from muster_runtime.adapters.mongodb.read_model_versions import ReadModelVersions
from muster_runtime.adapters.mongodb.service_rebuild import RebuildOptions, read_model_versions
from muster_runtime.mongo import Database, scratch_database
from muster_runtime.projections import ConsumedEvent, source_of
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings
from tests.integration.helpers import eventually
from tests.integration.rebuilds import (
    AREAS,
    GRACE,
    at_least,
    district_log,
    ignore,
    kill_before_switch,
    live_version,
)
from tests.integration.rebuilds import contents as shared_contents
from tests.integration.rebuilds import publish as publish_on


def reporting(settings: ServiceSettings, **changes: Any) -> ReportingSettings:
    return ReportingSettings(**settings.model_dump(exclude={"service_name", "http_port"}) | changes)


async def contents(db: Database) -> dict[str, dict[Any, Any]]:
    return await shared_contents(db, READ_MODELS)


async def publish(settings: ServiceSettings, wire: list[WireEvent]) -> None:
    await publish_on(settings, wire, CONSUMES)


def live_reporting(settings: ReportingSettings) -> tuple[ServiceRuntime, LiveInsights]:
    """A reporting consumer that follows the version pointer, as the service's is."""
    runtime = ServiceRuntime(settings, consumes=CONSUMES)
    live = LiveInsights(
        read_model_versions(runtime.client, settings),
        lambda db: insights_of(db, AREAS, settings),
        ignore,
    )
    runtime.consume_with(live.apply)
    return runtime, live


@pytest.fixture
async def reference(settings: ServiceSettings) -> AsyncIterator[Database]:
    """A database for a reporting consumer that is never rebuilt: the live result."""
    async with scratch_database(settings.mongo_url, f"{settings.database_name}_ref") as made:
        yield made


# A rebuild written in parts: small batches, and a part written after nearly every one,
# so the busy documents (the district's cells, its buckets, its volunteers) are folded
# into again after earlier parts wrote them.
IN_PARTS = {"rebuild_fold_documents": 40}
IN_PARTS_BATCH = 25


@pytest.mark.parametrize("in_parts", [False, True], ids=["whole", "in-parts"])
async def test_a_rebuild_under_live_load_equals_live_consumption_field_by_field(
    settings: ServiceSettings, db: Database, reference: Database, in_parts: bool
) -> None:
    """Two reporting consumers read the same topics: one only consumes, the other is
    rebuilt online while events keep arriving; in the end every read model of the two is
    the same, document by document and field by field (marks of what was counted too),
    whether the rebuild folds the log in memory whole or writes it in many parts.

    In parts, volunteers also come back to later activities (in later parts), on other
    days: their figures add up where they served before, and they count once among a
    cell's unique volunteers, on the day of their earliest record. Which record held the
    count before (`moved_from`, and the as-of buckets it moved out of) depends on the order
    records of different partitions are applied in, which live consumption and a rebuild
    need not share: one partition per topic then, so both apply them in the same order."""
    log, wire = district_log(seed=31, events=700)
    half = len(wire) // 2
    if in_parts:
        settings = settings.model_copy(update={"topic_partitions": 1})
        first, rest = wire[:half], wire[half:]
        first[half // 2 : half // 2] = log.activity(True, log.served[:6])
        first += log.activity(True, log.served[:12])
        rest += log.activity(True, log.served[3:9])  # after the replay: the live path
        wire, half = first + rest, len(first)
    await publish(settings, wire[:half])
    rebuilt_settings = reporting(settings, **(IN_PARTS if in_parts else {}))
    reference_settings = reporting(
        settings, service_name="reporting-reference", mongo_db=reference.name
    )
    rebuilt, live = live_reporting(rebuilt_settings)
    only_live = ServiceRuntime(reference_settings, consumes=CONSUMES)
    only_live.consume_with(*insights_of(reference, AREAS, reference_settings).handlers)

    switched = asyncio.Event()

    async def trickle() -> None:
        """A small live load while the rebuild runs; the last events after its switch."""
        for start in range(half, len(wire) - 100, 10):
            await publish_district(
                settings.kafka_bootstrap, settings.topic_prefix, iter(wire[start : start + 10])
            )
            if not switched.is_set():
                await asyncio.sleep(0.2)
        await switched.wait()
        await publish_district(
            settings.kafka_bootstrap, settings.topic_prefix, iter(wire[len(wire) - 100 :])
        )

    async with rebuilt.running(), only_live.running():
        await eventually(lambda: at_least(rebuilt, half), timeout=120)
        load = asyncio.create_task(trickle())
        options: RebuildOptions = {"show_progress": False, "grace_seconds": GRACE}
        if in_parts:
            options["batch_size"] = IN_PARTS_BATCH
        result = await rebuild_read_models(rebuilt_settings, **options)
        switched.set()
        await load
        await eventually(lambda: at_least(rebuilt, len(wire)), timeout=120)
        await eventually(lambda: at_least(only_live, len(wire)), timeout=120)

    assert (result.version, result.switched) == (1, True)
    assert result.parts > 5 if in_parts else result.parts == 1
    assert live.version == 1  # the consumer follows the switch
    assert half <= result.events + result.caught_up <= len(wire)
    rebuilt_db = await live_version(read_model_versions(db.client, rebuilt_settings))
    assert rebuilt_db.name == f"{db.name}_v1"
    await insights_of(rebuilt_db, AREAS, rebuilt_settings).history_writer.drain()
    await insights_of(reference, AREAS, reference_settings).history_writer.drain()
    assert await check_totals(rebuilt_db, log.truth) == []
    expected = await contents(reference)
    assert sum(map(len, expected.values())) > 1000  # every kind of read model, well filled
    assert await contents(rebuilt_db) == expected


async def test_a_rebuild_killed_before_its_switch_leaves_the_live_models_whole_and_a_second_run_completes(
    settings: ServiceSettings, db: Database
) -> None:
    log, wire = district_log(seed=37, events=300)
    await publish(settings, wire)
    reporting_settings = reporting(settings)
    runtime, _ = live_reporting(reporting_settings)
    async with runtime.running():
        await eventually(lambda: at_least(runtime, len(wire)), timeout=120)
    await insights_of(db, AREAS, reporting_settings).history_writer.drain()
    live_before = await contents(db)
    versions = read_model_versions(db.client, reporting_settings)

    await kill_before_switch(reporting_settings, "muster_reporting")

    assert (await versions.live()).version == 0  # never switched
    assert await versions.built() == [1]  # built whole, never served
    assert await contents(db) == live_before

    result = await rebuild_read_models(reporting_settings, show_progress=False, grace_seconds=GRACE)

    assert (result.version, result.switched) == (2, True)
    assert await versions.built() == [2]  # the killed run's version dropped
    rebuilt = await live_version(versions)
    assert await contents(rebuilt) == live_before
    assert await check_totals(rebuilt, log.truth) == []


async def test_a_rebuild_stopped_after_its_switch_is_finished_by_the_next(
    settings: ServiceSettings, db: Database
) -> None:
    """The pointer says from where the switched version may lack events: the next run
    applies them first, so its dry run then finds nothing to change."""
    log, wire = district_log(seed=41, events=200)
    cut = len(wire) // 2
    reporting_settings = reporting(settings)
    await publish(settings, wire[:cut])
    first = await rebuild_read_models(reporting_settings, show_progress=False, grace_seconds=GRACE)
    assert first.version == 1
    stopped_at = await _heads(settings)
    await publish(settings, wire[cut:])  # nothing consumes them: the service is stopped
    versions = read_model_versions(db.client, reporting_settings)
    # As a run killed right after switching to version 1 at `stopped_at` leaves it:
    assert await versions.switch(1, 1, stopped_at, timedelta(minutes=2))
    assert await check_totals(await live_version(versions), log.truth) != []

    dry = await rebuild_read_models(reporting_settings, show_progress=False, dry_run=True)

    assert (await versions.live()).catch_up_from is None
    assert (dry.switched, dry.changes) == (False, [])
    assert await versions.built() == [1]  # the dry run's version dropped
    assert await check_totals(await live_version(versions), log.truth) == []


async def _heads(settings: ServiceSettings) -> dict[str, int]:
    """Where each partition of the consumed topics ends now, by source name."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        heads = await consumer.end_offsets(
            [
                TopicPartition(event_topic(settings.topic_prefix, context), partition)
                for context in CONSUMES
                for partition in range(settings.topic_partitions)
            ]
        )
    finally:
        await consumer.stop()
    return {source_of(tp.topic, tp.partition): offset for tp, offset in heads.items()}


def one_registration(offset: int) -> list[ConsumedEvent]:
    wire = DistrictLog(AREAS, seed=offset).registration(datetime(2026, 11, 2, tzinfo=UTC))
    envelope = EventEnvelope.model_validate_json(wire.value)
    return [ConsumedEvent(envelope, "muster.volunteer.events", 0, offset)]


def following(
    settings: ServiceSettings, db: Database
) -> tuple[ReportingSettings, ReadModelVersions, LiveInsights]:
    """Reporting's read models that follow the pointer, as a consumer's batches do."""
    reporting_settings = reporting(settings)
    versions = read_model_versions(db.client, reporting_settings)
    live = LiveInsights(versions, lambda d: insights_of(d, AREAS, reporting_settings), ignore)
    return reporting_settings, versions, live


async def test_a_batch_waits_while_a_switched_version_is_completed_and_then_goes_into_it(
    settings: ServiceSettings, db: Database
) -> None:
    reporting_settings, versions, live = following(settings, db)
    assert await versions.switch(0, 1, {}, timedelta(minutes=2))
    assert (await live.follow()) is live.current
    assert live.version == 0  # reports read the previous version until it is complete

    batch = asyncio.create_task(live.apply(one_registration(0)))
    await asyncio.sleep(0.5)
    assert not batch.done()  # waits: the rebuild is still applying what came before
    assert await versions.completed(1)
    await asyncio.wait_for(batch, 30)

    assert live.version == 1
    assert (await live.current.volunteers.cell("130203"))["registered"] == 1
    assert await insights_of(db, AREAS, reporting_settings).volunteers.cell("130203") == {}


async def test_a_batch_puts_back_the_previous_version_when_the_switch_is_never_completed(
    settings: ServiceSettings, db: Database
) -> None:
    _, versions, live = following(settings, db)
    assert await versions.switch(0, 1, {}, timedelta(0))  # the rebuild died at once

    await asyncio.wait_for(live.apply(one_registration(0)), 30)

    assert (await versions.live()).version == 0
    assert live.version == 0
    assert (await live.current.volunteers.cell("130203"))["registered"] == 1
    assert not await versions.completed(1)  # too late for the rebuild
