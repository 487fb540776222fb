"""Poison messages go to the dead-letter topic, the partition keeps flowing, and a fixed
message can be re-driven once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from muster_cli.operations import redrive_dead_letters
from muster_runtime.dead_letters import list_dead_letters
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent
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


async def test_an_event_that_cannot_be_applied_is_set_aside_and_its_partition_keeps_flowing(
    settings: ServiceSettings, db: Database
) -> None:
    reporting = settings.model_copy(update={"service_name": "reporting"})
    producer = ServiceRuntime(settings, produces="thing")
    consumer = ServiceRuntime(reporting, consumes=("thing",))
    counter = ThingCounter(db)
    bug = {"fixed": False}

    async def count_unless_thirteen(events: list[ConsumedEvent]) -> None:
        if not bug["fixed"] and any(e.envelope.payload["n"] == 13 for e in events):
            raise ValueError("thirteen is not a number this projection knows")
        await counter.count(events)

    consumer.consume_with(count_unless_thirteen)
    async with producer.running(), consumer.running():
        assert producer.store is not None
        # One stream, so one partition: the events after the bad one wait behind it.
        for n in range(10, 20):
            await producer.store.append("thing-1", "thing", n - 10, [ThingHappened(n=n)], CONTEXT)
        await eventually(lambda: counter.reached(9), timeout=60)

        letters = await list_dead_letters(
            settings.kafka_bootstrap, settings.topic_prefix, "reporting"
        )
        assert len(letters) == 1
        assert "could not be applied" in letters[0].reason
        assert "thirteen" in letters[0].reason
        stored = await producer.store.read_stream("thing-1")
        bad = next(e for e in stored.events if e.payload["n"] == 13)
        assert orjson.loads(letters[0].value)["event_id"] == str(bad.event_id)
        assert letters[0].key == b"thing-1"

        # The operator's CLI lists it and, once the consumer is fixed, re-drives it.
        env = os.environ | {
            "MUSTER_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "MUSTER_TOPIC_PREFIX": settings.topic_prefix,
            "COLUMNS": "200",
        }
        listed = _cli(env, "list")
        assert "dead letters of reporting (1)" in listed
        assert "could not be applied" in listed
        bug["fixed"] = True
        assert "re-drove 1 dead letter(s)" in _cli(env, "redrive")
        await eventually(lambda: counter.reached(10), timeout=60)
        assert "re-drove 0 dead letter(s)" in _cli(env, "redrive")
        await asyncio.sleep(1)

    assert await counter.total() == 10


def _cli(env: dict[str, str], action: str) -> str:
    muster = Path(sys.executable).with_name("muster")
    done = subprocess.run(
        [str(muster), "dead-letters", action, "--service", "reporting"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout
