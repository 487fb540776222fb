"""Concurrent approvals over HTTP on two dispatch processes sharing one store: every
volunteer's credited hours equal the hours counted from the same set of approvals.

Overlapping, over-cap and over-midnight activities of shared volunteers are approved all
at once, alternately through each process; then each activity's records, and the district's
hours in reporting, are compared with the day rule applied to the whole set. Seeded:
`MUSTER_TEST_SEED` replays a run.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from muster_cli.bench.measure import free_ports
from muster_contracts.envelope import Role
from muster_dispatch.domain.hours import HoursPolicy, Interval, credit_day, local_days
from tests.e2e.conftest import RunningSystem, ready_by
from tests.e2e.test_activities_and_hours import _eventually
from tests.e2e.test_register_to_report import auth

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = HoursPolicy()
VOLUNTEERS = [f"cc-{n:02d}" for n in range(16)]
# (local start hour, minute, length in minutes) on two days before today: overlapping (A, B),
# two six-hour ones (C, D), one over midnight (E), the README's example (F, G).
PLAN = {
    "A": (0, 9, 0, 240),
    "B": (0, 11, 0, 240),
    "C": (0, 7, 0, 360),
    "D": (0, 13, 0, 360),
    "E": (0, 22, 0, 240),
    "F": (1, 8, 58, 208),
    "G": (1, 11, 5, 255),
}


@pytest.fixture(scope="module")
def second_dispatch(system: RunningSystem) -> Iterator[str]:
    """Another dispatch process on the same database, topics and consumer group."""
    port = free_ports(1)[0]
    log = (system.logs / "dispatch-2.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "muster_dispatch"],
        env=system.environments["dispatch"] | {"MUSTER_HTTP_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert ready_by(url, time.monotonic() + 60, "dispatch"), "second dispatch not ready"
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_concurrent_approvals_on_two_processes_credit_the_set(
    system: RunningSystem, second_dispatch: str
) -> None:
    seed = int(os.environ.get("MUSTER_TEST_SEED", random.randrange(2**32)))
    print(f"seed {seed} (MUSTER_TEST_SEED={seed} replays this run)")
    rng = random.Random(seed)
    organiser = auth(Role.ORGANISER)
    dispatches = [system.urls["dispatch"], second_dispatch]
    first_day = datetime.now(UTC).astimezone(SHANGHAI).date() - timedelta(days=3)
    ids: dict[str, str] = {}
    attended: dict[str, dict[str, Interval]] = {}
    with httpx.Client(headers=organiser, timeout=60) as client:
        for name, (offset, hour, minute, length) in PLAN.items():
            day = first_day + timedelta(days=offset)
            starts = datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)
            ends = starts + timedelta(minutes=length)
            scheduled = client.post(
                f"{dispatches[0]}/activities",
                json={
                    "drive_id": "drive-concurrent", "title": f"巡逻 {name}",
                    "place_area_id": "130203001001", "category": "patrol",
                    "starts_at": starts.isoformat(), "ends_at": ends.isoformat(),
                    "capacity": len(VOLUNTEERS), "assigned_volunteer_ids": VOLUNTEERS,
                },
            )  # fmt: skip
            assert scheduled.status_code == 201, scheduled.text
            ids[name] = activity_id = scheduled.json()["activity_id"]
            for volunteer_id in VOLUNTEERS:
                if rng.random() < 0.3:
                    continue
                start = starts + timedelta(minutes=rng.choice([0, 2, 13]))
                end = ends - timedelta(minutes=rng.choice([0, 0, 7, 29]))
                corrected = client.post(
                    f"{dispatches[0]}/activities/{activity_id}/attendances/{volunteer_id}/correct",
                    json={
                        "check_in_at": start.isoformat(),
                        "check_out_at": end.isoformat(),
                        "reason": "纸质签到表",
                    },
                )
                assert corrected.status_code == 200, corrected.text
                attended.setdefault(volunteer_id, {})[activity_id] = Interval(start, end)

    async def approve_all() -> list[int]:
        async with httpx.AsyncClient(headers=organiser, timeout=120) as client:
            responses = await asyncio.gather(
                *(
                    client.post(f"{dispatches[i % 2]}/activities/{a}/approve")
                    for i, a in enumerate(rng.sample(sorted(ids.values()), len(ids)))
                )
            )
        return [r.status_code for r in responses]

    assert asyncio.run(approve_all()) == [200] * len(PLAN)

    credited: dict[tuple[str, date], dict[str, int]] = {}
    with httpx.Client(headers=organiser, timeout=60) as client:
        for activity_id in ids.values():
            view = client.get(f"{dispatches[1]}/activities/{activity_id}").json()
            for record in view["records"]:
                key = (record["volunteer_id"], date.fromisoformat(record["service_date"]))
                credited.setdefault(key, {})[activity_id] = record["minutes"]
    expected = {
        (volunteer_id, day): credit_day(spans, day, POLICY)
        for volunteer_id, spans in attended.items()
        for day in {d for span in spans.values() for d in local_days(span, POLICY.zone)}
    }
    total = sum(sum(d.values()) for d in expected.values())
    print(
        f"{len(PLAN)} approvals at once on 2 dispatch processes, {len(attended)} volunteers, "
        f"{len(expected)} volunteer-days: "
        f"{sum(sum(d.values()) for d in credited.values()) / 60:.1f} h credited, "
        f"{total / 60:.1f} h counted from the set"
    )
    assert credited == expected

    # Leadership's figure is the same sum (this module's system holds nothing else).
    def district_hours() -> float:
        response = httpx.get(
            f"{system.urls['reporting']}/reports/service",
            params={"area_id": "130203001"},
            headers=auth(Role.LEADER),
        )
        hours: float = response.json()["area"]["hours"]
        return hours

    assert _eventually(lambda: district_hours() == total / 60, timeout=60), district_hours()
