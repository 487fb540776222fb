"""How fast reporting rebuilds its read models, beside what the broker and the store do raw
with the same data: a raw aiokafka loop reading the same topics, and a raw `insert_many`
of the same documents the rebuild writes; with the rebuild's peak memory. A generated
district log on fresh topics and databases, removed after.

    python -m tools.rebuild_bench [EVENTS]   # 10,000 by default (`make bench-rebuild`)
    make bench-rebuild EVENTS=1000000        # the issue's scale

The rebuild runs as an operator runs it (`python -m muster_reporting rebuild`, a process of
its own, so its peak resident memory is its own).
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition

from muster_contracts.areas import load_area_tree
from muster_contracts.topology import event_topic
from muster_reporting.bootstrap import CONSUMES, READ_MODELS
from muster_runtime.bench.eventlog import DistrictLog, publish_district
from muster_runtime.mongo import connect
from muster_runtime.read_model_versions import ReadModelVersions, version_name
from muster_runtime.topics import delete_topics, ensure_topics

PARTITIONS = 6
INSERT_CHUNK = 1000


async def raw_read(bootstrap: str, topics: list[str]) -> tuple[int, float]:
    """Records and seconds of one aiokafka loop reading the topics from start to end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        consumer.assign(partitions)
        started = time.perf_counter()
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        read, total = 0, sum(end.values())
        while read < total:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            read += sum(len(records) for records in batch.values())
        return read, time.perf_counter() - started
    finally:
        await consumer.stop()


async def rebuild(env: dict[str, str]) -> tuple[int, float, float, float, float]:
    """Events, seconds, writing and folding seconds and peak resident MB of a rebuild."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "muster_reporting", "rebuild", "--no-progress",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"rebuild failed: {err.decode()[-2000:]}")
    text = out.decode()
    found = re.search(r"replayed (\d+) events in ([\d.]+) s.*?took ([\d.]+) s", text, re.S)
    folded = re.search(r"folding\s+the log ([\d.]+) s", text)
    if found is None or folded is None:
        raise RuntimeError(f"unexpected rebuild output: {text[-500:]}")
    # The largest resident set of any waited-for child: the rebuild is the only one.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    events, seconds, writing = int(found.group(1)), float(found.group(2)), float(found.group(3))
    return events, seconds, writing, float(folded.group(1)), peak_mb


async def run(events: int) -> None:
    bootstrap = os.environ.get("MUSTER_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    mongo_url = os.environ.get("MUSTER_MONGO_URL", "mongodb://127.0.0.1:27017/")
    run_id = f"rebuild-bench-{uuid.uuid4().hex[:8]}"
    database = run_id.replace("-", "_")
    topics = [event_topic(run_id, c) for c in CONSUMES]
    client = connect(mongo_url)
    versions = ReadModelVersions(client, database, "reporting")
    try:
        await ensure_topics(bootstrap, topics, PARTITIONS)
        log = DistrictLog(load_area_tree(), seed=21)
        published = await publish_district(bootstrap, run_id, log.events(events))
        read, read_seconds = await raw_read(bootstrap, topics)
        env = os.environ | {
            "MUSTER_TOPIC_PREFIX": run_id,
            "MUSTER_MONGO_DB": database,
            "MUSTER_KAFKA_BOOTSTRAP": bootstrap,
            "MUSTER_MONGO_URL": mongo_url,
            "MUSTER_TOPIC_PARTITIONS": str(PARTITIONS),
            "MUSTER_LOG_LEVEL": "WARNING",
        }
        replayed, seconds, write_seconds, fold_seconds, peak_mb = await rebuild(env)
        rebuilt = versions.database((await versions.live()).version)
        scratch = client[f"{database}_insert"]
        documents = 0
        insert_seconds = 0.0
        for name in READ_MODELS:
            found = [d async for d in rebuilt[name].find()]
            documents += len(found)
            started = time.perf_counter()
            for start in range(0, len(found), INSERT_CHUNK):
                await scratch[name].insert_many(found[start : start + INSERT_CHUNK], ordered=False)
            insert_seconds += time.perf_counter() - started
        raw_rate = read / read_seconds
        rate = replayed / seconds
        print(f"rebuild bench: {published:,} events on {PARTITIONS} partitions per topic")
        print(f"  raw aiokafka read loop    {raw_rate:>10,.0f} records/s ({read_seconds:.2f} s)")
        print(f"  rebuild, whole            {rate:>10,.0f} events/s  ({seconds:.2f} s)")
        print(f"    rate / raw read         {rate / raw_rate:>10.2f}x   (target: >= 0.4x)")
        print(f"    reading and folding     {fold_seconds:>10.2f} s")
        print(f"    catching up, switching  {seconds - fold_seconds - write_seconds:>10.2f} s")
        print(f"  writing {documents:,} documents")
        print(f"    by the rebuild          {write_seconds:>10.2f} s")
        print(f"    raw insert_many         {insert_seconds:>10.2f} s")
        print(
            f"    rebuild / raw           {write_seconds / insert_seconds:>10.2f}x   (target: <= 1.5x)"
        )
        print(f"  rebuild peak memory       {peak_mb:>10,.0f} MB    (target: <= 1,536 MB)")
    finally:
        for version in await versions.built():
            await client.drop_database(version_name(database, version))
        await client.drop_database(f"{database}_insert")
        await client.drop_database(database)
        await client.close()
        await delete_topics(bootstrap, run_id)


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
