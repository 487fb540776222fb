"""The benchmark's figures as terminal tables, JSON and a Markdown section of docs/performance.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from rich.console import Group
from rich.table import Table

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


def _ms(summary: dict[str, float], key: str) -> str:
    return f"{summary[key]:.1f}" if summary and key in summary else "–"


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def operation_rows(results: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    for phase in ("setup", "steady", "closing"):
        operations = results.get(phase, {})
        if phase == "steady":
            operations = operations.get("operations", {})
        for name, op in operations.items():
            latency = op["latency_ms"]
            errors = ", ".join(f"{k}×{v}" for k, v in op["errors"].items()) or "0"
            rows.append(
                [phase, name, str(op["ok"]), f"{op['per_second']:.1f}",
                 _ms(latency, "p50"), _ms(latency, "p95"), _ms(latency, "p99"), errors]
            )  # fmt: skip
    return rows


def _times(value: float | None) -> str:
    """A ratio, with three decimals below 0.1 (0.008× and 0.012× differ)."""
    if value is None:
        return "–"
    return f"{value:.3f}×" if value < 0.1 else f"{value:.2f}×"


def _mb(value: float) -> str:
    return f"{value:,.0f} MB"


def rebuild_target_row(events: int, rebuilds: dict[str, Any]) -> list[str]:
    """Issue 22's targets for every service's rebuild at one log size, in one row."""
    measured = "; ".join(
        f"{service} {_times(r['rate_to_raw_read'])}, {_times(r['write_to_raw_insert'])}, "
        f"{_mb(r['peak_rss_mb'])}"
        for service, r in rebuilds.items()
    )
    return [
        f"rebuild ÷ raw aiokafka read, writing ÷ raw insert_many, peak memory, {events:,} events",
        "≥ 0.4×, ≤ 1.5×, ≤ 1.5 GB",
        measured,
    ]


def target_rows(results: dict[str, Any]) -> list[list[str]]:
    """Each target of issues 5 and 6 with the figure measured for it."""
    rows: list[list[str]] = []
    muster = _get(results, "capacity", "muster", "check_in")
    crud = _get(results, "capacity", "crud", "check_in")
    if muster:
        rows.append(["check-ins/s through the whole pipeline", "≥ 3,000 sustained 10 min",
                     f"{muster['per_second']:.0f}/s (closed loop, "
                     f"{results['options']['capacity_workers']} clients)"])  # fmt: skip
    steady = _get(results, "steady", "operations") or {}
    if steady:
        worst = max(
            (op["latency_ms"].get("p99", 0.0), name) for name, op in steady.items() if op["ok"]
        )
        rows.append(["p99 API latency in the steady mix", "≤ 20 ms at 3,000 check-ins/s",
                     f"{worst[0]:.0f} ms ({worst[1]}) at {results['steady']['rate_offered']:.0f} ops/s offered"])  # fmt: skip
    report_lag = _get(results, "lags", "append_to_report_ms")
    if report_lag:
        probes = f", {report_lag['n']} probes" if "n" in report_lag else ""
        rows.append(["p99 append→report (live freshness)", "≤ 100 ms",
                     f"p50 {report_lag['p50']:.0f} ms, p99 {report_lag['p99']:.0f} ms "
                     f"at {results['steady']['events_per_second']:.0f} events/s"
                     f" (steady mix{probes})"])  # fmt: skip
    if muster and crud:
        rows.append(["check-in throughput vs plain CRUD", "≥ 70 %",
                     f"{muster['per_second'] / crud['per_second']:.0%} "
                     f"({muster['per_second']:.0f} vs {crud['per_second']:.0f}/s)"])  # fmt: skip
    for run in results.get("replay", []):
        rows.append([f"reporting's rebuild rate, {run['events']:,} events", "≥ 50,000 events/s",
                     f"{run['rebuild_rate']:,.0f} events/s ({run['rebuild_seconds']:.1f} s, "
                     f"{run['rebuild_write_seconds']:.1f} s of it writing)"])  # fmt: skip
        rebuilds = run.get("rebuilds", {})
        if rebuilds:
            rows.append(rebuild_target_row(run["events"], rebuilds))
        q = run["query_latency_ms"]
        if q:
            rows.append([f"report query p99 at {run['events']:,} events", "≤ 20 ms, flat",
                         f"p50 {q['p50']:.1f} ms, p99 {q['p99']:.1f} ms"])  # fmt: skip
        q = run.get("as_of_latency_ms")
        if q:
            rows.append([f"as-of report query p99 at {run['events']:,} events", "≤ 20 ms, flat",
                         f"p50 {q['p50']:.1f} ms, p99 {q['p99']:.1f} ms"])  # fmt: skip
    totals = results.get("totals")
    if totals is not None:
        waited = totals.get("settled_after_seconds", 0.0)
        rows.append(["reports equal the ground truth", "exactly",
                     f"yes (after {waited:.0f} s)" if not totals["mismatches"]
                     else f"NO, not within {waited:.0f} s: {totals['mismatches']}"])  # fmt: skip
    for run in results.get("replay", []):
        rows.append([f"rebuilt totals, {run['events']:,} events", "exactly",
                     "yes" if run["totals_match"] else f"NO: {run['mismatches']}"])  # fmt: skip
    scale = results.get("scale_out")
    if scale:
        runs = scale["runs"]
        figures = ", ".join(
            f"{n} process{'es' if n != '1' else ''}: {r['events_per_second']:.0f} events/s "
            f"({r['seconds_to_catch_up']:.0f} s)"
            for n, r in runs.items()
        )
        rows.append(["a second reporting consumer raises throughput", "measured", figures])
    return rows


def baseline_rows(results: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    events = _get(results, "steady", "events_per_second")
    check_ins = _get(results, "capacity", "muster", "check_in", "per_second")
    for name, key in (("Kafka ProducerPerformance", "kafka_producer_perf"),
                      ("raw aiokafka producer loop", "aiokafka_loop")):  # fmt: skip
        baseline = results.get(key)
        if not baseline or "per_second" not in baseline:
            if baseline:
                rows.append([name, "failed", baseline.get("error", "")[:80], "", ""])
            continue
        rate = baseline["per_second"]
        rows.append([name, f"{rate:,.0f} records/s",
                     f"{events / rate:.2%}" if events else "–",
                     f"{check_ins * 2 / rate:.2%}" if check_ins else "–",
                     baseline.get("load_average", "")])  # fmt: skip
    crud = _get(results, "capacity", "crud", "check_in", "per_second")
    if crud:
        rows.append(["plain CRUD check-in endpoint", f"{crud:,.0f} check-ins/s", "–",
                     f"{check_ins / crud:.0%}" if check_ins else "–",
                     _get(results, "capacity", "load_average_after") or ""])  # fmt: skip
    return rows


def rebuild_rows(results: dict[str, Any]) -> list[list[str]]:
    """Each service's rebuild at each log size beside its two baselines."""
    rows: list[list[str]] = []
    for run in results.get("replay", []):
        for service, r in run.get("rebuilds", {}).items():
            read, insert = r["raw_read"], r["raw_insert_many"]
            rows.append([
                f"{run['events']:,}", service, f"{r['events']:,}",
                f"{r['rate']:,.0f}/s ({r['seconds']:.1f} s)",
                f"{read['per_second']:,.0f}/s", _times(r["rate_to_raw_read"]),
                f"{r['write_seconds']:.1f} s", f"{insert['seconds']:.1f} s "
                f"({insert['documents']:,} docs)", _times(r["write_to_raw_insert"]),
                _mb(r["peak_rss_mb"]), run.get("load_average", ""),
            ])  # fmt: skip
    return rows


