"""What an operator sees of one check-in: one trace across the services (read back from
each process's span file), logs with trace and correlation ids and no personal data,
and metrics that move."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from muster_cli.sample import SampleVolunteers
from muster_cli.traces import find_trace, load_spans, trace_files, tree_rows
from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_register_to_report import _metric, auth, wait_for

PLACE = (39.6300, 118.1800)


@pytest.fixture(scope="module")
def check_in(system: RunningSystem) -> dict[str, Any]:
    """A registered volunteer checks in at an activity, as a traced caller would ask."""
    volunteer_url, dispatch_url = system.urls["volunteer"], system.urls["dispatch"]
    form = SampleVolunteers(seed=8080).draw()
    headers = auth(Role.VOLUNTEER, subject=f"traced-{uuid.uuid4().hex[:8]}")
    registered = httpx.post(f"{volunteer_url}/volunteers", json=form, headers=headers)
    assert registered.status_code == 201, registered.text
    volunteer_id = registered.json()["volunteer_id"]
    now = datetime.now(UTC)
    scheduled = httpx.post(
        f"{dispatch_url}/activities",
        json={
            "drive_id": "drive-traced",
            "title": "垃圾分类宣传",
            "place_area_id": "130203001001",
            "latitude": PLACE[0],
            "longitude": PLACE[1],
            "category": "environment",
            "starts_at": (now - timedelta(minutes=30)).isoformat(),
            "ends_at": (now + timedelta(hours=2)).isoformat(),
            "capacity": 5,
            "assigned_volunteer_ids": [volunteer_id],
        },
        headers=auth(Role.ORGANISER),
    )
    assert scheduled.status_code == 201, scheduled.text
    activity_id = scheduled.json()["activity_id"]
    code = httpx.get(
        f"{dispatch_url}/activities/{activity_id}/check-in-code", headers=auth(Role.ORGANISER)
    ).json()["code"]
    body = {"code": code, "latitude": PLACE[0], "longitude": PLACE[1]}
    url = f"{volunteer_url}/activities/{activity_id}/check-in"
    # Untraced tries until the volunteer service has heard of the activity from dispatch.
    wait_for(
        lambda: httpx.post(url, json=body | {"code": "not-a-code"}, headers=headers),
        lambda r: r.status_code != 404,
        timeout=30,
    )
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    request_id = str(uuid.uuid4())
    response = httpx.post(
        url,
        json=body,
        headers=headers
        | {"traceparent": f"00-{trace_id}-{caller_span}-01", "X-Request-ID": request_id},
    )
    assert response.status_code == 200, response.text
    return {
        "trace_id": trace_id,
        "caller_span": caller_span,
        "request_id": request_id,
        "response": response,
        "volunteer_id": volunteer_id,
        "form": form,
    }


def _spans_of(system: RunningSystem, trace_id: str, until: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        spans = find_trace(load_spans(trace_files_of(system)), trace_id)
        if until(spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.2)


def trace_files_of(system: RunningSystem) -> list[Path]:
    return [p for p in trace_files(system.logs) if p.name.endswith(".traces.jsonl")]


def _chain(spans: list[dict[str, Any]], leaf: dict[str, Any]) -> list[tuple[str, str]]:
    """(service, span name) from the root down to `leaf`."""
    by_id = {s["span_id"]: s for s in spans}
    chain = [leaf]
    while chain[-1].get("parent_id") in by_id:
        chain.append(by_id[chain[-1]["parent_id"]])
    return [(s["service"], s["name"]) for s in reversed(chain)]


def test_one_check_in_is_one_connected_trace_across_the_services(
    system: RunningSystem, check_in: dict[str, Any]
) -> None:
    topic = f"{system.topic_prefix}.volunteer.events"

    def complete(spans: list[dict[str, Any]]) -> bool:
        # Each process exports on its own schedule: wait for every hop's span to be written.
        names = {(s["service"], s["name"]) for s in spans}
        return {
            ("volunteer", "POST /activities/{activity_id}/check-in"),
            ("volunteer", "command check_in"),
            ("volunteer", "append attendance"),
            ("volunteer", f"publish {topic}"),
            ("dispatch", "project LiveReadModels"),
            ("reporting", "project LiveInsights"),
        } <= names

    def outside(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The spans whose parent is not in the trace."""
        ids = {s["span_id"] for s in spans}
        return [s for s in spans if s.get("parent_id") not in ids]

    def exported(spans: list[dict[str, Any]]) -> bool:
        # A parent span ends, and is exported, after its children: wait for the parents too.
        return complete(spans) and len(outside(spans)) == 1

    spans = _spans_of(system, check_in["trace_id"], exported)

    assert complete(spans), sorted({(s["service"], s["name"]) for s in spans})
    # Connected: every span's parent is in the trace, but the root's, which is the caller's.
    roots = outside(spans)
    assert [s["parent_id"] for s in roots] == [check_in["caller_span"]], roots
    assert roots[0]["name"] == "POST /activities/{activity_id}/check-in"
    assert roots[0]["attributes"]["http.route"] == "/activities/{activity_id}/check-in"
    assert roots[0]["attributes"].get("net.peer.ip", "") == ""  # the caller's address is theirs
    assert {s["trace_id"] for s in spans} == {check_in["trace_id"]}
    leaf = next(
        s for s in spans if s["name"] == "project LiveReadModels" and s["service"] == "dispatch"
    )
    assert _chain(spans, leaf) == [
        ("volunteer", "POST /activities/{activity_id}/check-in"),
        ("volunteer", "command check_in"),
        ("volunteer", "append attendance"),
        ("volunteer", f"publish {topic}"),
        ("dispatch", f"consume {topic}"),
        ("dispatch", "project LiveReadModels"),
    ]
    reporting = next(s for s in spans if s["name"] == "project LiveInsights")
    assert _chain(spans, reporting)[3:] == [
        ("volunteer", f"publish {topic}"),
        ("reporting", f"consume {topic}"),
        ("reporting", "project LiveInsights"),
    ]
    consumed = next(
        s for s in spans if s["service"] == "dispatch" and s["name"] == f"consume {topic}"
    )
    assert consumed["attributes"]["muster.event_type"] == "attendance.checked_in"
    # Time runs forward along the hops (the relay publishes after the append, later).
    by_name = {s["name"]: s for s in spans if s["service"] == "volunteer"}
    assert by_name[f"publish {topic}"]["start_ns"] >= by_name["append attendance"]["start_ns"]
    assert consumed["start_ns"] >= by_name[f"publish {topic}"]["start_ns"]
    assert [d for d, _ in tree_rows(spans)][:1] == [0]


