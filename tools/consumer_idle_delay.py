"""How long an idle consumer holds a new event: single records at random 50–300 ms
intervals to a faststream batch subscriber with the services' consumer settings, timed
from send to handler, for each consumer wait (`MUSTER_CONSUMER_WAIT_MS`) given.

    .venv/bin/python -m tools.consumer_idle_delay --waits 100,10 --records 150 --rounds 2

Uses the Kafka of `MUSTER_KAFKA_BOOTSTRAP` (default 127.0.0.1:9092), on topics of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from muster_runtime.settings import ServiceSettings
from muster_runtime.topics import delete_topics, ensure_topics


async def _no_body(_: Any) -> None:
    return None


async def send_to_handler(bootstrap: str, wait_ms: int, records: int) -> list[float]:
    """Seconds from send to handler for `records` records sent one at a time."""
    prefix = f"idle-delay-{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.events"
    await ensure_topics(bootstrap, [topic], 6, 1)
    broker = KafkaBroker(bootstrap, logger=None)
    lags: list[float] = []
    handled = asyncio.Event()

    @broker.subscriber(
        topic, group_id=topic, batch=True, max_records=2000, batch_timeout_ms=wait_ms,
        auto_offset_reset="earliest", decoder=_no_body,
    )  # fmt: skip
    async def handle(message: KafkaMessage) -> None:
        now = time.time()
        raw = message.raw_message
        for record in raw if isinstance(raw, tuple) else (raw,):
            lags.append(now - float(record.value))
        handled.set()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    await broker.start()
    await producer.start()
    try:
        await producer.send_and_wait(topic, str(time.time()).encode(), key=b"warm-up")
        await asyncio.wait_for(handled.wait(), 60)  # the group has its partitions
        lags.clear()
        for n in range(records):
            handled.clear()
            await asyncio.sleep(random.uniform(0.05, 0.3))
            await producer.send_and_wait(topic, str(time.time()).encode(), key=str(n).encode())
            await asyncio.wait_for(handled.wait(), 30)
    finally:
        await producer.stop()
        await broker.stop()
        await delete_topics(bootstrap, prefix)
    return lags


async def main(waits: list[int], records: int, rounds: int) -> None:
    bootstrap = ServiceSettings().kafka_bootstrap
    for round_ in range(rounds):
        for wait_ms in waits:
            lags = sorted(await send_to_handler(bootstrap, wait_ms, records))
            q = statistics.quantiles(lags, n=100)
            print(
                f"round {round_}, consumer wait {wait_ms} ms: {len(lags)} records, "
                f"p50 {q[49] * 1000:.1f} ms, p95 {q[94] * 1000:.1f} ms, "
                f"p99 {q[98] * 1000:.1f} ms, max {lags[-1] * 1000:.1f} ms",
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waits", default="100,10", help="consumer waits in ms, alternated")
    parser.add_argument("--records", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main([int(w) for w in args.waits.split(",")], args.records, args.rounds))
