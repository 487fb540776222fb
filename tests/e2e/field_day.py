"""A small field day over the real API: a drive in one street, sign-ups and a withdrawal,
a team, an activity with check-ins and a correction (补签), approved hours.

What each step leaves is known, so reports can be checked against exact figures.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from muster_cli.sample import SampleVolunteers
from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem, next_minute
from tests.e2e.test_register_to_report import auth, wait_for

STREET = "130203001"
COMMUNITY = "130203001001"
PLACES = 5


@dataclass(frozen=True)
class FieldDay:
    drive_id: str
    activity_id: str
    started_at: datetime  # before the first event of the day
    decided_at: datetime  # every sign-up decided (7 signed up, 5 accepted), nothing later yet
    # signed up, accepted, assigned, checked in, hours approved
    funnel: tuple[int, int, int, int, int]


def _until(check: Any, timeout: float = 60) -> Any:
    """`check()` once it is truthy (or its last value when time runs out)."""
    return wait_for(check, bool, timeout)


def run_field_day(system: RunningSystem) -> FieldDay:
    volunteer = httpx.Client(base_url=system.urls["volunteer"], timeout=30)
    dispatch = httpx.Client(base_url=system.urls["dispatch"], timeout=30)
    organiser = auth(Role.ORGANISER, area=STREET)
    sample = SampleVolunteers(seed=5150)
    started_at = datetime.now(UTC)
    people: list[tuple[dict[str, str], str]] = []
    for i in range(7):
        headers = auth(Role.VOLUNTEER, subject=f"day-{uuid.uuid4().hex[:8]}-{i}")
        registered = volunteer.post("/volunteers", json=sample.draw(), headers=headers)
        assert registered.status_code == 201, registered.text
        people.append((headers, registered.json()["volunteer_id"]))

    now = datetime.now(UTC)
    launched = dispatch.post(
        "/drives",
        json={
            "title": "为老服务：助餐送餐",
            "scope_area_id": STREET,
            "category": "elderly_care",
            "roles": [{"role_id": "general", "skill": "general", "headcount": PLACES}],
            "signup_closes_at": (now + timedelta(hours=2)).isoformat(),
            "activity_starts_at": (now + timedelta(days=1)).isoformat(),
            "activity_ends_at": (now + timedelta(days=1, hours=3)).isoformat(),
            "team_size_min": 2,
            "team_size_max": 8,
        },
        headers=organiser,
    )
    assert launched.status_code == 201, launched.text
    drive_id = launched.json()["drive_id"]
    assert _until(lambda: volunteer.get("/drives", headers=people[0][0]).json()["drives"])
    sign_ups = []
    for headers, _ in people:  # one at a time: the first five take the places
        response = volunteer.post(
            f"/drives/{drive_id}/sign-ups", json={"role_id": "general"}, headers=headers
        )
        assert response.status_code == 202, response.text
        sign_ups.append(response.json()["sign_up_id"])

    def decided() -> list[dict[str, Any]] | None:
        rows: list[dict[str, Any]] = dispatch.get(
            f"/drives/{drive_id}/sign-ups", headers=organiser
        ).json()["sign_ups"]
        return rows if len(rows) == len(people) else None

    rows = _until(decided)
    decided_at = next_minute()
    by_sign_up = {r["sign_up_id"]: r["status"] for r in rows}
    assert [by_sign_up[s] for s in sign_ups].count("accepted") == PLACES
    # An accepted volunteer withdraws (the first waitlisted one is promoted), then a
    # waitlisted one withdraws too.
    for index in (0, len(people) - 1):
        withdrawn = volunteer.post(
            f"/sign-ups/{sign_ups[index]}/withdraw", json={}, headers=people[index][0]
        )
        assert withdrawn.status_code == 202, withdrawn.text

    def settled() -> bool:
        rows = decided() or []
        statuses = [r["status"] for r in rows]
        return statuses.count("withdrawn") == 2 and statuses.count("accepted") == PLACES

    assert _until(settled)
    formed = dispatch.post(f"/drives/{drive_id}/teams", headers=organiser)
    assert formed.status_code in (200, 201), formed.text
    teams = dispatch.get(f"/drives/{drive_id}/teams", headers=organiser).json()["teams"]
    members = [m for t in teams for m in t["members"]]
    assert len(members) == PLACES

    now = datetime.now(UTC)  # a minute may have passed (`decided_at`)
    starts_at = now - timedelta(hours=3)
    ends_at = now + timedelta(seconds=20)
    scheduled = dispatch.post(
        "/activities",
        json={
            "drive_id": drive_id,
            "title": "助餐送餐",
            "place_area_id": COMMUNITY,
            "category": "elderly_care",
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "capacity": 10,
            "assigned_volunteer_ids": members,
        },
        headers=organiser,
    )
    assert scheduled.status_code == 201, scheduled.text
    activity_id = scheduled.json()["activity_id"]
    code = dispatch.get(f"/activities/{activity_id}/check-in-code", headers=organiser).json()[
        "code"
    ]
    headers_of = {v: h for h, v in people}
    on_site, on_paper = members[:3], members[3]
    for member in on_site:
        checked_in = _until(
            lambda m=member: (
                (
                    r := volunteer.post(
                        f"/activities/{activity_id}/check-in",
                        json={"code": code},
                        headers=headers_of[m],
                    )
                ).status_code
                != 404
                and r
            ),
            timeout=30,
        )
        assert checked_in.status_code == 200, checked_in.text
        out = volunteer.post(f"/activities/{activity_id}/check-out", headers=headers_of[member])
        assert out.status_code == 200, out.text
    for n, member in enumerate([*on_site, on_paper]):  # the paper sign-in sheet (补签)
        corrected = dispatch.post(
            f"/activities/{activity_id}/attendances/{member}/correct",
            json={
                "check_in_at": starts_at.isoformat(),
                "check_out_at": (starts_at + timedelta(minutes=60 + 30 * n)).isoformat(),
                "reason": "纸质签到表",
            },
            headers=organiser,
        )
        assert corrected.status_code == 200, corrected.text
    served = dispatch.post(
        f"/activities/{activity_id}/beneficiaries",
        json={"counts": {"elderly": 12, "disabled": 2}},
        headers=organiser,
    )
    assert served.status_code == 200, served.text
    time.sleep(max(0.0, (ends_at - datetime.now(UTC)).total_seconds() + 0.5))
    approved = _until(
        lambda: (
            (
                r := dispatch.post(f"/activities/{activity_id}/approve", headers=organiser)
            ).status_code
            == 200
            and r
        )
    )
    assert approved, "the hours were not approved"
    # 7 signed up; 5 hold a place (one withdrew, one was promoted); 5 in teams; 4 present
    # (3 on site, 1 on paper); 4 with approved hours.
    return FieldDay(drive_id, activity_id, started_at, decided_at, (7, PLACES, PLACES, 4, 4))
