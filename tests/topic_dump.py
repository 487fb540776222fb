"""Every record of a test system's topics, read from the beginning: what a dump of the
broker holds."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from tests.conftest import kafka_bootstrap


async def topic_records(prefix: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of every topic under `prefix`, until the topics stay quiet for 1.5 s."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap())
    await admin.start()
    topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
    await admin.close()
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=kafka_bootstrap(), auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        idle = 0
        while idle < 5:
            batch = await consumer.getmany(timeout_ms=300)
            idle = 0 if batch else idle + 1
            for partition in batch.values():
                records += partition
    finally:
        await consumer.stop()
    return records
