"""The outbox relay against the real broker: ordering, keys, and Kafka outages.

The outage stops a Kafka this module starts itself (stack.sh, a temporary state directory,
free ports), never the broker the tests were given.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings
from tests.integration.helpers import eventually, read_topic
from tests.integration.test_event_store import CONTEXT, ThingHappened
from tests.local_kafka import LocalKafka


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A single-node Kafka of this module's own, to stop and start."""
    kafka = LocalKafka(Path(tmp_path_factory.mktemp("own-kafka")))
    kafka.up()
    try:
        yield kafka
    finally:
        kafka.close()


async def _append_round_robin(
    runtime: ServiceRuntime, streams: int, per_stream: int, start: int = 0
) -> None:
    assert runtime.store is not None
    for n in range(start, start + per_stream):
        for s in range(streams):
            await runtime.store.append(f"thing-{s}", "thing", n, [ThingHappened(n=n)], CONTEXT)


def _by_stream(records: list) -> dict[str, list[int]]:  # type: ignore[type-arg]
    seen: dict[str, list[int]] = defaultdict(list)
    for record in records:
        envelope = orjson.loads(record.value)
        assert record.key.decode() == envelope["stream_id"]
        seen[envelope["stream_id"]].append(envelope["stream_version"])
    return seen


async def test_every_event_reaches_kafka_keyed_by_stream_in_stream_order(
    settings: ServiceSettings,
) -> None:
    runtime = ServiceRuntime(settings, produces="thing")
    async with runtime.running():
        await _append_round_robin(runtime, streams=5, per_stream=10)
        assert runtime.store is not None
        await eventually(lambda: _drained(runtime))
    assert runtime.topic is not None

    records = await read_topic(settings.kafka_bootstrap, runtime.topic, expected=50)

    by_stream = _by_stream(records)
    assert len(records) == 50
    assert by_stream == {f"thing-{s}": list(range(1, 11)) for s in range(5)}


async def test_commands_succeed_while_kafka_is_down_and_the_relay_catches_up(
    settings: ServiceSettings, own_kafka: LocalKafka
) -> None:
    settings = settings.model_copy(update={"kafka_bootstrap": own_kafka.bootstrap})
    runtime = ServiceRuntime(settings, produces="thing")
    async with runtime.running():
        await _append_round_robin(runtime, streams=2, per_stream=1)
        await eventually(lambda: _drained(runtime))

        own_kafka.down()
        try:
            await _append_round_robin(runtime, streams=2, per_stream=3, start=1)
            await asyncio.sleep(1)
            assert runtime.store is not None
            assert await runtime.store.count_unpublished() == 6
        finally:
            own_kafka.up()

        await eventually(lambda: _drained(runtime), timeout=90)
    assert runtime.topic is not None

    records = await read_topic(settings.kafka_bootstrap, runtime.topic, expected=8)

    by_stream = _by_stream(records)
    # At least once: a resend after a failed acknowledgement may repeat, never reorder.
    for versions in by_stream.values():
        assert sorted(set(versions)) == [1, 2, 3, 4]
        assert versions == sorted(versions)


async def _drained(runtime: ServiceRuntime) -> bool:
    assert runtime.store is not None
    return await runtime.store.count_unpublished() == 0


async def test_two_replicas_relay_each_event_once(settings: ServiceSettings) -> None:
    first = ServiceRuntime(settings, produces="thing")
    second = ServiceRuntime(settings, produces="thing")
    async with first.running(), second.running():
        await _append_round_robin(first, streams=4, per_stream=5)
        await _append_round_robin(second, streams=4, per_stream=5, start=5)
        await eventually(lambda: _drained(first))
        await asyncio.sleep(1)  # give a second relay every chance to send twice
        assert first.relay is not None
        assert second.relay is not None
        stages = {first.relay.stage, second.relay.stage}
    assert first.topic is not None

    records = await read_topic(settings.kafka_bootstrap, first.topic, expected=41, timeout=5)

    assert len(records) == 40
    assert _by_stream(records) == {f"thing-{s}": list(range(1, 11)) for s in range(4)}
    assert any(stage.startswith("standby") for stage in stages)
