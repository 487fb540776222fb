"""What the operator's commands do to Kafka: show and align the topics' retention
(`muster topics [--align]`) and re-drive dead letters (`muster dead-letters redrive`).

No service process does any of this; services create their own topics at start
(`muster_runtime.topics.ensure_topics`).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from muster_runtime.dead_letters import read_dead_letters
from muster_runtime.topics import EVENT_TOPIC_CONFIG, topic_config

TOPIC_OVERRIDE = 1  # config source DYNAMIC_TOPIC_CONFIG in DescribeConfigs


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    config: dict[str, str]
    # Set on the topic itself (not broker defaults): kept when the retention is aligned.
    overrides: dict[str, str]

    @property
    def drift(self) -> dict[str, str]:
        """The settings that differ from what the topic should have (wanted values)."""
        return {k: v for k, v in topic_config(self.name).items() if self.config.get(k) != v}


async def describe(bootstrap: str, topics: list[str]) -> list[TopicState]:
    """Partitions and retention settings of the existing `topics`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = [t for t in topics if t in set(await admin.list_topics())]
        if not existing:
            return []
        partitions = {
            t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(existing)
        }
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t) for t in existing]
        )
        configs: dict[str, dict[str, str]] = {}
        overrides: dict[str, dict[str, str]] = {}
        for response in responses:
            for resource in response.resources:
                # (error code, message, type, name, [(name, value, read-only, source, ...)])
                entries = resource[4]
                configs[resource[3]] = {e[0]: e[1] for e in entries if e[0] in EVENT_TOPIC_CONFIG}
                overrides[resource[3]] = {e[0]: e[1] for e in entries if e[3] == TOPIC_OVERRIDE}
        return [
            TopicState(t, partitions[t], configs.get(t, {}), overrides.get(t, {})) for t in existing
        ]
    finally:
        await admin.close()


async def align(bootstrap: str, states: list[TopicState]) -> list[str]:
    """Set the drifted retention settings back to what they should be; the names changed."""
    drifted = [s for s in states if s.drift]
    if not drifted:
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        await admin.alter_configs(
            [
                # AlterConfigs replaces a topic's overrides: send the ones it has, amended.
                ConfigResource(ConfigResourceType.TOPIC, s.name, {**s.overrides, **s.drift})
                for s in drifted
            ]
        )
    finally:
        await admin.close()
    return [s.name for s in drifted]


async def redrive_dead_letters(bootstrap: str, prefix: str, service: str) -> int:
    """Publish every dead letter not re-driven before back to its source topic."""
    group = f"{prefix}.{service}.dead-letter-redrive"
    letters, consumer = await read_dead_letters(bootstrap, prefix, service, group_id=group)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for letter in letters:
            await producer.send_and_wait(letter.source_topic, letter.value, key=letter.key)
        await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
    return len(letters)
