"""Dispatch and the volunteer service rebuild their read models from the log while they
keep consuming: the rebuilt version equals what live consumption made of the same log,
field by field, offline and under live load; a dry run counts the documents that would
change; a rebuild killed before its switch leaves the live version untouched and a second
run completes; layouts an older version left are dropped by the rebuild."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from muster_cli.bench.eventlog import WireEvent, publish_district
from muster_contracts.events.drives import TeamFormed, TeamLeaderChanged, TeamMemberMoved
from muster_dispatch import bootstrap as dispatch
from muster_runtime.adapters.mongodb.live_read_models import LiveReadModels, Staged
from muster_runtime.adapters.mongodb.online_rebuild import CollectionChange, OnlineRebuildResult
from muster_runtime.adapters.mongodb.service_rebuild import read_model_versions
from muster_runtime.mongo import Database, scratch_database
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings
from muster_volunteer import bootstrap as volunteer
from tests.integration.helpers import eventually, organiser_event
from tests.integration.rebuilds import (
    AREAS,
    GRACE,
    at_least,
    contents,
    district_log,
    ignore,
    kill_before_switch,
    live_version,
    publish,
)

CONTEXTS = ("volunteer", "dispatch", "notify")


def team_events() -> list[WireEvent]:
    """A drive's teams formed and changed (one stream: one partition, in order)."""
    at = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    changes = [
        TeamFormed(drive_id="d-1", team_id="t-1", formation=1, leader_id="v-1", members=("v-1", "v-2")),
        TeamFormed(drive_id="d-1", team_id="t-2", formation=1, leader_id="v-3", members=("v-3", "v-4")),
        TeamMemberMoved(drive_id="d-1", volunteer_id="v-2", from_team_id="t-1", to_team_id="t-2"),
        TeamLeaderChanged(drive_id="d-1", team_id="t-2", leader_id="v-4", previous_leader_id="v-3"),
    ]  # fmt: skip
    wire = []
    for version, change in enumerate(changes, start=1):
        envelope = organiser_event("drive-d-1", version, change, at).envelope
        headers = [("event-type", envelope.type.encode())]
        wire.append(WireEvent("dispatch", b"drive-d-1", envelope.to_json(), headers))
    return wire


@dataclass(frozen=True)
class Subject:
    """A service whose read models are rebuilt, as these tests drive it."""

    module: str
    settings_class: type[ServiceSettings]
    consumes: tuple[str, ...]
    collections: tuple[str, ...]
    models: Callable[[Database], Staged]
    rebuild: Callable[..., Awaitable[OnlineRebuildResult]]
    legacy: str  # a collection an older layout left in the service's database
    tampered: str  # a read model the dry-run test changes
    extra: Callable[[], list[WireEvent]]

    def settings_of(self, settings: ServiceSettings, **changes: Any) -> ServiceSettings:
        fields = settings.model_dump(exclude={"service_name", "http_port"})
        return self.settings_class(**fields | changes)

    def consumed(self, wire: list[WireEvent]) -> int:
        return sum(1 for w in wire if w.topic_context in self.consumes)

    def log(self, seed: int, events: int) -> list[WireEvent]:
        _, wire = district_log(seed, events)
        return wire + self.extra()


SUBJECTS = {
    "dispatch": Subject(
        "muster_dispatch",
        dispatch.DispatchSettings,
        dispatch.CONSUMES,
        dispatch.READ_MODELS,
        lambda db: dispatch.read_models_of(db, AREAS),
        dispatch.rebuild_read_models,
        legacy="attendance_log",
        tampered="volunteer_pool",
        extra=list,
    ),
    "volunteer": Subject(
        "muster_volunteer",
        volunteer.VolunteerSettings,
        volunteer.CONSUMES,
        volunteer.READ_MODELS,
        lambda db: volunteer.read_models_of(db, AREAS),
        volunteer.rebuild_read_models,
        legacy="projection_fills",
        tampered="my_activities",
        extra=team_events,
    ),
}


@pytest.fixture(params=sorted(SUBJECTS))
def subject(request: pytest.FixtureRequest) -> Subject:
    return SUBJECTS[request.param]


@pytest.fixture
async def reference(settings: ServiceSettings) -> AsyncIterator[Database]:
    """A database for a consumer that is never rebuilt: the live result."""
    async with scratch_database(settings.mongo_url, f"{settings.database_name}_ref") as made:
        yield made


def consumer(subject: Subject, settings: ServiceSettings) -> ServiceRuntime:
    """A consumer of the service's topics as the service (its settings but what its other
    parts need, the volunteer service's key file among them)."""
    common = settings.model_dump(include=set(ServiceSettings.model_fields))
    return ServiceRuntime(ServiceSettings(**common), consumes=subject.consumes)


def following(
    subject: Subject, settings: ServiceSettings
) -> tuple[ServiceRuntime, LiveReadModels[Staged]]:
    """The service's consumer of its read models, following the version pointer."""
    runtime = consumer(subject, settings)
    live = LiveReadModels(read_model_versions(runtime.client, settings), subject.models, ignore)
    runtime.consume_with(live.apply)
    return runtime, live


