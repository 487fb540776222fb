"""An open-loop load generator: operations arrive at a target rate whatever the latency.

Arrivals are a Poisson process; each operation's latency is measured from its scheduled
arrival, so a slow system cannot hide its queueing by slowing the generator down
(no coordinated omission). In-flight operations are capped; arrivals over the cap are
counted as `shed`, not silently delayed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from muster_cli.bench.measure import latency_summary

# An operation: returns its name and awaits the request(s); raising counts as an error.
Operation = Callable[[], tuple[str, Awaitable[httpx.Response | None]] | None]


@dataclass
class OperationStats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    shed: int = 0
    seconds: float = 0.0

    def record(self, name: str, seconds: float) -> None:
        self.latencies[name].append(seconds)

    def error(self, name: str, reason: str) -> None:
        self.errors[name][reason] += 1

    def merge(self, other: OperationStats) -> None:
        for name, values in other.latencies.items():
            self.latencies[name].extend(values)
        for name, reasons in other.errors.items():
            for reason, count in reasons.items():
                self.errors[name][reason] += count
        self.shed += other.shed
        self.seconds += other.seconds

    def summary(self) -> dict[str, dict[str, Any]]:
        names = sorted(set(self.latencies) | set(self.errors))
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            done = len(self.latencies.get(name, []))
            out[name] = {
                "ok": done,
                "errors": dict(self.errors.get(name, {})),
                "per_second": done / self.seconds if self.seconds else 0.0,
                "latency_ms": latency_summary(self.latencies.get(name, [])),
            }
        return out


async def open_loop(
    rate: float,
    duration: float,
    next_operation: Operation,
    *,
    max_in_flight: int = 256,
    seed: int = 1,
    on_done: Callable[[], None] | None = None,
    until: Callable[[], bool] | None = None,
) -> OperationStats:
    """Run operations arriving at `rate` per second for `duration` seconds (or until `until`)."""
    stats = OperationStats()
    arrivals = random.Random(seed)
    in_flight: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    started = loop.time()
    due = started

    async def run(name: str, request: Awaitable[httpx.Response | None], scheduled: float) -> None:
        try:
            response = await request
            if response is not None and response.status_code >= 400:
                stats.error(name, str(response.status_code))
            else:
                stats.record(name, loop.time() - scheduled)
        except Exception as exc:
            stats.error(name, type(exc).__name__)
        if on_done is not None:
            on_done()

    while True:
        due += arrivals.expovariate(rate)
        if due - started > duration or (until is not None and until()):
            break
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= max_in_flight:
            stats.shed += 1
            continue
        operation = next_operation()
        if operation is None:
            continue
        name, request = operation
        task = asyncio.create_task(run(name, request, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.gather(*in_flight)
    stats.seconds = loop.time() - started
    return stats


async def closed_loop(
    workers: int,
    duration: float,
    work: Callable[[int], Awaitable[str | None]],
) -> OperationStats:
    """`workers` clients each issuing operations back to back: the saturation throughput.

    `work(worker)` performs one operation and returns its name (None: nothing left to do).
    """
    stats = OperationStats()
    deadline = time.perf_counter() + duration
    started = time.perf_counter()

    async def client(worker: int) -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                name = await work(worker)
            except Exception as exc:
                stats.error("work", f"{type(exc).__name__}: {exc}"[:80])
                continue
            if name is None:
                return
            stats.record(name, time.perf_counter() - began)

    await asyncio.gather(*(client(w) for w in range(workers)))
    stats.seconds = time.perf_counter() - started
    return stats
