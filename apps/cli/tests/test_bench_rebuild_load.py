"""The online-rebuild-under-load figures: each service's row shows query p99 and
freshness idle and during its rebuilds, and their ratios, from the samples taken."""

from __future__ import annotations

from muster_cli.bench.rebuild_load import COLUMNS, ServiceFigures, Window, table
from muster_cli.bench.replay import RebuildOutput


def rebuilt(seconds: float) -> RebuildOutput:
    return RebuildOutput(
        events=100, seconds=seconds, write_seconds=0.1, fold_seconds=0.2, caught_up=0, set_aside=0
    )


def test_a_row_gives_the_ratios_of_during_to_idle() -> None:
    figures = ServiceFigures(
        "dispatch",
        "GET /activities",
        idle=Window(queries=[0.020] * 100, freshness=[0.050, 0.050, 0.100]),
        during=Window(queries=[0.030] * 100, freshness=[0.150, 0.150, 0.300]),
        rebuilds=[rebuilt(3.0), rebuilt(4.5)],
        load_idle="1.00 1.00 1.00",
        load_during="2.00 1.50 1.00",
    )
    row = figures.row()

    assert dict(zip(COLUMNS, row, strict=True)) == {
        "service": "dispatch",
        "queries": "GET /activities",
        "query p99 idle (n)": "20 ms (100)",
        "query p99 during rebuilds (n)": "30 ms (100)",
        "×": "1.50×",
        "freshness p50 / p99 idle (n)": "50 / 99 ms (3)",
        "freshness during rebuilds (n)": "150 / 297 ms (3)",
        "× p50 / p99": "3.00× / 3.00×",
        "rebuilds (each s)": "2 (3.0, 4.5 s)",
        "load average idle → during": "1.00 1.00 1.00 → 2.00 1.50 1.00",
    }
    assert table([row]).splitlines()[2] == "| " + " | ".join(row) + " |"
