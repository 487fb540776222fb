"""How fast reporting rebuilds its read models, beside what the broker and the store do raw
with the same data: a raw aiokafka loop reading the same topics, and a raw `insert_many`
of the same documents the rebuild writes; with the rebuild's peak memory. Then every
service's online rebuild under load (`muster_cli.bench.rebuild_load`): reporting,
dispatch and volunteer serving and consuming while a district's activities are appended
at a steady rate, each service's query p99 and live freshness idle and while it rebuilds,
with the ratios. A generated district log on fresh topics and databases, removed after.

    python -m tools.rebuild_bench [EVENTS]   # 10,000 by default (`make bench-rebuild`)
    make bench-rebuild EVENTS=1000000        # the issue's scale
    python -m tools.rebuild_bench 10000 --services dispatch,volunteer --rate 10 --seconds 20

The rebuild runs as an operator runs it (`python -m muster_<service> rebuild`, a process
of its own, so its peak resident memory is its own).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid

from muster_cli.bench.eventlog import DistrictLog, publish_district
from muster_cli.bench.measure import load_average
from muster_cli.bench.rebuild_load import SUBJECTS, rebuild, table, under_load
from muster_cli.bench.replay import RebuildOutput, rebuild_beside_baselines
from muster_cli.bench.stack import BenchStack
from muster_contracts.areas import load_area_tree
from muster_contracts.topology import event_topic
from muster_runtime.mongo import connect
from muster_runtime.topics import ensure_topics

PARTITIONS = 6


async def baselines(stack: BenchStack, published: int) -> None:
    """Reporting's rebuild beside a raw read of its topics and a raw `insert_many` of what
    it wrote, printed (it leaves the rebuilt version serving)."""
    client = connect(stack.mongo_url)
    try:
        figures = await rebuild_beside_baselines(
            "reporting",
            stack.env("reporting", 0),
            client,
            bootstrap=stack.bootstrap,
            partitions=PARTITIONS,
        )
    finally:
        await client.close()
    read, insert = figures["raw_read"], figures["raw_insert_many"]
    seconds, fold_seconds, write_seconds = (
        figures["seconds"],
        figures["fold_seconds"],
        figures["write_seconds"],
    )
    print(f"rebuild bench: {published:,} events on {PARTITIONS} partitions per topic")
    print(
        f"  raw aiokafka read loop    {read['per_second']:>10,.0f} records/s"
        f" ({read['seconds']:.2f} s)"
    )
    print(f"  rebuild, whole            {figures['rate']:>10,.0f} events/s  ({seconds:.2f} s)")
    print(f"    rate / raw read         {figures['rate_to_raw_read']:>10.2f}x   (target: >= 0.4x)")
    print(f"    reading and folding     {fold_seconds:>10.2f} s")
    print(f"    catching up, switching  {seconds - fold_seconds - write_seconds:>10.2f} s")
    print(f"  writing {insert['documents']:,} documents")
    print(f"    by the rebuild          {write_seconds:>10.2f} s")
    print(f"    raw insert_many         {insert['seconds']:>10.2f} s")
    print(
        f"    rebuild / raw           {figures['write_to_raw_insert']:>10.2f}x   (target: <= 1.5x)"
    )
    print(
        f"  rebuild peak memory       {figures['peak_rss_mb']:>10,.0f} MB    (target: <= 1,536 MB)"
    )
    print(f"  steps: {steps_line(figures['steps'])}")


def steps_line(steps: dict[str, float]) -> str:
    return ", ".join(f"{step} {s:.2f}" for step, s in steps.items())


def steps_of(output: RebuildOutput) -> str:
    """A rebuild's events, seconds and the seconds of each of its steps, in a line."""
    return f"{output.events:,} events in {output.seconds:.2f} s ({steps_line(output.steps)})"


async def run(events: int, services: list[str], rate: float, seconds: float) -> None:
    bootstrap = os.environ.get("MUSTER_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    mongo_url = os.environ.get("MUSTER_MONGO_URL", "mongodb://127.0.0.1:27017/")
    stack = BenchStack(f"rebuild{uuid.uuid4().hex[:8]}", bootstrap, mongo_url)
    try:
        topics = [event_topic(stack.topic_prefix, c) for c in ("volunteer", "dispatch", "notify")]
        await ensure_topics(bootstrap, topics, PARTITIONS)
        log = DistrictLog(load_area_tree(), seed=21)
        published = await publish_district(bootstrap, stack.topic_prefix, log.events(events))
        if "reporting" in services:
            await baselines(stack, published)
        for service in services:
            # Each service starts on a version rebuilt offline (its consumer group handed the
            # log's end), so it serves the whole log from its first request.
            if service != "reporting":
                output, _ = await rebuild(service, stack.env(service, 0))
                print(f"  {service}, offline: {steps_of(output)}")
        print(
            f"online rebuilds under load: {published:,} events logged, activities appended at"
            f" {rate:g} events/s, {seconds:g} s idle then at least {seconds:g} s of rebuilds"
            f" (load average {load_average()})"
        )
        figures = await under_load(stack, log, services, rate=rate, seconds=seconds)
        print(table([f.row() for f in figures]))
        for f in figures:
            print(f"  {f.service}, the last online: {steps_of(f.rebuilds[-1])}")
    finally:
        await stack.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("events", nargs="?", type=int, default=10_000)
    parser.add_argument(
        "--services", default=",".join(SUBJECTS), help="whose online rebuild to measure"
    )
    parser.add_argument("--rate", type=float, default=10.0, help="steady writes, events/s")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="each window: idle, then of rebuilds"
    )
    args = parser.parse_args()
    services = [s for s in args.services.split(",") if s]
    asyncio.run(run(args.events, services, args.rate, args.seconds))


if __name__ == "__main__":
    main()
