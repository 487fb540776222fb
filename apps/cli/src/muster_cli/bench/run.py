"""`muster bench`: the whole benchmark in one run, printed and written to docs/performance.md.

Muster's own services run as fresh processes (own databases and topics) on the running
Kafka and document store; the baselines run in the same session on the same machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from muster_cli.bench import baselines, replay, report
from muster_cli.bench.loadgen import OperationStats, open_loop
from muster_cli.bench.measure import (
    ProcessCpu,
    find_pids,
    latency_summary,
    load_average,
    machine,
    pipeline_figures,
    scrape_metrics,
)
from muster_cli.bench.stack import BenchStack, bench_stack
from muster_cli.bench.workload import DistrictWorkload, ensure_ok
from muster_runtime.topics import delete_topics

console = Console(width=None if Console().is_terminal else 140)


@dataclass(frozen=True)
class BenchOptions:
    rate: float = 20.0  # operations per second offered in every open-loop phase
    duration: float = 60.0  # seconds of the steady mix
    volunteers: int = 0  # 0: enough for the check-ins of the steady mix
    capacity_seconds: float = 20.0
    capacity_workers: int = 16
    probe_rate: float = 2.0  # append→report probe records per second
    replay_events: tuple[int, ...] = (10_000, 1_000_000)
    baseline_records: int = 200_000
    scale_out_events: int = 600
    queries: int = 1000
    kafka_bootstrap: str = "127.0.0.1:9092"
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    output: Path = Path("docs/performance.md")
    command: str = "muster bench"


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:>6.0f} done"),
        TimeElapsedColumn(), console=console,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def _working(
    label: str, total: float | None = None
) -> AsyncIterator[Callable[[float], None]]:
    """Shows that a long step is alive: a live bar with the elapsed time on a terminal, a
    line a minute otherwise (`make bench > log`). Yields a setter of the completed count."""
    started = time.perf_counter()
    done = 0.0

    def advance(completed: float) -> None:
        nonlocal done
        done = completed

    if console.is_terminal:
        with _progress() as progress:
            task = progress.add_task(label, total=total)

            def show(completed: float) -> None:
                progress.update(task, completed=completed)

            yield show
        return

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(60)
            count = f", {done:,.0f}" + (f" of {total:,.0f}" if total else "") if done else ""
            console.print(f"  … {label}: {(time.perf_counter() - started) / 60:.0f} min{count}")

    beat = asyncio.create_task(heartbeat())
    try:
        yield advance
    finally:
        beat.cancel()
        console.print(f"  {label}: done in {time.perf_counter() - started:.0f} s")


async def _phase(
    label: str,
    rate: float,
    operation: Any,
    *,
    done: Any = None,
    duration: float = 3600.0,
) -> OperationStats:
    """An open-loop phase at `rate` for `duration` seconds or until `done()`."""
    with _progress() as progress:
        task = progress.add_task(label, total=None)
        return await open_loop(
            rate, duration, operation, on_done=lambda: progress.advance(task), until=done
        )


def _infrastructure_pids(mongo_url: str) -> dict[str, int]:
    # The FerretDB serving this run (several may run on one machine), as stack.sh starts it.
    port = urlsplit(mongo_url).port or 27017
    return find_pids({"kafka": "kafka.Kafka", "ferretdb": f"-listen-addr 127.0.0.1:{port}"})


async def run_workload(options: BenchOptions, results: dict[str, Any]) -> bool:
    """Setup, the steady mix, closing and the totals check; then check-in capacity."""
    checkins = options.rate * options.duration * 0.40
    volunteers = options.volunteers or int(checkins * 1.1) + 20
    async with bench_stack(options.kafka_bootstrap, options.mongo_url) as stack:
        results["stack"] = {"run_id": stack.run_id, "topic_prefix": stack.topic_prefix}
        async with DistrictWorkload(stack.urls, stack.topic_prefix, options.kafka_bootstrap) as w:
            setup = OperationStats()
            console.print(f"[bold]setup[/bold]: {volunteers} volunteers at {options.rate}/s")
            setup.merge(
                await _phase(
                    "register",
                    options.rate,
                    w.registration,
                    done=lambda: w.truth.registered >= volunteers,
                )
            )
            await w.launch_drives(max(1, len(w.volunteers) // 200))
            people = deque(w.volunteers)
            setup.merge(
                await _phase("sign up", options.rate, w.sign_up_of(people), done=lambda: not people)
            )
            ends_at = datetime.now(UTC) + timedelta(seconds=options.duration + 20)
            await w.schedule_activities(ends_at)
            results["setup"] = setup.summary()
            caught_up = await w.wait_for_reporting()
            console.print(f"reporting caught up with the setup after {caught_up:.0f} s")

            console.print(
                f"[bold]steady mix[/bold]: {options.duration:.0f} s at {options.rate}/s "
                f"(load average before: {load_average()})"
            )
            stop = asyncio.Event()
            probe = await w.freshness_probe(rate=options.probe_rate)
            probing = asyncio.create_task(probe.run(stop))
            watchers = [
                asyncio.create_task(probe.watch(stop)),
                asyncio.create_task(w.watch_topics(stop)),
                asyncio.create_task(w.keep_codes_fresh()),
            ]
            await asyncio.sleep(1)  # the topic watcher joins at the end of the log
            cpu = ProcessCpu(
                dict(stack.pids) | _infrastructure_pids(options.mongo_url) | {"bench": os.getpid()}
            )
            cpu.start()
            events_before = w.lags.events
            scraped = await _scrape(w)
            steady = await _phase("steady mix", options.rate, w.mixed, duration=options.duration)
            used = cpu.stop()
            pipeline = {
                name: pipeline_figures(scraped[name], after)
                for name, after in (await _scrape(w)).items()
            }
            probe.phase = "closing"
            await asyncio.sleep(2)  # the last events reach the topic watcher
            events = w.lags.events - events_before
            load = load_average()
            results["steady"] = {
                "rate_offered": options.rate,
                "seconds": steady.seconds,
                "operations": steady.summary(),
                "shed": steady.shed,
                "events": events,
                "events_per_second": events / steady.seconds if steady.seconds else 0.0,
                "cpu_seconds": used,
                "cpu_seconds_per_1000_events": {
                    k: v / events * 1000 if events else 0.0 for k, v in used.items()
                },
                "load_average_after": load,
                "pipeline": pipeline,
                "reporting_caught_up_with_setup_after_seconds": caught_up,
            }

            console.print("[bold]closing[/bold]: check-outs, corrections (补签), approvals")
            while datetime.now(UTC) < ends_at:
                await asyncio.sleep(0.5)
            await w.close_attendances()
            await w.wait_for_dispatch()
            closing = OperationStats()
            corrections, corrected = w.corrections()
            closing.merge(await _phase("correct", options.rate, corrections, done=corrected))
            approvals, approved = w.approvals()
            closing.merge(await _phase("approve", options.rate, approvals, done=approved))
            report_state, expected, drain = await w.stop_and_settle(stop, [probing])
            with contextlib.suppress(TimeoutError):  # the probe watcher sees the last records
                await asyncio.wait_for(asyncio.shield(watchers[0]), 30)
            for task in watchers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            results["closing"] = closing.summary()
            mismatches = {
                k: {"expected": v, "reported": report_state.get(k)}
                for k, v in expected.items()
                if abs(report_state.get(k, -1) - v) > 1e-9
            }
            results["totals"] = {
                "expected": expected,
                "reported": report_state,
                "mismatches": mismatches,
                "settled_after_seconds": drain,
            }
            legs = w.probe_legs("steady")
            results["lags"] = {
                "append_to_publish_ms": latency_summary(w.lags.publish),
                "append_to_report_ms": latency_summary(probe.ledger.lags("steady")),
                "append_to_report_closing_ms": latency_summary(probe.ledger.lags("closing")),
                "probe_append_to_publish_ms": latency_summary(legs["append_to_publish"]),
                "probe_publish_to_report_ms": latency_summary(legs["publish_to_report"]),
            }
            results["probes"] = {
                "rate": options.probe_rate,
                "sent": sum(probe.totals.values()),
                "never_seen": sum(len(q) for q in probe.ledger.outstanding.values()),
            }
            results["capacity"] = await _capacity(options, stack, w)
    return not mismatches


async def _scrape(w: DistrictWorkload) -> dict[str, dict[str, float]]:
    names = ("volunteer", "dispatch", "reporting")
    scraped = await asyncio.gather(*(scrape_metrics(w.clients[n]) for n in names))
    return dict(zip(names, scraped, strict=True))


async def _capacity(
    options: BenchOptions, stack: BenchStack, w: DistrictWorkload
) -> dict[str, Any]:
    """Closed-loop check-in throughput: Muster against the plain CRUD endpoint."""
    console.print(
        f"[bold]check-in capacity[/bold]: {options.capacity_workers} clients back to back, "
        f"{options.capacity_seconds:.0f} s each, Muster then plain CRUD"
    )
    people = w.volunteers[:200]
    activities = await _capacity_activities(w, people, count=60)
    load_before = load_average()
    cpu = ProcessCpu(dict(stack.pids) | _infrastructure_pids(options.mongo_url))
    cpu.start()
    muster = await baselines.muster_capacity(
        stack.urls["volunteer"],
        activities,
        people,
        options.capacity_workers,
        options.capacity_seconds,
    )
    muster_cpu = cpu.stop()
    async with baselines.CrudBaseline(options.mongo_url, stack.run_id) as crud:
        cpu = ProcessCpu({"crud": crud.pid} | _infrastructure_pids(options.mongo_url))
        cpu.start()
        plain = await baselines.crud_capacity(
            crud, options.capacity_workers, options.capacity_seconds, len(people)
        )
        crud_cpu = cpu.stop()
    return {
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "muster": muster.summary() | {"cpu_seconds": muster_cpu},
        "crud": plain.summary() | {"cpu_seconds": crud_cpu},
    }


async def _capacity_activities(
    w: DistrictWorkload, people: list[dict[str, Any]], count: int
) -> list[tuple[str, str]]:
    """Activities everyone in `people` is assigned to, with their current check-in codes."""
    starts = datetime.now(UTC) - timedelta(hours=1)
    made: list[tuple[str, str]] = []
    dispatch = w.clients["dispatch"]
    for n in range(count):
        response = await dispatch.post(
            "/activities",
            json={
                "drive_id": w.drives[0], "title": f"capacity {n}",
                "place_area_id": w.random.choice(w.grids),
                "category": "environment", "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=3)).isoformat(), "capacity": len(people) + 1,
                "assigned_volunteer_ids": [p["volunteer_id"] for p in people],
            },
            headers=w.organiser,
        )  # fmt: skip
        ensure_ok(response)
        made.append((response.json()["activity_id"], ""))
    # Codes rotate each minute: fetch them last, once the volunteer service knows them all.
    await asyncio.sleep(2)
    coded: list[tuple[str, str]] = []
    for activity_id, _ in made:
        code = (
            await dispatch.get(f"/activities/{activity_id}/check-in-code", headers=w.organiser)
        ).json()["code"]
        coded.append((activity_id, code))
    return coded


async def run_capacity(options: BenchOptions, results: dict[str, Any]) -> None:
    """Check-in capacity alone: a small district (100 volunteers), then `_capacity`."""
    async with (
        bench_stack(options.kafka_bootstrap, options.mongo_url) as stack,
        DistrictWorkload(stack.urls, stack.topic_prefix, options.kafka_bootstrap) as w,
    ):
        await _phase(
            "register", options.rate, w.registration, done=lambda: w.truth.registered >= 100
        )
        await w.launch_drives(1)
        results["capacity"] = await _capacity(options, stack, w)


async def run_baselines(options: BenchOptions, record_size: int, results: dict[str, Any]) -> None:
    prefix = f"bench-baseline-{int(time.time())}"
    console.print(
        f"[bold]messaging baselines[/bold]: {options.baseline_records:,} records of {record_size} bytes"
    )
    try:
        results["kafka_producer_perf"] = await baselines.kafka_producer_perf(
            options.kafka_bootstrap, f"{prefix}.perf", options.baseline_records, record_size
        ) | {"load_average": load_average()}
        results["aiokafka_loop"] = await baselines.aiokafka_loop(
            options.kafka_bootstrap,
            f"{prefix}.aiokafka",
            options.baseline_records,
            b"x" * record_size,
        ) | {"load_average": load_average()}
    finally:
        await delete_topics(options.kafka_bootstrap, prefix)


async def run_replays(options: BenchOptions, results: dict[str, Any]) -> bool:
    ok = True
    results["replay"] = []
    for events in options.replay_events:
        console.print(
            f"[bold]replay[/bold]: {events:,} generated events → rebuild → {options.queries} "
            "queries (the bar counts the events published; the rebuild and queries follow)"
        )
        async with _working(f"replay of {events:,} events", total=events) as progress:
            figures = await replay.run_replay_bench(
                events,
                bootstrap=options.kafka_bootstrap,
                mongo_url=options.mongo_url,
                queries=options.queries,
                progress=progress,
            )
        ok = ok and figures.totals_match
        results["replay"].append(vars(figures) | {"load_average": load_average()})
    return ok


async def run_scale_out(options: BenchOptions, results: dict[str, Any]) -> None:
    console.print(
        f"[bold]scale out[/bold]: {options.scale_out_events:,} events for reporting, "
        "one consumer process, then two in the same group"
    )
    async with _working("scale out"):
        figures = await replay.run_scale_out(
            options.scale_out_events,
            bootstrap=options.kafka_bootstrap,
            mongo_url=options.mongo_url,
        )
    results["scale_out"] = figures | {"load_average": load_average()}


async def run_all(options: BenchOptions, parts: set[str]) -> int:
    results: dict[str, Any] = {
        "command": options.command,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_at_start": load_average(),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
    }
    failed: dict[str, str] = {}

    async def part(name: str, run: Awaitable[bool | None]) -> bool:
        """A part that fails is reported; the others' figures are still written."""
        try:
            return await run is not False
        except Exception as exc:
            failed[name] = repr(exc)[:500]
            console.print(f"[red]{name} failed[/red]: {failed[name]}")
            return False

    ok = True
    if "mixed" in parts:  # the mixed district also measures capacity, at its end
        ok = await part("mixed", run_workload(options, results)) and ok
    elif "capacity" in parts:
        ok = await part("capacity", run_capacity(options, results)) and ok
    if "baselines" in parts:
        ok = await part("baselines", run_baselines(options, _envelope_size(), results)) and ok
    if "replay" in parts:
        ok = await part("replay", run_replays(options, results)) and ok
    if "scale" in parts:
        ok = await part("scale", run_scale_out(options, results)) and ok
    if failed:
        results["failed"] = failed
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["ok"] = ok
    earlier = options.output.with_suffix(".json")
    if earlier.exists():
        keep_earlier_parts(results, orjson.loads(earlier.read_bytes()))
    console.print(report.tables(results))
    report.write(results, options.output)
    console.print(f"written: {options.output} and {options.output.with_suffix('.json')}")
    if not ok:
        console.print(
            f"[red]failed: {', '.join(failed)}[/red]"
            if failed
            else "[red]totals differ from the ground truth[/red]"
        )
    return 0 if ok else 1


