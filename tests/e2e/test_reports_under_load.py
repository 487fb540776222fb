"""Reporting stays alive under the heaviest report queries the API allows (the longest
daily series, the deepest as-of, the largest spreadsheet exports), 8 clients at once:
`/healthz` answers every probe meanwhile, the consumer keeps its place in its group and
goes on counting, every heavy query is answered (exactly, or refused as busy with
`Retry-After`), and the query that once froze the service is refused before any work.

How fast `/healthz` answers is measured by `make bench-healthz`, not asserted here."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from openpyxl import load_workbook

from muster_cli.sample import SampleVolunteers
from muster_contracts.envelope import Role
from muster_reporting.entrypoints.exports import XLSX_TYPE
from tests.conftest import kafka_bootstrap
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_register_to_report import DISTRICT, auth, report, wait_for
from tools.healthz_under_load import WORKERS, heavy_queries

LOAD_SECONDS = 15.0
VOLUNTEERS = 30  # registered first: the reports and exports have figures to compare
PROBE_EVERY = 0.05
# A probe or query not answered within this counts as stalled (generous: a loaded machine).
PATIENCE = 30.0
# The query that built the whole range before refusing it (8-21 s, issue 23).
WIDEST = ("/reports/service/series", {"granularity": "day", "from": "0001-01-01", "to": "9999-12-31"})  # fmt: skip


Queries = list[tuple[str, dict[str, str]]]


def _figures(answer: httpx.Response) -> Any:
    """What an answer says: a JSON body, or a workbook's cells (its bytes carry its time)."""
    if answer.headers["content-type"] != XLSX_TYPE:
        return answer.json()
    sheet = load_workbook(io.BytesIO(answer.content), read_only=True).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def _register(system: RunningSystem, volunteers: int, seed: int) -> None:
    sample = SampleVolunteers(seed)
    for _ in range(volunteers):
        registered = httpx.post(
            f"{system.urls['volunteer']}/volunteers",
            json=sample.draw(),
            headers=auth(Role.ORGANISER) | {"Idempotency-Key": str(uuid.uuid4())},
        )
        assert registered.status_code == 201, registered.text


@dataclass
class Load:
    running: int = 0  # heavy queries in flight
    answers: list[tuple[str, dict[str, str], httpx.Response]] = field(default_factory=list)
    probes: list[int] = field(default_factory=list)  # statuses
    probes_while_heavy: int = 0  # probes answered while heavy queries were in flight


async def _group(group_id: str) -> tuple[str, set[str]]:
    """The consumer group's state and its members' ids."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap())
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group_id])
    finally:
        await admin.close()
    for response in described:
        for group in response.groups:
            # (error code, group id, state, protocol type, protocol, members)
            return group[2], {member[0] for member in group[5]}
    return "Unknown", set()


async def _stable_group(group_id: str) -> set[str]:
    deadline = time.monotonic() + 60
    while True:
        state, members = await _group(group_id)
        if (state == "Stable" and members) or time.monotonic() > deadline:
            assert state == "Stable", f"group {group_id}: {state}"
            assert members, f"group {group_id} has no members"
            return members
        await asyncio.sleep(0.5)


async def _probe(client: httpx.AsyncClient, load: Load, until: float) -> None:
    while time.monotonic() < until:
        answer = await client.get("/healthz", timeout=PATIENCE)
        load.probes.append(answer.status_code)
        if load.running:
            load.probes_while_heavy += 1
        await asyncio.sleep(PROBE_EVERY)


async def _query(
    client: httpx.AsyncClient, queries: Queries, load: Load, worker: int, until: float
) -> None:
    turn = worker
    headers = auth(Role.LEADER)
    while time.monotonic() < until:
        path, params = queries[turn % len(queries)]
        turn += 1
        load.running += 1
        try:
            answer = await client.get(path, params=params, headers=headers, timeout=PATIENCE)
        finally:
            load.running -= 1
        load.answers.append((path, params, answer))
        if answer.status_code == 503:
            await asyncio.sleep(float(answer.headers["Retry-After"]))


async def test_reporting_stays_alive_and_exact_under_the_heaviest_queries(
    system: RunningSystem,
) -> None:
    group_id = f"{system.topic_prefix}.reporting"
    _register(system, VOLUNTEERS, seed=2323)
    counted = wait_for(
        lambda: report(system, DISTRICT), lambda r: r["area"]["registered"] >= VOLUNTEERS, 60
    )
    assert counted["area"]["registered"] == VOLUNTEERS
    members = await _stable_group(group_id)
    queries = heavy_queries(datetime.now(UTC))
    async with httpx.AsyncClient(base_url=system.urls["reporting"]) as client:
        # The figures each query answers when nothing else runs.
        quiet = {}
        for path, params in queries:
            answer = await client.get(
                path, params=params, headers=auth(Role.LEADER), timeout=PATIENCE
            )
            assert answer.status_code == 200, answer.text
            quiet[(path, str(sorted(params.items())))] = _figures(answer)
        load = Load()
        until = time.monotonic() + LOAD_SECONDS
        widest = asyncio.create_task(
            client.get(WIDEST[0], params=WIDEST[1], headers=auth(Role.LEADER), timeout=PATIENCE)
        )
        await asyncio.gather(
            _probe(client, load, until),
            *(_query(client, queries, load, worker, until) for worker in range(WORKERS)),
        )
        refused = await widest

    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "range_too_long")
    assert load.probes
    assert set(load.probes) == {200}
    assert load.probes_while_heavy > 0
    answered: set[str] = set()
    for path, params, answer in load.answers:
        if answer.status_code == 503:
            assert answer.json()["error"]["code"] == "reports_busy", answer.text
            assert int(answer.headers["Retry-After"]) >= 1
            continue
        assert answer.status_code == 200, answer.text
        key = (path, str(sorted(params.items())))
        assert _figures(answer) == quiet[key], key
        answered.add(key[0] + key[1])
    assert len(answered) == len(quiet)  # every kind of query was answered at least once

    # The consumer kept its membership (a lost session rejoins under a new member id)...
    assert await _stable_group(group_id) == members
    # ...and goes on counting.
    _register(system, 1, seed=2324)
    after = wait_for(
        lambda: report(system, DISTRICT), lambda r: r["area"]["registered"] > VOLUNTEERS, 60
    )
    assert after["area"]["registered"] == VOLUNTEERS + 1


def test_heavy_reports_document_their_busy_answer(system: RunningSystem) -> None:
    document: dict[str, Any] = httpx.get(f"{system.urls['reporting']}/openapi.json").json()
    for path in ("/reports/service/series", "/reports/volunteers", "/reports/stars"):
        busy = document["paths"][path]["get"]["responses"]["503"]
        assert "reports_busy" in busy["description"]
        assert "Retry-After" in busy["headers"]
        assert busy["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorAnswer"
        }
