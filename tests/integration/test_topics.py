"""Topics as code on the real broker: created once with the designed retention, found
again on every start, and drifted retention put back without losing other overrides."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from muster_cli.operations import TopicState, align, describe
from muster_runtime.settings import ServiceSettings
from muster_runtime.topics import (
    DEAD_LETTER_RETENTION_MS,
    all_topics,
    dead_letter_topic,
    ensure_topics,
    event_topic,
)


async def described_once(
    bootstrap: str, names: list[str], settled: Callable[[dict[str, TopicState]], bool]
) -> dict[str, TopicState]:
    """The topics as described once `settled` holds (or as last described, after 10 s)."""
    for _ in range(100):
        states = {s.name: s for s in await describe(bootstrap, names)}
        if settled(states):
            break
        await asyncio.sleep(0.1)
    return states


async def test_topics_are_created_once_with_their_retention_and_aligned_after_drift(
    settings: ServiceSettings,
) -> None:
    bootstrap, prefix = settings.kafka_bootstrap, settings.topic_prefix
    names = all_topics(prefix)
    assert event_topic(prefix, "volunteer") in names
    assert dead_letter_topic(prefix, "reporting") in names
    assert f"{prefix}.access.revocations" in names

    await ensure_topics(bootstrap, names, partitions=3)
    await ensure_topics(bootstrap, names, partitions=5)  # a second start changes nothing

    states = {s.name: s for s in await describe(bootstrap, names)}
    assert set(states) == set(names)
    assert {s.partitions for s in states.values()} == {3}
    events = states[event_topic(prefix, "dispatch")]
    assert events.config["retention.ms"] == events.config["retention.bytes"] == "-1"
    letters = states[dead_letter_topic(prefix, "dispatch")]
    assert letters.config["retention.ms"] == str(DEAD_LETTER_RETENTION_MS)
    assert not any(s.drift for s in states.values())

    # Someone shortens the retention of an event topic by hand, beside another override.
    drifted = event_topic(prefix, "volunteer")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    drifted,
                    {"retention.ms": "86400000", "segment.ms": "3600000"},
                )
            ]
        )
    finally:
        await admin.close()
    # The broker that answers a describe applies the controller's config record a moment
    # after AlterConfigs returns: wait until it shows the change.
    after = await described_once(bootstrap, names, lambda s: s[drifted].drift != {})
    # (AlterConfigs replaced the topic's overrides: the others fell back to broker defaults.)
    assert after[drifted].drift == {"retention.ms": "-1"}

    assert await align(bootstrap, list(after.values())) == [drifted]

    aligned = await described_once(bootstrap, names, lambda s: s[drifted].drift == {})
    assert aligned[drifted].drift == {}
    assert aligned[drifted].config["retention.ms"] == "-1"
    assert aligned[drifted].overrides["segment.ms"] == "3600000"