def cpu_rows(results: dict[str, Any]) -> list[list[str]]:
    steady = results.get("steady")
    if not steady:
        return []
    return [
        [name, f"{seconds:.1f}", f"{steady['cpu_seconds_per_1000_events'][name]:.2f}"]
        for name, seconds in sorted(steady["cpu_seconds"].items())
    ]


def pipeline_rows(results: dict[str, Any]) -> list[list[str]]:
    """Each service's consumer and relay in the steady mix (from its `/metrics`)."""
    rows: list[list[str]] = []
    for service, f in (_get(results, "steady", "pipeline") or {}).items():
        if "batches" in f:
            slowest = sorted(
                ((v, k.split(".", 1)[1]) for k, v in f.items() if k.startswith("ms_per_batch.")),
                reverse=True,
            )[:2]
            rows.append([service, "consumer batches", f"{f['batches']:.0f}",
                         f"{f['events_per_batch']:.1f} events", f"{f['ms_per_batch']:.1f} ms",
                         ", ".join(f"{n} {v:.1f} ms" for v, n in slowest)])  # fmt: skip
        if "relay_rounds" in f:
            rows.append([service, "relay rounds", f"{f['relay_rounds']:.0f}",
                         f"{f['relay_events_per_round']:.1f} events",
                         f"{f['relay_ms_per_round']:.1f} ms", ""])  # fmt: skip
    return rows


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table


OPERATION_COLUMNS = ["phase", "operation", "ok", "per s", "p50 ms", "p95 ms", "p99 ms", "errors"]
TARGET_COLUMNS = ["figure", "target", "measured"]
BASELINE_COLUMNS = [
    "baseline",
    "its rate",
    "Muster events/s ÷ it",
    "Muster check-in events ÷ it",
    "load average",
]
REBUILD_COLUMNS = [
    "log",
    "service",
    "events replayed",
    "rebuild rate",
    "raw aiokafka read",
    "rate ÷ raw read",
    "writing",
    "raw insert_many",
    "writing ÷ raw",
    "peak RSS",
    "load average",
]
CPU_COLUMNS = ["process", "CPU s in the steady mix", "CPU s per 1,000 events"]
PIPELINE_COLUMNS = ["service", "step", "count", "per step", "time per step", "slowest projections"]


