"""The field loop over HTTP and real Kafka: schedule, check in and out, beneficiaries,
corrections, approval; each volunteer's record holds exactly what the hours rules give."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from muster_cli.sample import SampleVolunteers
from muster_contracts.envelope import Role
from muster_dispatch.domain.hours import HoursPolicy, Interval, credited_minutes
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_register_to_report import auth

SHANGHAI = ZoneInfo("Asia/Shanghai")
PLACE = (39.6300, 118.1800)  # 路北区, 唐山
NEAR = (39.6305, 118.1802)  # about 60 m away
FAR = (39.6600, 118.2200)  # several kilometres away


def _eventually(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_a_day_in_the_field_ends_in_exactly_the_hours_the_rules_give(system: RunningSystem) -> None:
    volunteer_url, dispatch_url = system.urls["volunteer"], system.urls["dispatch"]
    organiser = auth(Role.ORGANISER)
    sample = SampleVolunteers(seed=4242)
    people: list[tuple[dict[str, str], str]] = []
    for i in range(6):
        headers = auth(Role.VOLUNTEER, subject=f"field-{uuid.uuid4().hex[:8]}-{i}")
        registered = httpx.post(f"{volunteer_url}/volunteers", json=sample.draw(), headers=headers)
        assert registered.status_code == 201, registered.text
        people.append((headers, registered.json()["volunteer_id"]))
    assigned, walk_in = people[:5], people[5]

    now = datetime.now(UTC)
    # Served time must not cross local midnight, so every volunteer has one record.
    back = 6 if now.astimezone(SHANGHAI).hour < 3 else 3
    starts_at = now - timedelta(hours=back)
    ends_at = now + timedelta(seconds=25)
    scheduled = httpx.post(
        f"{dispatch_url}/activities",
        json={
            "drive_id": "drive-e2e",
            "title": "为老服务：助餐送餐",
            "place_area_id": "130203001001",
            "latitude": PLACE[0],
            "longitude": PLACE[1],
            "category": "elderly_care",
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "capacity": 10,
            "assigned_volunteer_ids": [v for _, v in assigned],
        },
        headers=organiser,
    )
    assert scheduled.status_code == 201, scheduled.text
    activity_id = scheduled.json()["activity_id"]
    code = httpx.get(
        f"{dispatch_url}/activities/{activity_id}/check-in-code", headers=organiser
    ).json()["code"]

    def check_in(
        headers: dict[str, str], where: tuple[float, float], code: str = code
    ) -> httpx.Response:
        body = {"code": code, "latitude": where[0], "longitude": where[1]}
        return httpx.post(
            f"{volunteer_url}/activities/{activity_id}/check-in", json=body, headers=headers
        )

    # The volunteer service learns of the activity from dispatch's events.
    assert _eventually(lambda: check_in(assigned[0][0], FAR).status_code != 404, timeout=30)
    assert check_in(assigned[0][0], FAR).json()["error"]["rule"] == "too_far"
    assert check_in(assigned[0][0], NEAR, code="000000" if code != "000000" else "111111").json()[
        "error"
    ]["rule"] in (
        "wrong_code",
        "expired_code",
    )
    assert check_in(walk_in[0], NEAR).json()["error"]["rule"] == "not_assigned"

    async def everyone_checks_in() -> list[int]:
        async with httpx.AsyncClient(base_url=volunteer_url) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        f"/activities/{activity_id}/check-in",
                        json={"code": code, "latitude": NEAR[0], "longitude": NEAR[1]},
                        headers=h | {"Idempotency-Key": f"in-{v}"},
                    )
                    for h, v in assigned
                )
            )
        return [r.status_code for r in responses]

    assert asyncio.run(everyone_checks_in()) == [200] * 5
    retried = httpx.post(
        f"{volunteer_url}/activities/{activity_id}/check-in",
        json={"code": code, "latitude": NEAR[0], "longitude": NEAR[1]},
        headers=assigned[0][0] | {"Idempotency-Key": f"in-{assigned[0][1]}"},
    )
    assert retried.status_code == 200, retried.text
    assert retried.headers.get("Idempotent-Replayed") == "true"
    assert check_in(assigned[0][0], NEAR).json()["error"]["rule"] == "already_checked_in"
    for headers, _ in assigned:
        out = httpx.post(f"{volunteer_url}/activities/{activity_id}/check-out", headers=headers)
        assert out.status_code == 200, out.text

    # The organiser records whom they served and corrects times (补签) to the real ones.
    served = httpx.post(
        f"{dispatch_url}/activities/{activity_id}/beneficiaries",
        json={"counts": {"elderly": 12, "disabled": 2, "residents": 5}},
        headers=organiser,
    )
    assert served.status_code == 200, served.text
    minutes_served = [60, 95, 150, 30, 29]
    intervals = {}
    for (_, volunteer_id), minutes in zip(assigned, minutes_served, strict=True):
        interval = Interval(starts_at, starts_at + timedelta(minutes=minutes))
        intervals[volunteer_id] = interval
        corrected = httpx.post(
            f"{dispatch_url}/activities/{activity_id}/attendances/{volunteer_id}/correct",
            json={
                "check_in_at": interval.start.isoformat(),
                "check_out_at": interval.end.isoformat(),
                "reason": "纸质签到表",
            },
            headers=organiser,
        )
        assert corrected.status_code == 200, corrected.text

    def dispatch_saw_every_check_out() -> bool:
        view = httpx.get(f"{dispatch_url}/activities/{activity_id}", headers=organiser).json()
        return len(view["attendances"]) == 5 and all(a["check_out_at"] for a in view["attendances"])

    assert _eventually(dispatch_saw_every_check_out)
    time.sleep(max(0.0, (ends_at - datetime.now(UTC)).total_seconds() + 0.5))
    # Ended, not approved: not held yet; its beneficiaries wait for the approval.
    leader = auth(Role.LEADER)

    def district() -> dict[str, Any]:
        response = httpx.get(
            f"{system.urls['reporting']}/reports/service",
            params={"area_id": "130203"},
            headers=leader,
        )
        body: dict[str, Any] = response.json()
        return body

    waiting = _eventually(
        lambda: (r := district()["area"])["activities_awaiting_approval"] == 1 and r, timeout=30
    )
    assert waiting, district()
    assert (waiting["activities"], waiting["activities_scheduled"]) == (0, 1)
    assert (waiting["activities_upcoming"], waiting["activities_in_progress"]) == (0, 0)
    assert (waiting["beneficiaries"], waiting["turnouts"]) == (0, 0)
    approved = httpx.post(f"{dispatch_url}/activities/{activity_id}/approve", headers=organiser)
    assert approved.status_code == 200, approved.text

    policy = HoursPolicy()
    for (headers, volunteer_id), minutes in zip(assigned, minutes_served, strict=True):
        expected = credited_minutes([intervals[volunteer_id]], policy).total_minutes
        assert expected == minutes - minutes % 30
        record = _eventually(
            lambda h=headers, e=expected: (
                (r := httpx.get(f"{volunteer_url}/me/service-record", headers=h).json())[
                    "total_minutes"
                ]
                == e
                and r
            ),
            timeout=30,
        )
        assert record, f"{volunteer_id} never got {expected} minutes"
        assert record["stars"] == 0
        assert all(r["activity_id"] == activity_id for r in record["records"])

    # Leadership sees the day rolled up the hierarchy, exactly: held once approved, with
    # the beneficiaries recorded before the approval.
    total_minutes = sum(m - m % 30 for m in minutes_served)
    # Five approved attendances, five turn-outs: the one of 29 minutes is credited 0 h.
    report = _eventually(lambda: (r := district())["area"]["turnouts"] == 5 and r, timeout=30)
    assert report, district()
    assert (report["area"]["activities"], report["area"]["activities_scheduled"]) == (1, 0)
    assert report["area"]["hours"] == total_minutes / 60
    assert report["area"]["beneficiaries"] == 19
    assert report["area"]["beneficiaries_by_group"] == {
        "elderly": 12,
        "disabled": 2,
        "residents": 5,
    }
    # The same day, by month and by day of service (Asia/Shanghai).
    served_day = starts_at.astimezone(SHANGHAI).date().isoformat()
    for period in (served_day, served_day[:7]):
        # Each period is its own cell, written in the same batch: eventually all agree.
        by_period = _eventually(
            lambda p=period: (
                (
                    r := httpx.get(
                        f"{system.urls['reporting']}/reports/service",
                        params={"area_id": "130203", "period": p},
                        headers=leader,
                    ).json()
                )["area"]["turnouts"]
                == 5
                and r
            ),
            timeout=30,
        )
        assert by_period, period
        assert by_period["area"]["hours"] == total_minutes / 60, period
    bad_period = httpx.get(
        f"{system.urls['reporting']}/reports/service", params={"period": "November"}, headers=leader
    )
    assert bad_period.status_code == 422
    exported = httpx.get(
        f"{system.urls['reporting']}/reports/service",
        params={"area_id": "130203", "format": "csv"},
        headers=leader,
    )
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("area_id,name,level,activities")
    assert len(lines) == 1 + 11 + 1  # header, the 11 streets, the district's total
    assert lines[-1].split(",")[:5] == ["130203", "路北区", "district", "1", "0"]
    street = next(c for c in report["children"] if c["area_id"] == "130203001")
    assert (street["turnouts"], street["hours"]) == (5, total_minutes / 60)

    headers = assigned[2][0]
    statement = httpx.get(f"{volunteer_url}/me/hours-statement", headers=headers).json()
    assert statement["statement_no"].startswith("MUSTER-")
    assert statement["total_minutes"] == 150
    page = httpx.get(
        f"{volunteer_url}/me/hours-statement", params={"format": "html"}, headers=headers
    )
    assert page.headers["content-type"].startswith("text/html")
    assert "志愿服务证明" in page.text
    assert "2.5" in page.text
    # Names, not codes: the activity, its category, where it took place (no drive of that
    # id was launched, so the organising unit is the place too).
    assert "为老服务：助餐送餐" in page.text
    assert "乔屯街道 天元公寓社区" in page.text
    assert "elderly_care" not in page.text
    assert ">130203001001<" not in page.text
    english = httpx.get(
        f"{volunteer_url}/me/hours-statement",
        params={"format": "html", "lang": "en"},
        headers=headers,
    )
    assert "Volunteer service statement" in english.text
    assert "Elderly care" in english.text
    assert statement["records"][0]["category_name"] == "为老服务"
    assert statement["records"][0]["activity_title"] == "为老服务：助餐送餐"
    unknown = httpx.get(
        f"{volunteer_url}/me/hours-statement", params={"lang": "fr"}, headers=headers
    )
    assert (unknown.status_code, unknown.json()["error"]["fields"][0]["field"]) == (422, "lang")


def test_the_organisers_list_of_activities_follows_scheduling_and_cancelling(
    system: RunningSystem,
) -> None:
    dispatch = system.urls["dispatch"]
    street, other_street = "130203001", "130203002"
    organiser = auth(Role.ORGANISER, street, subject=f"lister-{uuid.uuid4().hex[:6]}")
    first = datetime.now(SHANGHAI).replace(microsecond=0) + timedelta(days=3)
    form = {
        "drive_id": f"drive-{uuid.uuid4().hex[:6]}",
        "title": "周末巡逻",
        "place_area_id": f"{street}001",
        "category": "patrol",
        "starts_at": first.isoformat(),
        "ends_at": (first + timedelta(hours=2)).isoformat(),
        "capacity": 6,
        "repeat": {
            "weekdays": [first.isoweekday()],
            "until": (first.date() + timedelta(weeks=2)).isoformat(),
        },
    }
    series = httpx.post(f"{dispatch}/activity-series", json=form, headers=organiser)
    assert series.status_code == 201, series.text
    series_id = series.json()["series_id"]
    ids = [o["activity_id"] for o in series.json()["occurrences"]]

    def listed(**params: Any) -> dict[str, Any]:
        answer = httpx.get(
            f"{dispatch}/activities",
            params={"series_id": series_id, **params},
            headers=organiser,
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    assert _eventually(lambda: len(listed()["activities"]) == 3)
    page = listed(limit=2)
    rest = listed(limit=2, after=page["next_after"])
    assert [a["activity_id"] for a in page["activities"] + rest["activities"]] == ids
    assert rest["next_after"] is None
    assert page["activities"][0] | {"activity_id": "", "series_id": ""} == {
        "activity_id": "",
        "title": "周末巡逻",
        "category": "patrol",
        "drive_id": form["drive_id"],
        "team_id": None,
        "series_id": "",
        "occurrence": 1,
        "place_area_id": f"{street}001",
        "starts_at": first.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "ends_at": (first + timedelta(hours=2)).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "capacity": 6,
        "assigned": 0,
        "cancelled": False,
        "approved": False,
    }
    window = listed(
        **{
            "from": (first + timedelta(days=1)).isoformat(),
            "to": (first + timedelta(days=8)).isoformat(),
        }
    )
    assert [a["activity_id"] for a in window["activities"]] == ids[1:2]

    cancelled = httpx.post(
        f"{dispatch}/activities/{ids[0]}/cancel", json={"reason": "大风"}, headers=organiser
    )
    assert cancelled.status_code == 200, cancelled.text
    assert _eventually(
        lambda: [a["activity_id"] for a in listed(include_cancelled=False)["activities"]] == ids[1:]
    )

    outsider = auth(Role.ORGANISER, other_street)
    refused = httpx.get(f"{dispatch}/activities", params={"area_id": street}, headers=outsider)
    assert refused.status_code == 403
    theirs = httpx.get(
        f"{dispatch}/activities", params={"series_id": series_id}, headers=outsider
    ).json()
    assert theirs["activities"] == []
    assert (
        httpx.get(
            f"{dispatch}/activities", params={"after": "yesterday"}, headers=organiser
        ).json()["error"]["code"]
        == "invalid_cursor"
    )


def test_dispatch_and_volunteer_rebuild_their_read_models_while_they_serve(
    system: RunningSystem,
) -> None:
    """`python -m muster_dispatch rebuild` and `python -m muster_volunteer rebuild` run
    while both services serve and consume: their answers read the same after the switch,
    and what happens next reaches the new version."""
    volunteer_url, dispatch_url = system.urls["volunteer"], system.urls["dispatch"]
    organiser = auth(Role.ORGANISER)
    me = auth(Role.VOLUNTEER, subject=f"rebuilt-{uuid.uuid4().hex[:8]}")
    registered = httpx.post(
        f"{volunteer_url}/volunteers", json=SampleVolunteers(seed=77).draw(), headers=me
    )
    assert registered.status_code == 201, registered.text
    drive_id = f"drive-{uuid.uuid4().hex[:6]}"
    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)

    def schedule(title: str) -> None:
        scheduled = httpx.post(
            f"{dispatch_url}/activities",
            json={
                "drive_id": drive_id, "title": title, "place_area_id": "130203001001",
                "category": "patrol", "starts_at": starts_at.isoformat(),
                "ends_at": (starts_at + timedelta(hours=2)).isoformat(), "capacity": 4,
                "assigned_volunteer_ids": [registered.json()["volunteer_id"]],
            },
            headers=organiser,
        )  # fmt: skip
        assert scheduled.status_code == 201, scheduled.text

    def answers() -> dict[str, Any]:
        return {
            "directory": httpx.get(
                f"{dispatch_url}/activities", params={"drive_id": drive_id}, headers=organiser
            ).json(),
            "mine": httpx.get(f"{volunteer_url}/me/activities", headers=me).json(),
            "record": httpx.get(f"{volunteer_url}/me/service-record", headers=me).json(),
        }

    def titles(seen: dict[str, Any]) -> tuple[int, int]:
        return len(seen["directory"]["activities"]), len(seen["mine"]["upcoming"])

    schedule("夜间巡逻")
    before = _eventually(lambda: titles(a := answers()) == (1, 1) and a, timeout=30)
    assert before, answers()

    for service in ("dispatch", "volunteer"):
        rebuilt = system.command(service, "rebuild", "--no-progress")
        assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
        assert "now go to read models version 1" in rebuilt.stdout, rebuilt.stdout

    # Readers follow the switch within a second; the answers are the same.
    assert _eventually(lambda: answers() == before, timeout=10), answers()
    schedule("清晨巡逻")  # consumed into the new version
    assert _eventually(lambda: titles(answers()) == (2, 2), timeout=30), answers()
