"""Topics as code: one event topic per context and one dead-letter topic per consuming
service (`all_topics`, from `muster_contracts.topology`), created idempotently at start
(each service its own) or all at once by `muster topics` (`muster_cli.operations`), which
also shows and aligns their retention."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from muster_contracts.topology import CONSUMERS, CONTEXTS, event_topic, revocation_topic

__all__ = ["all_topics", "dead_letter_topic", "delete_topics", "ensure_topics", "event_topic"]

log = logging.getLogger(__name__)

# Unlimited retention: any consumer can rebuild its read models from the beginning.
EVENT_TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
# A year: long enough to notice, fix and re-drive a letter; the original stays in its
# event topic forever anyway.
DEAD_LETTER_RETENTION_MS = 365 * 24 * 3600 * 1000
DEAD_LETTER_TOPIC_CONFIG = {
    "retention.ms": str(DEAD_LETTER_RETENTION_MS),
    "retention.bytes": "-1",
    "cleanup.policy": "delete",
}
DEAD_LETTER_SUFFIX = ".dead-letter"


def dead_letter_topic(prefix: str, consumer: str) -> str:
    return f"{prefix}.{consumer}{DEAD_LETTER_SUFFIX}"


def all_topics(prefix: str) -> list[str]:
    """Every topic the system uses: each context's events, each consuming service's dead
    letters, and the revoked tokens (kept forever like events: a starting service reads
    them all)."""
    return [
        *(event_topic(prefix, context) for context in CONTEXTS),
        *(dead_letter_topic(prefix, service) for service in CONSUMERS),
        revocation_topic(prefix),
    ]


def topic_config(topic: str) -> dict[str, str]:
    """The configuration a Muster topic is created with (and `muster topics` aligns to)."""
    return DEAD_LETTER_TOPIC_CONFIG if topic.endswith(DEAD_LETTER_SUFFIX) else EVENT_TOPIC_CONFIG


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
                topic_configs=topic_config(t),
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


async def delete_topics(bootstrap: str, *prefixes: str) -> None:
    """Remove every topic under the prefixes (`<prefix>.*`): a benchmark's or a test
    session's, which would otherwise pile up and slow the broker's every start."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        doomed = [
            topic
            for topic in await admin.list_topics()
            if any(topic.startswith(f"{prefix}.") for prefix in prefixes)
        ]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()
