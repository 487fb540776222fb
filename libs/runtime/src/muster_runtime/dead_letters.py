"""Dead letters: what a service set aside (`muster dead-letters redrive`, in
`muster_cli.operations`, re-drives them after a fix).

Each dead letter keeps the original bytes and key, with headers saying why and where it
came from. A re-drive publishes the original back to its source topic; a consumer group of
its own remembers what was re-driven, so nothing is sent back twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer

from muster_runtime.topics import dead_letter_topic


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    key: bytes | None
    value: bytes
    reason: str
    source_topic: str
    source_partition: int
    source_offset: int


def _header(headers: dict[str, bytes], name: str) -> str:
    return headers.get(name, b"").decode(errors="replace")


async def read_dead_letters(
    bootstrap: str, prefix: str, service: str, *, group_id: str | None = None, idle_polls: int = 3
) -> tuple[list[DeadLetter], AIOKafkaConsumer]:
    """Every dead letter (or, with `group_id`, those that group has not handled yet).

    Returns the consumer still open so the caller can commit after handling them.
    """
    consumer = AIOKafkaConsumer(
        dead_letter_topic(prefix, service),
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    letters: list[DeadLetter] = []
    idle = 0
    while idle < idle_polls:
        batch = await consumer.getmany(timeout_ms=300)
        idle = 0 if batch else idle + 1
        for records in batch.values():
            for record in records:
                headers = dict(record.headers)
                letters.append(
                    DeadLetter(
                        offset=record.offset,
                        key=record.key,
                        value=record.value or b"",
                        reason=_header(headers, "dlt-reason"),
                        source_topic=_header(headers, "dlt-source-topic"),
                        source_partition=int(_header(headers, "dlt-source-partition") or -1),
                        source_offset=int(_header(headers, "dlt-source-offset") or -1),
                    )
                )
    return letters, consumer


async def list_dead_letters(bootstrap: str, prefix: str, service: str) -> list[DeadLetter]:
    letters, consumer = await read_dead_letters(bootstrap, prefix, service)
    await consumer.stop()
    return letters
