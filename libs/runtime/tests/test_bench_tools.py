"""The benchmark's own tools: the open-loop generator, latency summaries, the report file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson

from muster_runtime.bench import report
from muster_runtime.bench.loadgen import open_loop
from muster_runtime.bench.measure import cpu_seconds, latency_summary


def test_latency_summary_gives_quantiles_in_milliseconds() -> None:
    summary = latency_summary([n / 1000 for n in range(1, 101)])
    assert summary["n"] == 100
    assert 49 <= summary["p50"] <= 51
    assert 98 <= summary["p99"] <= 100
    assert summary["max"] == 100
    assert latency_summary([]) == {}


async def test_the_open_loop_counts_errors_and_sheds_over_its_in_flight_cap() -> None:
    calls = 0

    def operation() -> tuple[str, Any]:
        nonlocal calls
        calls += 1

        async def slow(status: int = 500 if calls % 2 else 200) -> httpx.Response:
            await asyncio.sleep(0.3)
            return httpx.Response(status)

        return "op", slow()

    stats = await open_loop(400, 0.25, operation, max_in_flight=5)

    assert calls == 5  # every later arrival found five in flight
    assert stats.shed > 0
    summary = stats.summary()["op"]
    assert summary["ok"] == 2
    assert summary["errors"] == {"500": 3}
    # Latency runs from the scheduled arrival, so it includes the 0.3 s of the request.
    assert summary["latency_ms"]["p50"] >= 300


async def test_an_exception_is_an_error_not_a_crash() -> None:
    def operation() -> tuple[str, Any]:
        async def broken() -> httpx.Response:
            raise httpx.ConnectError("refused")

        return "op", broken()

    stats = await open_loop(50, 0.1, operation)
    assert stats.summary()["op"]["errors"].get("ConnectError", 0) >= 1


def test_cpu_seconds_reads_this_process() -> None:
    import os

    used = cpu_seconds(os.getpid())
    assert used is not None
    assert used > 0
    assert cpu_seconds(2**22 + 12345) is None


def test_the_report_replaces_only_its_own_section(tmp_path: Path) -> None:
    path = tmp_path / "performance.md"
    path.write_text(f"# Performance\n\nprose\n\n{report.BEGIN}\nold\n{report.END}\n\nmore prose\n")
    results = {
        "command": "muster bench --parts replay",
        "started_at": "t0",
        "finished_at": "t1",
        "load_average_at_start": "1.00 1.00 1.00",
        "machine": {
            "cpu": "cpu",
            "cores": "2",
            "memory": "4 GiB",
            "kernel": "6",
            "python": "3.11",
            "java": "17",
        },
        "options": {"capacity_workers": 16},
        "replay": [
            {
                "events": 10000,
                "rebuild_rate": 12345.0,
                "rebuild_seconds": 0.8,
                "rebuild_write_seconds": 0.2,
                "totals_match": True,
                "mismatches": [],
                "query_latency_ms": {"p50": 3.0, "p99": 9.0},
            },
        ],
    }
    report.write(results, path)
    text = path.read_text()
    assert "prose" in text
    assert "more prose" in text
    assert "old" not in text
    assert "12,345 events/s" in text
    assert "muster bench --parts replay" in text
    assert path.with_suffix(".json").exists()


def test_parts_run_separately_make_one_report(tmp_path: Path) -> None:
    from muster_runtime.bench.run import _keep_earlier_parts

    earlier = tmp_path / "performance.json"
    earlier.write_bytes(
        orjson.dumps(
            {
                "command": "muster bench --parts replay",
                "replay": [{"events": 10}],
                "steady": {"stale": True},
            }
        )
    )
    results: dict[str, Any] = {
        "command": "muster bench --parts mixed",
        "finished_at": "t1",
        "load_average_at_start": "1 1 1",
        "steady": {"fresh": True},
    }

    _keep_earlier_parts(results, {"mixed"}, earlier)

    assert results["replay"] == [{"events": 10}]
    assert results["steady"] == {"fresh": True}
    assert results["part_runs"]["replay"]["command"] == "muster bench --parts replay"
    assert results["part_runs"]["mixed"]["command"] == "muster bench --parts mixed"
