"""Reading spans back: traces joined across files, trees by parent, ids by prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from muster_cli.traces import find_trace, load_spans, summaries, tree_rows


def span(
    trace: str, span_id: str, parent: str | None, name: str, service: str, start: int
) -> dict[str, Any]:
    return {
        "trace_id": trace,
        "span_id": span_id,
        "parent_id": parent,
        "name": name,
        "service": service,
        "start_ns": start,
        "end_ns": start + 5,
        "status": "unset",
        "attributes": {},
    }


def test_a_trace_is_joined_from_every_service_file_and_printed_as_a_tree(tmp_path: Path) -> None:
    volunteer = [
        span("aa11", "s1", "caller", "POST /x", "volunteer", 0),
        span("aa11", "s2", "s1", "command x", "volunteer", 1),
        span("aa11", "s4", "s2", "publish t", "volunteer", 10),
        span("aa11", "s3", "s2", "append x", "volunteer", 2),
        span("bb22", "z1", None, "GET /y", "volunteer", 50),
    ]
    dispatch = [span("aa11", "s5", "s4", "consume t", "dispatch", 20)]
    (tmp_path / "volunteer.jsonl").write_bytes(b"".join(orjson.dumps(s) + b"\n" for s in volunteer))
    # A half-written last line (the writer is still running) is skipped.
    (tmp_path / "dispatch.jsonl").write_bytes(orjson.dumps(dispatch[0]) + b'\n{"trace_id": "aa')

    spans = load_spans(sorted(tmp_path.glob("*.jsonl")))
    trace = find_trace(spans, "aa")

    assert [(depth, s["name"]) for depth, s in tree_rows(trace)] == [
        (0, "POST /x"),
        (1, "command x"),
        (2, "append x"),
        (2, "publish t"),
        (3, "consume t"),
    ]
    assert find_trace(spans, "cc") == []
    listed = summaries(spans)
    assert [(t.trace_id, t.root["name"], t.services) for t in listed] == [
        ("aa11", "POST /x", ["dispatch", "volunteer"]),
        ("bb22", "GET /y", ["volunteer"]),
    ]
    assert [t.trace_id for t in summaries(spans, "GET")] == ["bb22"]
    assert listed[0].duration_ms == 25 / 1e6