def test_logs_are_json_lines_with_trace_and_correlation_ids(
    system: RunningSystem, check_in: dict[str, Any]
) -> None:
    assert check_in["response"].headers["X-Request-ID"] == check_in["request_id"]
    entries = []
    for service in ("volunteer", "dispatch", "reporting"):
        for line in (system.logs / f"{service}.log").read_bytes().splitlines():
            entry = orjson.loads(line)  # every line is one JSON object
            assert entry["service"] == service
            entries.append(entry)
    mine = [e for e in entries if e.get("trace_id") == check_in["trace_id"]]
    request = next(e for e in mine if e["msg"] == "request")
    assert request["route"] == "/activities/{activity_id}/check-in"
    assert request["status"] == 200
    assert request["correlation_id"] == check_in["request_id"]
    appended = next(e for e in mine if e["msg"] == "events appended")
    assert appended["event_types"] == ["attendance.checked_in"]
    assert appended["stream_id"].startswith("attendance-")
    assert appended["correlation_id"] == check_in["request_id"]
    assert len(appended["span_id"]) == 16


def test_no_personal_data_in_logs_or_traces(
    system: RunningSystem, check_in: dict[str, Any]
) -> None:
    form = check_in["form"]
    digits = "".join(c for c in form["phone"] if c.isdigit())
    secrets_of_the_person = {form["name"], form["phone"], digits, digits[-8:]}
    # Let the consumers and the exporters catch up, then read everything the run wrote.
    time.sleep(1.0)
    written = {
        path.name: path.read_text(encoding="utf-8") for path in sorted(system.logs.iterdir())
    }
    assert {"volunteer.log", "volunteer.traces.jsonl"} <= set(written)
    for name, text in written.items():
        for secret in secrets_of_the_person:
            assert secret not in text, f"{secret!r} found in {name}"


def test_operational_metrics_move(system: RunningSystem, check_in: dict[str, Any]) -> None:
    def scrape(service: str) -> str:
        return httpx.get(f"{system.urls[service]}/metrics").text

    volunteer, dispatch = scrape("volunteer"), scrape("dispatch")
    route = {"route": "/activities/{activity_id}/check-in", "method": "POST", "status": "200"}
    assert _metric(volunteer, "muster_http_requests_total", **route) >= 1
    assert _metric(volunteer, "muster_http_request_seconds_count", **route) >= 1
    assert _metric(volunteer, "muster_relay_delay_seconds_count") >= 1
    assert _metric(volunteer, "muster_relay_publish_seconds_count") >= 1
    assert (
        _metric(dispatch, "muster_projection_apply_seconds_count", projection="LiveReadModels") >= 1
    )
    topic = f"{system.topic_prefix}.volunteer.events"
    # Lag per partition is measured every few seconds; consumed to the end it is zero.
    lag = wait_for(
        lambda: scrape("dispatch"),
        lambda text: all(
            f'muster_consumer_lag{{partition="{p}",topic="{topic}"}}' in text for p in range(3)
        ),
        timeout=30,
    )
    for partition in range(3):
        assert _metric(lag, "muster_consumer_lag", topic=topic, partition=str(partition)) >= 0
    settled = wait_for(
        lambda: scrape("dispatch"),
        lambda text: (
            sum(
                _metric(text, "muster_consumer_lag", topic=topic, partition=str(p))
                for p in range(3)
            )
            == 0
        ),
        timeout=30,
    )
    assert (
        sum(
            _metric(settled, "muster_consumer_lag", topic=topic, partition=str(p)) for p in range(3)
        )
        == 0
    )
    backlog = wait_for(
        lambda: scrape("volunteer"),
        lambda text: "muster_relay_backlog " in text and _metric(text, "muster_relay_backlog") == 0,
    )
    assert _metric(backlog, "muster_relay_backlog") == 0
    assert "muster_relay_oldest_unpublished_seconds" in backlog
    assert "muster_dead_letters_total" in dispatch
