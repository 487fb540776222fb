"""What the services' rebuild tests share: a district's log published, the read models
as what they hold, and a rebuild run as a process and killed just before its switch."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from muster_cli.bench.eventlog import DistrictLog, WireEvent, publish_district
from muster_contracts.areas import load_area_tree
from muster_contracts.topology import event_topic
from muster_runtime.adapters.mongodb.online_rebuild import comparable
from muster_runtime.adapters.mongodb.read_model_versions import ReadModelVersions
from muster_runtime.adapters.mongodb.service_rebuild import HOLD_BEFORE_SWITCH
from muster_runtime.mongo import Database
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings
from muster_runtime.topics import ensure_topics

AREAS = load_area_tree()
# Readers look at the pointer every second; none runs in these tests but the consumers,
# which read it before every batch.
GRACE = 0.5


def district_log(seed: int, events: int) -> tuple[DistrictLog, list[WireEvent]]:
    log = DistrictLog(AREAS, seed=seed)
    wire = [log.registration(datetime(2026, 11, 2, tzinfo=UTC)) for _ in range(10)]
    wire += list(log.events(events))
    return log, wire


async def publish(
    settings: ServiceSettings, wire: Sequence[WireEvent], contexts: Sequence[str]
) -> None:
    """Publish `wire` onto the topics of `contexts` (made first, with the test's partitions)."""
    topics = [event_topic(settings.topic_prefix, c) for c in contexts]
    await ensure_topics(settings.kafka_bootstrap, topics, settings.topic_partitions)
    await publish_district(settings.kafka_bootstrap, settings.topic_prefix, iter(wire))


async def contents(db: Database, collections: Sequence[str]) -> dict[str, dict[Any, Any]]:
    """Every read model's documents by `_id`, as what they hold (write counters aside)."""
    return {name: {d["_id"]: comparable(d) async for d in db[name].find()} for name in collections}


async def live_version(versions: ReadModelVersions) -> Database:
    return versions.database((await versions.live()).version)


async def at_least(runtime: ServiceRuntime, events: int) -> bool:
    return runtime.consumed_total >= events


async def kill_before_switch(settings: ServiceSettings, module: str) -> None:
    """Run `python -m <module> rebuild` until it holds just before its switch, then SIGKILL
    it: no clean-up of any kind."""
    env = os.environ | {
        "MUSTER_TOPIC_PREFIX": settings.topic_prefix,
        "MUSTER_MONGO_DB": settings.database_name,
        "MUSTER_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "MUSTER_MONGO_URL": settings.mongo_url,
        "MUSTER_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "MUSTER_LOG_LEVEL": "WARNING",
        HOLD_BEFORE_SWITCH: "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, "rebuild", "--no-progress",
        env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 120)
        assert line.decode().strip() == "holding before the switch"
    finally:
        process.kill()
        await process.wait()


def ignore(_: object) -> None:
    """Nothing is served in these tests."""
