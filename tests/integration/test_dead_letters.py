"""Poison messages go to the dead-letter topic, the partition keeps flowing, and a fixed
message can be re-driven once."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from muster_runtime.dead_letters import list_dead_letters, redrive_dead_letters
from muster_runtime.mongo import Database
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings
from muster_runtime.topics import dead_letter_topic
from tests.integration.helpers import ThingCounter, counting_consumer, eventually
from tests.integration.test_event_store import CONTEXT, ThingHappened


async def test_poison_is_set_aside_and_a_fixed_letter_is_redriven_once(
    settings: ServiceSettings, db: Database
) -> None:
    producer = ServiceRuntime(settings, produces="thing")
    consumer = counting_consumer(settings)
    counter = ThingCounter(db)
    consumer.consume_with(counter.count)
    kafka = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    bootstrap, prefix = settings.kafka_bootstrap, settings.topic_prefix
    async with producer.running(), consumer.running():
        await kafka.start()
        assert producer.store is not None
        assert producer.topic is not None
        poison = b"\x00 not an event"
        await kafka.send_and_wait(producer.topic, poison, key=b"thing-1", partition=0)
        await producer.store.append("thing-1", "thing", 0, [ThingHappened(n=1)], CONTEXT)
        await eventually(lambda: counter.reached(1))

        letters = await list_dead_letters(bootstrap, prefix, "counter")
        assert len(letters) == 1
        assert letters[0].value == poison
        assert letters[0].source_topic == producer.topic
        assert (letters[0].source_partition, letters[0].source_offset) == (0, 0)
        assert "not an event envelope" in letters[0].reason

        # A message set aside by a bug since fixed: its bytes are a good event.
        stream = await producer.store.read_stream("thing-1")
        fixed = stream.events[0].model_copy(update={"stream_id": "thing-2"}).to_json()
        headers = [
            ("dlt-reason", b"a bug, since fixed"),
            ("dlt-source-topic", producer.topic.encode()),
            ("dlt-source-partition", b"1"),
            ("dlt-source-offset", b"7"),
        ]
        dead = dead_letter_topic(prefix, "counter")
        await kafka.send_and_wait(dead, fixed, key=b"thing-2", headers=headers)
        redriven = await redrive_dead_letters(bootstrap, prefix, "counter")
        await eventually(lambda: counter.reached(2))
        # Again: the fixed letter was handled and is not sent twice (the poison, set aside
        # once more by the consumer, may go round again).
        await redrive_dead_letters(bootstrap, prefix, "counter")
        await asyncio.sleep(1)
        await kafka.stop()

    assert redriven == 2
    assert await counter.total() == 2
