"""The replay part's rebuild figures: what a rebuild prints, parsed; its usage as the
launcher reports it; the ratios to the baselines; and the rows they are shown in."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from muster_cli.bench import report
from muster_cli.bench.measure import ChildRun, parse_child_usage, run_child
from muster_cli.bench.replay import (
    RebuildOutput,
    parse_rebuild_output,
    ratio,
    rebuild_figures,
)
from muster_runtime.adapters.mongodb.online_rebuild import OnlineRebuildResult
from muster_runtime.adapters.mongodb.service_rebuild import report as print_rebuild


def test_the_figures_a_rebuild_prints_are_parsed(capsys: pytest.CaptureFixture[str]) -> None:
    steps = {"reading and folding": 5.5, "writing": 4.25, "settling (indexes)": 0.75}
    printed = RebuildOutput(12_345, 10.5, 4.25, 5.5, caught_up=7, set_aside=2, steps=steps)
    result = OnlineRebuildResult(
        3, printed.events, printed.caught_up, printed.seconds, printed.write_seconds,
        printed.set_aside, printed.fold_seconds, steps=printed.steps,
    )  # fmt: skip
    print_rebuild(result, dry_run=False)

    assert parse_rebuild_output(capsys.readouterr().out) == printed


def test_output_without_the_rebuild_line_is_refused() -> None:
    with pytest.raises(ValueError, match="unexpected rebuild output"):
        parse_rebuild_output("Traceback (most recent call last): ...")


def test_the_launcher_line_is_split_off_the_child_stderr() -> None:
    stderr = "a warning\nmuster-bench-usage 2048 1.5\n"
    assert parse_child_usage(stderr) == ("a warning", 2.0, 1.5)
    with pytest.raises(ValueError, match="no usage line"):
        parse_child_usage("no usage here\n")


def test_a_child_is_measured_alone_not_from_the_size_of_the_bench() -> None:
    """A child holding about 200 MB shows at least that; a trivial one shows far less,
    though the bench process that starts both is larger (the launcher's floor)."""
    ballast = bytearray(150 * 1024 * 1024)  # the bench grows: a forked child would inherit it
    ballast[::4096] = b"x" * len(ballast[::4096])
    big = asyncio.run(
        run_child(
            [sys.executable, "-c", "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096])"],
            os.environ,
        )
    )
    small = asyncio.run(
        run_child(
            [sys.executable, "-c", "import sys; print('hi'); print('e', file=sys.stderr)"],
            os.environ,
        )
    )
    assert (small.returncode, small.stdout, small.stderr) == (0, "hi\n", "e\n")
    assert big.peak_rss_mb >= 200
    assert small.peak_rss_mb < 100
    del ballast


def test_ratios_compare_the_rebuild_with_its_baselines() -> None:
    output = RebuildOutput(
        events=10_000, seconds=20.0, write_seconds=6.0, fold_seconds=12.0, caught_up=0, set_aside=0
    )
    child = ChildRun(returncode=0, stdout="", stderr="", cpu_seconds=15.0, peak_rss_mb=512.0)
    figures = rebuild_figures(
        output,
        child,
        {"records": 10_000, "seconds": 0.5, "per_second": 20_000.0},
        {"documents": 3_000, "seconds": 4.0},
    )
    assert figures["rate"] == 500.0
    assert figures["rate_to_raw_read"] == pytest.approx(0.025)
    assert figures["write_to_raw_insert"] == pytest.approx(1.5)
    assert figures["peak_rss_mb"] == 512.0
    assert ratio(1.0, 0.0) is None
    rows = report.rebuild_rows({"replay": [{"events": 10_000, "rebuilds": {"dispatch": figures}}]})
    assert rows[0][:2] == ["10,000", "dispatch"]
    assert {"0.025×", "1.50×", "512 MB"} <= set(rows[0])
    targets = report.target_rows({"replay": [{"events": 10_000, "rebuild_rate": 500.0,
        "rebuild_seconds": 20.0, "rebuild_write_seconds": 6.0, "query_latency_ms": {},
        "totals_match": True, "rebuilds": {"dispatch": figures}}]})  # fmt: skip
    assert targets[-2][1:] == ["≥ 0.4×, ≤ 1.5×, ≤ 1.5 GB", "dispatch 0.025×, 1.50×, 512 MB"]