async def consumed_live(
    subject: Subject, settings: ServiceSettings, db: Database, seed: int, events: int
) -> tuple[ServiceSettings, int, dict[str, dict[Any, Any]]]:
    """A district's log published and consumed by the service: its settings, how many
    events it consumed, and its read models."""
    wire = subject.log(seed, events)
    await publish(settings, wire, CONTEXTS)
    service_settings = subject.settings_of(settings)
    runtime, _ = following(subject, service_settings)
    async with runtime.running():
        await eventually(lambda: at_least(runtime, subject.consumed(wire)), timeout=120)
    return service_settings, subject.consumed(wire), await contents(db, subject.collections)


async def test_an_online_rebuild_under_live_load_equals_live_consumption_field_by_field(
    subject: Subject, settings: ServiceSettings, db: Database, reference: Database
) -> None:
    """Two consumers read the same topics: one only consumes, the other is rebuilt online
    while events keep arriving; in the end every read model of the two is the same,
    document by document and field by field."""
    wire = subject.log(61, 500)
    half = len(wire) // 2
    await publish(settings, wire[:half], CONTEXTS)
    await db[subject.legacy].insert_one({"_id": "left-by-an-older-version"})
    service_settings = subject.settings_of(settings)
    reference_settings = subject.settings_of(
        settings, service_name=f"{subject.module}-reference", mongo_db=reference.name
    )
    rebuilt, live = following(subject, service_settings)
    only_live = consumer(subject, reference_settings)
    only_live.consume_with(*subject.models(reference).handlers)
    switched, published = asyncio.Event(), asyncio.Event()

    async def trickle() -> None:
        """A small live load while the rebuild runs; the last events after its switch."""
        for start in range(half, len(wire) - 50, 10):
            chunk = wire[start : start + 10]
            await publish_district(settings.kafka_bootstrap, settings.topic_prefix, iter(chunk))
            if subject.consumed(chunk):
                published.set()
            if not switched.is_set():
                await asyncio.sleep(0.2)
        await switched.wait()
        await publish_district(
            settings.kafka_bootstrap, settings.topic_prefix, iter(wire[len(wire) - 50 :])
        )

    async with rebuilt.running(), only_live.running():
        await eventually(lambda: at_least(rebuilt, subject.consumed(wire[:half])), timeout=120)
        load = asyncio.create_task(trickle())

        async def more_arrived() -> None:
            """Events the service consumes arrive after the replay, on any machine: the
            switch waits for some."""
            published.clear()
            await published.wait()

        result = await subject.rebuild(
            service_settings, show_progress=False, grace_seconds=GRACE, before_switch=more_arrived
        )
        switched.set()
        await load
        await eventually(lambda: at_least(rebuilt, subject.consumed(wire)), timeout=120)
        await eventually(lambda: at_least(only_live, subject.consumed(wire)), timeout=120)

    assert (result.version, result.switched) == (1, True)
    assert live.version == 1  # the consumer follows the switch
    assert result.caught_up > 0  # applied through the live path, while events flowed
    assert result.events + result.caught_up >= subject.consumed(wire[:half])
    rebuilt_db = await live_version(read_model_versions(db.client, service_settings))
    assert rebuilt_db.name == f"{db.name}_v1"
    expected = await contents(reference, subject.collections)
    assert sum(map(len, expected.values())) > 100
    assert await contents(rebuilt_db, subject.collections) == expected
    left = set(await db.list_collection_names())
    assert not left & set(subject.collections)  # the old version and the old layout dropped


async def test_an_offline_rebuild_equals_live_and_a_dry_run_counts_what_differs(
    subject: Subject, settings: ServiceSettings, db: Database
) -> None:
    service_settings, consumed, live = await consumed_live(subject, settings, db, 67, 300)
    tampered = db[subject.tampered]
    first, second = [d["_id"] async for d in tampered.find().sort("_id").limit(2)]

    same = await subject.rebuild(service_settings, show_progress=False, dry_run=True)
    await tampered.delete_one({"_id": first})
    await tampered.update_one({"_id": second}, {"$set": {"tampered": True}})
    await tampered.insert_one({"_id": "not-in-the-log"})
    differs = await subject.rebuild(service_settings, show_progress=False, dry_run=True)
    rebuilt = await subject.rebuild(service_settings, show_progress=False, grace_seconds=GRACE)

    assert (same.switched, same.changes) == (False, [])
    assert differs.changes == [CollectionChange(subject.tampered, 1, 1, 1)]
    assert (rebuilt.version, rebuilt.switched) == (1, True)
    assert rebuilt.events == consumed
    versions = read_model_versions(db.client, service_settings)
    assert await versions.built() == [1]  # the dry runs' versions dropped
    assert await contents(await live_version(versions), subject.collections) == live


async def test_a_rebuild_killed_before_its_switch_leaves_the_live_models_whole_and_a_second_run_completes(
    subject: Subject, settings: ServiceSettings, db: Database
) -> None:
    service_settings, _, live_before = await consumed_live(subject, settings, db, 71, 200)
    versions = read_model_versions(db.client, service_settings)

    await kill_before_switch(service_settings, subject.module)

    assert (await versions.live()).version == 0  # never switched
    assert await versions.built() == [1]  # built whole, never served
    assert await contents(db, subject.collections) == live_before

    result = await subject.rebuild(service_settings, show_progress=False, grace_seconds=GRACE)

    assert (result.version, result.switched) == (2, True)
    assert await versions.built() == [2]  # the killed run's version dropped
    assert await contents(await live_version(versions), subject.collections) == live_before
