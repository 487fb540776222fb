"""`muster traces` and `muster trace <id>`: read the spans the `file` exporter wrote.

The local stack runs every service with `MUSTER_TRACE_EXPORTER=file`, one JSON-lines
file per service under `.state/traces/`; a trace that crossed services is the union of
its spans in those files, joined by trace id and parent span id.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

Span = dict[str, Any]

# What a row shows of a span's attributes, when it has them.
SHOWN_ATTRIBUTES = (
    "http.status_code",
    "http.response.status_code",
    "muster.stream_id",
    "muster.event_type",
    "muster.event_types",
    "messaging.kafka.destination.partition",
    "messaging.kafka.message.offset",
    "messaging.batch.message_count",
    "muster.outbox_wait_ms",
)


def default_trace_dir() -> Path:
    return Path(os.environ.get("MUSTER_STATE_DIR", ".state")) / "traces"


def load_spans(paths: Iterable[Path]) -> list[Span]:
    """Every span in the files; a line cut short by a running writer is skipped."""
    spans: list[Span] = []
    for path in paths:
        with path.open("rb") as lines:
            for line in lines:
                try:
                    spans.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    continue
    return spans


def trace_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


@dataclass(frozen=True)
class TraceSummary:
    trace_id: str
    root: Span
    spans: list[Span]

    @property
    def services(self) -> list[str]:
        return sorted({s["service"] for s in self.spans})

    @property
    def started_ns(self) -> int:
        return min(int(s["start_ns"]) for s in self.spans)

    @property
    def duration_ms(self) -> float:
        return (max(int(s["end_ns"]) for s in self.spans) - self.started_ns) / 1e6


def by_trace(spans: list[Span]) -> dict[str, list[Span]]:
    traces: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        traces[span["trace_id"]].append(span)
    return traces


def roots(spans: list[Span]) -> list[Span]:
    """Spans whose parent is not among them (the caller's span may live elsewhere)."""
    ids = {s["span_id"] for s in spans}
    return sorted(
        (s for s in spans if s.get("parent_id") not in ids), key=lambda s: int(s["start_ns"])
    )


def summaries(spans: list[Span], match: str | None = None) -> list[TraceSummary]:
    """One summary per trace, oldest first; `match` filters on the root span's name."""
    found = []
    for trace_id, members in by_trace(spans).items():
        root = roots(members)[0]
        if match and match not in root["name"]:
            continue
        found.append(TraceSummary(trace_id, root, members))
    return sorted(found, key=lambda t: t.started_ns)


def find_trace(spans: list[Span], trace_id: str) -> list[Span]:
    """The spans of the trace whose id is or starts with `trace_id`."""
    traces = by_trace(spans)
    matches = [t for t in traces if t.startswith(trace_id.lower())]
    if len(matches) != 1:
        return []
    return traces[matches[0]]


def tree_rows(spans: list[Span]) -> list[tuple[int, Span]]:
    """(depth, span) in depth-first order, children by start time."""
    children: dict[str | None, list[Span]] = defaultdict(list)
    for span in spans:
        children[span.get("parent_id")].append(span)
    rows: list[tuple[int, Span]] = []

    def walk(span: Span, depth: int) -> None:
        rows.append((depth, span))
        for child in sorted(children[span["span_id"]], key=lambda s: int(s["start_ns"])):
            walk(child, depth + 1)

    for root in roots(spans):
        walk(root, 0)
    return rows


def _detail(span: Span) -> str:
    attributes = span.get("attributes", {})
    parts = []
    for key in SHOWN_ATTRIBUTES:
        if key in attributes:
            value = attributes[key]
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            parts.append(f"{key.rsplit('.', 1)[-1]}={value}")
    return " ".join(parts)


def trace_table(spans: list[Span]) -> Table:
    start = min(int(s["start_ns"]) for s in spans)
    table = Table(title=f"trace {spans[0]['trace_id']} ({len(spans)} spans)")
    table.add_column("span", no_wrap=True)
    table.add_column("service")
    table.add_column("offset ms", justify="right")
    table.add_column("duration ms", justify="right")
    table.add_column("details", overflow="fold")
    for depth, span in tree_rows(spans):
        name = "  " * depth + span["name"]
        if span.get("status") == "error":
            name += " [red](error)[/red]"
        table.add_row(
            name,
            span["service"],
            f"{(int(span['start_ns']) - start) / 1e6:.1f}",
            f"{(int(span['end_ns']) - int(span['start_ns'])) / 1e6:.1f}",
            _detail(span),
        )
    return table


def summary_table(found: list[TraceSummary]) -> Table:
    table = Table(title=f"{len(found)} trace(s)")
    for column in ("trace id", "root span", "services", "spans", "duration ms"):
        table.add_column(column)
    for summary in found:
        table.add_row(
            summary.trace_id,
            summary.root["name"],
            ", ".join(summary.services),
            str(len(summary.spans)),
            f"{summary.duration_ms:.1f}",
        )
    return table


def show_trace(console: Console, directory: Path, trace_id: str) -> int:
    spans = find_trace(load_spans(trace_files(directory)), trace_id)
    if not spans:
        console.print(f"no single trace {trace_id!r} in {directory}")
        return 1
    console.print(trace_table(spans))
    return 0


def show_traces(console: Console, directory: Path, last: int, match: str | None) -> int:
    files = trace_files(directory)
    if not files:
        console.print(f"no trace files in {directory} (is MUSTER_TRACE_EXPORTER=file set?)")
        return 1
    found = summaries(load_spans(files), match)[-last:]
    console.print(summary_table(found))
    return 0