def tables(results: dict[str, Any]) -> Group:
    parts: list[Any] = []
    if operation_rows(results):
        parts.append(_table("operations (open loop)", OPERATION_COLUMNS, operation_rows(results)))
    lags = results.get("lags", {})
    if lags:
        parts.append(
            _table(
                "pipeline latency (ms)",
                ["", "n", "p50", "p95", "p99", "max"],
                [
                    [
                        name,
                        str(s.get("n", 0)),
                        _ms(s, "p50"),
                        _ms(s, "p95"),
                        _ms(s, "p99"),
                        _ms(s, "max"),
                    ]
                    for name, s in lags.items()
                ],
            )
        )
    if cpu_rows(results):
        parts.append(_table("CPU per process", CPU_COLUMNS, cpu_rows(results)))
    if pipeline_rows(results):
        parts.append(_table("consumers and relays", PIPELINE_COLUMNS, pipeline_rows(results)))
    if baseline_rows(results):
        parts.append(_table("baselines", BASELINE_COLUMNS, baseline_rows(results)))
    if rebuild_rows(results):
        parts.append(
            _table("rebuilds beside their baselines", REBUILD_COLUMNS, rebuild_rows(results))
        )
    parts.append(_table("targets", TARGET_COLUMNS, target_rows(results)))
    return Group(*parts)


def _markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    parts = [
        f"Measured {results['started_at']} → {results['finished_at']} with `{results['command']}`.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}, Linux {m['kernel']}, "
        f"Python {m['python']}, {m['java']}; Kafka and FerretDB 1.24 (SQLite) on the same "
        f"machine. Load average (1/5/15 min) at start: {results['load_average_at_start']}"
        + (
            f", after the steady mix: {results['steady']['load_average_after']}"
            if "steady" in results
            else ""
        )
        + ".",
        "",
        *(
            [
                "Parts measured in separate runs: "
                + "; ".join(
                    f"{part}: `{run.get('command')}` (finished {run.get('finished_at', '?')}, "
                    f"load average at start {run.get('load_average_at_start', '?')})"
                    for part, run in results["part_runs"].items()
                )
                + ".",
                "",
            ]
            if len({run.get("finished_at") for run in results.get("part_runs", {}).values()}) > 1
            else []
        ),
        *(
            [
                f"Parts that failed: {'; '.join(f'{k}: {v}' for k, v in results['failed'].items())}.",
                "",
            ]
            if results.get("failed")
            else []
        ),
        "### Targets",
        "",
        _markdown_table(TARGET_COLUMNS, target_rows(results)),
    ]
    if operation_rows(results):
        parts += ["", "### Operations (open loop, latency from the scheduled arrival)", "",
                  _markdown_table(OPERATION_COLUMNS, operation_rows(results))]  # fmt: skip
    lags = results.get("lags", {})
    if lags:
        parts += ["", "### Pipeline latency (ms)", "", _markdown_table(
            ["", "n", "p50", "p95", "p99", "max"],
            [[k, str(s.get("n", 0)), _ms(s, "p50"), _ms(s, "p95"), _ms(s, "p99"), _ms(s, "max")]
             for k, s in lags.items()],
        )]  # fmt: skip
    if cpu_rows(results):
        parts += ["", "### CPU per process (steady mix)", "",
                  _markdown_table(CPU_COLUMNS, cpu_rows(results))]  # fmt: skip
    if pipeline_rows(results):
        parts += ["", "### Consumers and relays (steady mix, from each service's /metrics)", "",
                  _markdown_table(PIPELINE_COLUMNS, pipeline_rows(results))]  # fmt: skip
    if baseline_rows(results):
        parts += ["", "### Baselines (same run, same machine)", "",
                  _markdown_table(BASELINE_COLUMNS, baseline_rows(results))]  # fmt: skip
    if rebuild_rows(results):
        parts += ["", "### Rebuilds beside a raw aiokafka read and a raw insert_many (same run)",
                  "", _markdown_table(REBUILD_COLUMNS, rebuild_rows(results))]  # fmt: skip
    return "\n".join(parts) + "\n"


def write(results: dict[str, Any], path: Path) -> None:
    """JSON beside the Markdown; the Markdown section between the bench markers is replaced.
    A missing folder is made (an hour's figures must not be lost to a typo'd `--output`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_bytes(
        orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    section = f"{BEGIN}\n{markdown(results)}{END}"
    text = path.read_text() if path.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)