# What each part writes into the results; the CLI's default runs every part.
PART_KEYS = {
    "mixed": ("stack", "setup", "steady", "closing", "totals", "lags", "probes"),
    "capacity": ("capacity",),
    "baselines": ("kafka_producer_perf", "aiokafka_loop"),
    "replay": ("replay",),
    "scale": ("scale_out",),
}
DEFAULT_PARTS = ",".join(PART_KEYS)


def select_parts(text: str) -> set[str]:
    """The parts a `--parts` list asks for; `mixed` includes `capacity` (it is measured on the
    mixed run's district, after its steady mix). An unknown name is an error, not a no-op."""
    parts = {p.strip() for p in text.split(",") if p.strip()}
    unknown = parts - PART_KEYS.keys()
    if unknown or not parts:
        raise ValueError(
            f"unknown part(s) {', '.join(sorted(unknown)) or '(none given)'}; "
            f"choose from {DEFAULT_PARTS}"
        )
    return parts | ({"capacity"} if "mixed" in parts else set())


def measured_parts(results: dict[str, Any]) -> set[str]:
    """The parts whose figures this run produced (whatever the selection said)."""
    return {part for part, keys in PART_KEYS.items() if any(k in results for k in keys)}


def keep_earlier_parts(results: dict[str, Any], earlier: dict[str, Any]) -> None:
    """Carry over the figures of parts this run did not measure from the last written
    results, so parts run one at a time still make one report (each says when and how it
    was run). A figure this run measured is never replaced by an earlier one."""
    runs = earlier.get("part_runs", {})
    measured = measured_parts(results)
    results["part_runs"] = {}
    for part, keys in PART_KEYS.items():
        if part in measured:
            results["part_runs"][part] = {
                "command": results["command"],
                "finished_at": results["finished_at"],
                "load_average_at_start": results["load_average_at_start"],
            }
        elif any(k in earlier for k in keys):
            for key in keys:
                if key in earlier:
                    results[key] = earlier[key]
            results["part_runs"][part] = runs.get(part, {"command": earlier.get("command")})


def _envelope_size() -> int:
    """The median size of the envelopes the generator produces (a check-in is typical)."""
    from muster_cli.bench.eventlog import DistrictLog
    from muster_contracts.areas import load_area_tree

    log = DistrictLog(load_area_tree())
    sizes = [len(e.value) for e, _ in zip(log.events(500), range(500), strict=False)]
    return int(statistics.median(sizes))


def main(options: BenchOptions, parts: set[str]) -> int:
    return asyncio.run(run_all(options, parts))


if __name__ == "__main__":
    sys.exit(main(BenchOptions(), {"mixed"}))
