"""The benchmark's own tools: the open-loop generator, latency summaries, the report file."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from muster_cli.bench import report
from muster_cli.bench.eventlog import FIRST_DAY, SERVICE_DAYS
from muster_cli.bench.loadgen import open_loop
from muster_cli.bench.measure import cpu_seconds, latency_summary
from muster_cli.bench.replay import _as_of


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
    elsewhere = tmp_path / "new" / "folder" / "performance.md"
    report.write(results, elsewhere)
    assert "12,345 events/s" in elsewhere.read_text()


def test_parts_run_separately_make_one_report() -> None:
    from muster_cli.bench.run import keep_earlier_parts

    earlier = {
        "command": "muster bench --parts replay",
        "replay": [{"events": 10}],
        "steady": {"stale": True},
    }
    results: dict[str, Any] = {
        "command": "muster bench --parts mixed",
        "finished_at": "t1",
        "load_average_at_start": "1 1 1",
        "steady": {"fresh": True},
    }

    keep_earlier_parts(results, earlier)

    assert results["replay"] == [{"events": 10}]
    assert results["steady"] == {"fresh": True}
    assert results["part_runs"]["replay"]["command"] == "muster bench --parts replay"
    assert results["part_runs"]["mixed"]["command"] == "muster bench --parts mixed"


def test_the_mixed_part_measures_capacity_and_keeps_it_over_an_earlier_run() -> None:
    """A run of the default parts measured capacity inside the mixed run, then replaced it
    with the figures of an earlier `--parts capacity` run (capacity was not in its list)."""
    from muster_cli.bench.run import DEFAULT_PARTS, keep_earlier_parts, select_parts

    assert select_parts("mixed,baselines,replay,scale") >= {"mixed", "capacity"}
    assert select_parts(DEFAULT_PARTS) == {"mixed", "capacity", "baselines", "replay", "scale"}
    assert select_parts("capacity") == {"capacity"}
    earlier = {
        "command": "muster bench --parts capacity",
        "capacity": {"muster": {"check_in": {"per_second": 77.0}}},
        "part_runs": {"capacity": {"command": "muster bench --parts capacity"}},
    }
    results: dict[str, Any] = {
        "command": "muster bench --parts mixed,baselines,replay,scale",
        "finished_at": "t1",
        "load_average_at_start": "1 1 1",
        "steady": {"fresh": True},
        "capacity": {"muster": {"check_in": {"per_second": 90.0}}},
    }

    keep_earlier_parts(results, earlier)

    assert results["capacity"]["muster"]["check_in"]["per_second"] == 90.0
    assert results["part_runs"]["capacity"]["command"] == results["command"]


def test_an_unknown_part_is_an_error() -> None:
    from muster_cli.bench.run import select_parts

    for text in ("mixed,capacty", ""):
        with pytest.raises(ValueError, match="choose from"):
            select_parts(text)


def test_pipeline_figures_are_the_difference_between_two_scrapes() -> None:
    from muster_cli.bench.measure import pipeline_figures

    before = {
        "muster_projection_batch_seconds_count": 10.0,
        "muster_projection_batch_seconds_sum": 1.0,
        'muster_events_consumed_total{topic="t.dispatch.events"}': 100.0,
        'muster_projection_apply_seconds_sum{projection="ServiceRollup"}': 0.5,
        "muster_relay_publish_seconds_count": 4.0,
        "muster_relay_publish_seconds_sum": 0.4,
        "muster_relay_published_total": 40.0,
    }
    after = {
        "muster_projection_batch_seconds_count": 30.0,
        "muster_projection_batch_seconds_sum": 5.0,
        'muster_events_consumed_total{topic="t.dispatch.events"}': 300.0,
        'muster_events_consumed_total{topic="t.volunteer.events"}': 100.0,
        'muster_projection_apply_seconds_sum{projection="ServiceRollup"}': 2.5,
        "muster_relay_publish_seconds_count": 14.0,
        "muster_relay_publish_seconds_sum": 1.4,
        "muster_relay_published_total": 90.0,
    }

    figures = pipeline_figures(before, after)

    assert figures["batches"] == 20
    assert figures["events_per_batch"] == 15  # (200 + 100) / 20
    assert figures["ms_per_batch"] == pytest.approx(200)
    assert figures["ms_per_batch.ServiceRollup"] == pytest.approx(100)
    assert figures["relay_events_per_round"] == 5
    assert figures["relay_ms_per_round"] == pytest.approx(100)
    assert pipeline_figures(before, before) == {}


def test_the_replay_s_as_of_instants_lie_in_the_log_s_month_and_never_ahead_of_now() -> None:
    """Reporting refuses an as_of ahead of its clock: a log dated this month is queried
    only up to now, and a log of a past month over the whole of it."""
    start = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC)
    midway = start + timedelta(days=9, hours=5)
    early = [datetime.fromisoformat(_as_of(n, midway)) for n in range(400)]
    assert all(start <= at <= midway for at in early)
    later = [datetime.fromisoformat(_as_of(n, start + timedelta(days=90))) for n in range(400)]
    assert all(start <= at < start + timedelta(days=SERVICE_DAYS) for at in later)
    assert max(later) > start + timedelta(days=SERVICE_DAYS - 3)  # spread over the month


async def test_a_failing_part_leaves_the_other_figures_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An hour-long run whose last step failed used to print and write nothing."""
    from muster_cli.bench import run

    async def replays(options: run.BenchOptions, results: dict[str, Any]) -> bool:
        results["replay"] = [
            {"events": 10000, "rebuild_rate": 970.0, "rebuild_seconds": 10.4,
             "rebuild_write_seconds": 8.1, "totals_match": True, "mismatches": [],
             "query_latency_ms": {}},
        ]  # fmt: skip
        raise RuntimeError("as-of query refused")

    async def scale_out(options: run.BenchOptions, results: dict[str, Any]) -> None:
        results["scale_out"] = {"events": 0, "runs": {}}

    monkeypatch.setattr(run, "run_replays", replays)
    monkeypatch.setattr(run, "run_scale_out", scale_out)
    output = tmp_path / "performance.md"
    options = run.BenchOptions(output=output, command="muster bench --parts replay,scale")

    assert await run.run_all(options, {"replay", "scale"}) == 1

    written = orjson.loads(output.with_suffix(".json").read_bytes())
    assert written["replay"][0]["rebuild_rate"] == 970.0
    assert "scale_out" in written
    assert "as-of query refused" in written["failed"]["replay"]
    assert "Parts that failed: replay" in output.read_text()
