"""Topics as code: one event topic per context, created idempotently at start."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from muster_contracts.topology import event_topic

__all__ = ["dead_letter_topic", "ensure_topics", "event_topic"]

log = logging.getLogger(__name__)

# Unlimited retention: any consumer can rebuild its read models from the beginning.
EVENT_TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


def dead_letter_topic(prefix: str, consumer: str) -> str:
    return f"{prefix}.{consumer}.dead-letter"


async def ensure_topics(
    bootstrap: str, topics: list[str], partitions: int, replication: int = 1
) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        new = [
            NewTopic(
                t,
                num_partitions=partitions,
                replication_factor=replication,
                topic_configs=EVENT_TOPIC_CONFIG,
            )
            for t in missing
        ]
        try:
            response = await admin.create_topics(new)
        except TopicAlreadyExistsError:
            return  # another replica created it between our list and create
        for topic_error in getattr(response, "topic_errors", ()):
            name, code = topic_error[0], topic_error[1]
            if code not in (0, TopicAlreadyExistsError.errno):
                raise RuntimeError(f"could not create topic {name}: error code {code}")
        log.info("created topics", extra={"topics": missing, "partitions": partitions})
    finally:
        await admin.close()
