"""Command-line entry point.

Only the standard library and `dev_tokens` are imported here: each command imports what
it needs, so `muster token` (called many times by scripts) starts in tens of milliseconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from muster_auth.dev_tokens import issue_token
from muster_contracts.roles import Role


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="muster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    token = commands.add_parser("token", help="issue a development bearer token")
    token.add_argument("--subject", required=True)
    token.add_argument(
        "--role", required=True, choices=[r.value for r in Role if r is not Role.SYSTEM]
    )
    token.add_argument("--area", default="130203", help="area scope (default: 路北区 130203)")
    token.add_argument("--hours", type=float, default=12)

    demo = commands.add_parser(
        "demo", help="register a realistic batch of volunteers and print the report"
    )
    demo.add_argument("--volunteers", type=int, default=200)
    demo.add_argument("--concurrency", type=int, default=16)

    report = commands.add_parser("report", help="print registered volunteers by area")
    report.add_argument("--area", default="130203")

    bench = commands.add_parser(
        "bench",
        help="the performance benchmark: a district's mixed workload, baselines, replays",
        description="Runs its own service processes on the running Kafka and document store "
        "and writes docs/performance.md (and .json). With --registrations: only the "
        "register→report latency against the running services.",
    )
    bench.add_argument("--rate", type=float, default=20.0, help="operations/s offered")
    bench.add_argument("--duration", type=float, default=60.0, help="seconds of steady mix")
    bench.add_argument("--sustained", action="store_true", help="a 10-minute steady mix")
    bench.add_argument("--volunteers", type=int, default=0, help="0: enough for the mix")
    bench.add_argument(
        "--parts",
        default="mixed,capacity,baselines,replay,scale",
        help="comma-separated: mixed (includes capacity), capacity, baselines, replay, scale",
    )
    bench.add_argument(
        "--replay-events", default="10000,1000000", help="log sizes for rebuild and queries"
    )
    bench.add_argument("--queries", type=int, default=1000, help="report queries per log size")
    bench.add_argument("--capacity-seconds", type=float, default=20.0)
    bench.add_argument(
        "--probe-rate", type=float, default=2.0, help="append→report probe records per second"
    )
    bench.add_argument("--scale-out-events", type=int, default=600)
    bench.add_argument("--output", default="docs/performance.md")
    bench.add_argument("--registrations", type=int, default=0, help="register→report only")
    bench.add_argument("--concurrency", type=int, default=8)

    dead = commands.add_parser("dead-letters", help="list or re-drive a service's dead letters")
    dead.add_argument("action", choices=["list", "redrive"])
    dead.add_argument(
        "--service", required=True, choices=["volunteer", "dispatch", "reporting", "notify"]
    )

    trace = commands.add_parser("trace", help="print one trace's span tree (file exporter)")
    trace.add_argument("trace_id", help="a trace id, or its first characters")
    trace.add_argument("--dir", type=Path, default=None, help="default: $MUSTER_STATE_DIR/traces")
    traces = commands.add_parser("traces", help="list recent traces (file exporter)")
    traces.add_argument("--last", type=int, default=10, help="how many (newest last)")
    traces.add_argument("--match", help="only traces whose root span name contains this")
    traces.add_argument("--tree", action="store_true", help="print the newest one's span tree")
    traces.add_argument("--dir", type=Path, default=None, help="default: $MUSTER_STATE_DIR/traces")

    topics = commands.add_parser(
        "topics", help="create the missing topics and show partitions and retention"
    )
    topics.add_argument(
        "--align", action="store_true", help="set drifted retention settings back to the design"
    )

    audit = commands.add_parser(
        "audit", help="who did what: events by actor, volunteer or activity, newest first"
    )
    audit.add_argument("--actor", help="a token subject")
    audit.add_argument("--volunteer", help="a volunteer id")
    audit.add_argument("--activity", help="an activity id")
    audit.add_argument("--limit", type=int, default=50)

    args = parser.parse_args(argv)
    if args.command == "token":
        print(issue_token(args.subject, Role(args.role), args.area, args.hours))
        return 0

    import asyncio

    if args.command == "topics":
        return asyncio.run(_topics(align=args.align))
    if args.command in ("trace", "traces"):
        return _traces(args)
    if args.command == "audit":
        return asyncio.run(_audit(args.actor, args.volunteer, args.activity, args.limit))
    if args.command == "dead-letters":
        return asyncio.run(_dead_letters(args.action, args.service))
    from muster_cli import demo as demo_module

    if args.command == "demo":
        return asyncio.run(demo_module.run_demo(args.volunteers, args.concurrency))
    if args.command == "report":
        return asyncio.run(demo_module.print_report(args.area))
    if args.command == "bench" and args.registrations:
        return asyncio.run(demo_module.run_bench(args.registrations, args.concurrency))
    if args.command == "bench":
        return _bench(args, argv)
    return 2


if __name__ == "__main__":
    sys.exit(main())


async def _dead_letters(action: str, service: str) -> int:
    from rich.console import Console
    from rich.table import Table

    from muster_cli.operations import redrive_dead_letters
    from muster_runtime.dead_letters import list_dead_letters
    from muster_runtime.settings import ServiceSettings

    settings = ServiceSettings()
    console = Console()
    if action == "redrive":
        count = await redrive_dead_letters(settings.kafka_bootstrap, settings.topic_prefix, service)
        console.print(f"re-drove {count} dead letter(s) to their source topics")
        return 0
    letters = await list_dead_letters(settings.kafka_bootstrap, settings.topic_prefix, service)
    table = Table(title=f"dead letters of {service} ({len(letters)})")
    for column in ("offset", "source", "reason", "bytes"):
        table.add_column(column)
    for letter in letters:
        source = f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}"
        table.add_row(str(letter.offset), source, letter.reason[:80], repr(letter.value[:40]))
    console.print(table)
    return 0


def _traces(args: argparse.Namespace) -> int:
    from rich.console import Console

    from muster_cli import traces

    console = Console(width=None if Console().is_terminal else 160)
    directory = args.dir or traces.default_trace_dir()
    if args.command == "trace":
        return traces.show_trace(console, directory, args.trace_id)
    if args.tree:
        found = traces.summaries(traces.load_spans(traces.trace_files(directory)), args.match)
        if not found:
            console.print(f"no trace in {directory}")
            return 1
        return traces.show_trace(console, directory, found[-1].trace_id)
    return traces.show_traces(console, directory, args.last, args.match)


async def _topics(*, align: bool) -> int:
    from rich.console import Console
    from rich.table import Table

    from muster_cli import operations
    from muster_runtime import topics
    from muster_runtime.settings import ServiceSettings

    settings = ServiceSettings()
    console = Console()
    names = topics.all_topics(settings.topic_prefix)
    await topics.ensure_topics(
        settings.kafka_bootstrap, names, settings.topic_partitions, settings.topic_replication
    )
    states = await operations.describe(settings.kafka_bootstrap, names)
    if align:
        for name in await operations.align(settings.kafka_bootstrap, states):
            console.print(f"aligned the retention of {name}")
        states = await operations.describe(settings.kafka_bootstrap, names)
    table = Table(title=f"topics on {settings.kafka_bootstrap}")
    for column in ("topic", "partitions", "retention.ms", "retention.bytes", "cleanup", "drift"):
        table.add_column(column)
    for state in states:
        table.add_row(
            state.name,
            str(state.partitions),
            state.config.get("retention.ms", "?"),
            state.config.get("retention.bytes", "?"),
            state.config.get("cleanup.policy", "?"),
            ", ".join(f"{k} should be {v}" for k, v in state.drift.items()) or "—",
        )
    console.print(table)
    return 1 if any(s.drift for s in states) and not align else 0


def _bench(args: argparse.Namespace, argv: list[str] | None) -> int:
    from pathlib import Path

    from muster_cli.bench.run import BenchOptions, select_parts
    from muster_cli.bench.run import main as run_bench

    try:
        parts = select_parts(args.parts)
    except ValueError as exc:
        print(f"muster bench: {exc}", file=sys.stderr)
        return 2
    from muster_runtime.settings import ServiceSettings

    settings = ServiceSettings()
    options = BenchOptions(
        rate=args.rate,
        duration=600.0 if args.sustained else args.duration,
        volunteers=args.volunteers,
        capacity_seconds=args.capacity_seconds,
        probe_rate=args.probe_rate,
        replay_events=tuple(int(n) for n in args.replay_events.split(",") if n),
        scale_out_events=args.scale_out_events,
        queries=args.queries,
        kafka_bootstrap=settings.kafka_bootstrap,
        mongo_url=settings.mongo_url,
        output=Path(args.output),
        command=" ".join(["muster", *(sys.argv[1:] if argv is None else argv)]),
    )
    return run_bench(options, parts)


async def _audit(
    actor: str | None, volunteer_id: str | None, activity_id: str | None, limit: int
) -> int:
    """Query the volunteer and dispatch event stores directly (MUSTER_MONGO_URL)."""
    from rich.console import Console
    from rich.table import Table

    from muster_runtime.adapters.mongodb.audit import AuditTrail, audit_across
    from muster_runtime.adapters.mongodb.event_store import MongoEventStore
    from muster_runtime.errors import RuleViolationError
    from muster_runtime.mongo import connect
    from muster_runtime.settings import ServiceSettings

    settings = ServiceSettings()
    client = connect(settings.mongo_url)
    console = Console()
    try:
        trails = {
            service: AuditTrail(MongoEventStore(client[f"muster_{service}"]))
            for service in ("volunteer", "dispatch")
        }
        try:
            found = await audit_across(
                trails, actor=actor, volunteer_id=volunteer_id, activity_id=activity_id, limit=limit
            )
        except RuleViolationError as exc:
            console.print(f"[red]{exc.message}[/red]")
            return 2
    finally:
        await client.close()
    table = Table(title=f"audit ({len(found)} events, newest first)")
    for column in ("recorded at (UTC)", "service", "actor", "event", "stream"):
        table.add_column(column)
    for service, entry in found:
        table.add_row(
            f"{entry.recorded_at:%Y-%m-%d %H:%M:%S}",
            service,
            f"{entry.actor.role.value}:{entry.actor.subject}",
            entry.type,
            entry.stream_id,
        )
    console.print(table)
    return 0
