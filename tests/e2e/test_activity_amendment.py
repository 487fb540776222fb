"""An activity amended while volunteers are checked in, over HTTP and real Kafka: the
amendment's preconditions and rules, check-in by the new place, approval by the new end,
hours and reports by the amended activity, and the volunteers told what changed (and
their team's leader by name)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from muster_contracts.areas import load_area_tree
from muster_contracts.envelope import Role
from muster_dispatch.domain.hours import HoursPolicy, Interval, credited_minutes
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_notifications import _inbox, _register, _wait
from tests.e2e.test_register_to_report import auth

AREAS = load_area_tree()
STREET, NEW_STREET = "130203001", "130203002"
COMMUNITY = AREAS.children(STREET)[0].id
NEW_COMMUNITY = AREAS.children(NEW_STREET)[0].id
BUILDING = AREAS.children(AREAS.children(COMMUNITY)[0].id)[0].id
PLACE = (39.6300, 118.1800)
NEW_PLACE = (39.6600, 118.2200)  # several kilometres away


def _at(moment: datetime) -> str:
    return moment.isoformat()


def _drive_with_one_team(
    system: RunningSystem, people: list[tuple[str, dict[str, str]]]
) -> tuple[str, dict[str, Any]]:
    """A drive in the street that everyone signs up for and is formed into one team."""
    volunteer_url, dispatch_url = system.urls["volunteer"], system.urls["dispatch"]
    organiser = auth(Role.ORGANISER)
    now = datetime.now(UTC)
    launched = httpx.post(
        f"{dispatch_url}/drives",
        json={
            "title": "社区助老",
            "scope_area_id": STREET,
            "category": "elderly_care",
            "roles": [{"role_id": "general", "skill": "general", "headcount": 10}],
            "signup_closes_at": _at(now + timedelta(hours=2)),
            "activity_starts_at": _at(now + timedelta(hours=2)),
            "activity_ends_at": _at(now + timedelta(hours=5)),
            "team_size_min": 2,
            "team_size_max": 8,
        },
        headers=organiser,
    )
    assert launched.status_code == 201, launched.text
    drive_id = launched.json()["drive_id"]
    for _, headers in people:
        assert _wait(
            lambda h=headers: any(
                d["drive_id"] == drive_id
                for d in httpx.get(f"{volunteer_url}/drives", headers=h).json()["drives"]
            )
        )
        signed = httpx.post(
            f"{volunteer_url}/drives/{drive_id}/sign-ups",
            json={"role_id": "general"},
            headers=headers,
        )
        assert signed.status_code == 202, signed.text

    def accepted() -> bool:
        rows = httpx.get(f"{dispatch_url}/drives/{drive_id}/sign-ups", headers=organiser)
        return [r["status"] for r in rows.json()["sign_ups"]] == ["accepted"] * len(people)

    assert _wait(accepted)
    formed = httpx.post(f"{dispatch_url}/drives/{drive_id}/teams", headers=organiser)
    assert formed.status_code == 200, formed.text
    (team,) = httpx.get(f"{dispatch_url}/drives/{drive_id}/teams", headers=organiser).json()[
        "teams"
    ]
    return drive_id, team


def _schedule(
    system: RunningSystem,
    drive_id: str,
    team: dict[str, Any],
    title: str,
    span: tuple[datetime, datetime],
    assigned: list[str],
    place: tuple[float, float] | None = None,
) -> str:
    """A team's activity in COMMUNITY over `span`, assigned to `assigned`: its id."""
    where = {"latitude": place[0], "longitude": place[1]} if place else {}
    scheduled = httpx.post(
        f"{system.urls['dispatch']}/activities",
        json={
            "drive_id": drive_id,
            "team_id": team["team_id"],
            "title": title,
            "place_area_id": COMMUNITY,
            "category": "elderly_care",
            "starts_at": _at(span[0]),
            "ends_at": _at(span[1]),
            "capacity": 5,
            "assigned_volunteer_ids": assigned,
        }
        | where,
        headers=auth(Role.ORGANISER),
    )
    assert scheduled.status_code == 201, scheduled.text
    return str(scheduled.json()["activity_id"])


def test_an_activity_moved_while_volunteers_are_checked_in_is_counted_and_told_as_amended(
    system: RunningSystem,
) -> None:
    volunteer_url, dispatch_url = system.urls["volunteer"], system.urls["dispatch"]
    reporting_url = system.urls["reporting"]
    organiser, leader = auth(Role.ORGANISER), auth(Role.LEADER)
    people = [_register(system, name, BUILDING) for name in ("a", "b", "c")]
    (a, a_auth), (b, b_auth), (c, c_auth) = people

    now = datetime.now(UTC)
    drive_id, team = _drive_with_one_team(system, people)
    assert set(team["members"]) == {a, b, c}

    starts_at, ends_at = now - timedelta(hours=1), now + timedelta(hours=2)
    activity_id = _schedule(
        system, drive_id, team, "社区助老", (starts_at, ends_at), [a, b, c], place=PLACE
    )
    activity_url = f"{dispatch_url}/activities/{activity_id}"
    code_url = f"{activity_url}/check-in-code"

    def check_in(headers: dict[str, str], where: tuple[float, float]) -> httpx.Response:
        code = httpx.get(code_url, headers=organiser).json()["code"]
        body = {"code": code, "latitude": where[0], "longitude": where[1]}
        return httpx.post(
            f"{volunteer_url}/activities/{activity_id}/check-in", json=body, headers=headers
        )

    assert _wait(lambda: check_in(a_auth, PLACE).status_code == 200, timeout=60)
    assert check_in(b_auth, PLACE).status_code == 200

    read = httpx.get(activity_url, headers=organiser)
    version = read.headers["ETag"]
    assert version == str(read.json()["version"])

    def amend(body: dict[str, Any], if_match: str | None) -> httpx.Response:
        headers = organiser | ({"If-Match": if_match} if if_match is not None else {})
        return httpx.post(f"{activity_url}/amend", json=body, headers=headers)

    # The preconditions and the rules, each refused by name.
    missing = amend({"capacity": 4}, None)
    assert (missing.status_code, missing.json()["error"]["code"]) == (428, "precondition_required")
    stale = amend({"capacity": 4}, str(int(version) + 7))
    assert (stale.status_code, stale.json()["error"]["code"]) == (412, "precondition_failed")
    assert stale.json()["error"]["current_version"] == int(version)
    for body, rule in (
        ({"capacity": 2}, "capacity_below_assigned"),
        ({"ends_at": _at(starts_at - timedelta(minutes=1))}, "ends_after_start"),
        ({"starts_at": _at(datetime.now(UTC) + timedelta(hours=1))}, "recorded_attendance_outside"),
    ):
        refused = amend(body, version)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["rule"] == rule

    # Moved: half an hour earlier, to another street's community.
    new_start = starts_at - timedelta(minutes=30)
    moved = amend(
        {
            "starts_at": _at(new_start),
            "place_area_id": NEW_COMMUNITY,
            "latitude": NEW_PLACE[0],
            "longitude": NEW_PLACE[1],
            "capacity": 3,
            "reason": "场地调整",
        },
        version,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["events"] == ["activity.amended"]
    assert moved.headers["ETag"] == str(int(version) + 1)
    assert moved.json()["place_area_id"] == NEW_COMMUNITY
    assert amend({"capacity": 4}, version).status_code == 412  # the version read is gone

    # Check-in follows the new place: the old site is now too far.
    def refused_at_old_site() -> bool:
        answer = check_in(c_auth, PLACE)
        return answer.status_code == 422 and answer.json()["error"]["rule"] == "too_far"

    assert _wait(refused_at_old_site, timeout=60)
    assert check_in(c_auth, NEW_PLACE).status_code == 200

    # Leadership sees it pending in the new street, not the old one.
    def service(area_id: str, period: str | None = None) -> dict[str, Any]:
        params = {"area_id": area_id} | ({"period": period} if period else {})
        answer = httpx.get(f"{reporting_url}/reports/service", params=params, headers=leader)
        figures: dict[str, Any] = answer.json()["area"]
        return figures

    assert _wait(lambda: service(NEW_STREET)["activities_scheduled"] == 1, timeout=60)
    assert service(NEW_STREET)["activities_in_progress"] == 1
    assert service(STREET)["activities_scheduled"] == 0

    # Then ended early, on the version the first amendment answered. Approval waits for
    # the new end (the old one is two hours away); a checks out and the organiser closes
    # b and c at the new end (补签).
    new_end = datetime.now(UTC) + timedelta(seconds=10)
    ended = amend({"ends_at": _at(new_end)}, moved.headers["ETag"])
    assert ended.status_code == 200, ended.text
    assert ended.headers["ETag"] == str(int(version) + 2)
    early = httpx.post(f"{activity_url}/approve", headers=organiser)
    assert early.status_code == 422, early.text
    assert early.json()["error"]["rule"] in ("activity_not_ended", "open_attendances")
    time.sleep(max(0.0, (new_end - datetime.now(UTC)).total_seconds() + 1))
    out = httpx.post(f"{volunteer_url}/activities/{activity_id}/check-out", headers=a_auth)
    assert out.status_code == 200, out.text
    for volunteer_id in (b, c):
        corrected = httpx.post(
            f"{activity_url}/attendances/{volunteer_id}/correct",
            json={"check_out_at": _at(new_end), "reason": "活动提前结束"},
            headers=organiser,
        )
        assert corrected.status_code == 200, corrected.text

    def attendances() -> dict[str, Interval]:
        view = httpx.get(activity_url, headers=organiser).json()
        return {
            row["volunteer_id"]: Interval(
                datetime.fromisoformat(row["check_in_at"]),
                datetime.fromisoformat(row["check_out_at"]),
            )
            for row in view["attendances"]
            if row["check_in_at"] and row["check_out_at"]
        }

    assert _wait(lambda: len(attendances()) == 3, timeout=60)
    approved = httpx.post(f"{activity_url}/approve", headers=organiser)
    assert approved.status_code == 200, approved.text

    # Hours: each attendance as recorded and corrected, b and c to the amended end.
    spans = attendances()
    assert spans[b].end == spans[c].end == new_end
    policy = HoursPolicy()
    expected = {v: credited_minutes([spans[v]], policy).total_minutes for v in (a, b, c)}
    for volunteer_id, headers in people:
        record = _wait(
            lambda h=headers, v=volunteer_id: (
                (r := httpx.get(f"{volunteer_url}/me/service-record", headers=h).json())[
                    "total_minutes"
                ]
                == expected[v]
                and len(r["records"]) >= 1
                and r
            ),
            timeout=60,
        )
        assert record, f"{volunteer_id} never got {expected[volunteer_id]} minutes"
        assert {r["place_area_id"] for r in record["records"]} == {NEW_COMMUNITY}

    # Reports: held in the new street on the amended start day, nothing in the old one.
    held = _wait(lambda: (f := service(NEW_STREET))["turnouts"] == 3 and f, timeout=60)
    assert held, service(NEW_STREET)
    assert (held["activities"], held["activities_scheduled"]) == (1, 0)
    assert held["hours"] == sum(expected.values()) / 60
    day = new_start.astimezone(policy.zone).date().isoformat()
    assert service(NEW_STREET, day)["activities"] == 1
    old = service(STREET)
    assert (old["activities"], old["activities_scheduled"], old["turnouts"]) == (0, 0, 0)

    # Everyone assigned is told what changed, in their language.
    place_name = " ".join(a.name for a in AREAS.path(NEW_COMMUNITY)[2:])  # street, community
    for _, headers in people:
        told = _wait(
            lambda h=headers: [m for m in _inbox(system, h) if m["kind"] == "activity_amended"],
            timeout=60,
        )
        assert len(told) == 2, _inbox(system, headers)
        assert {m["title"] for m in told} == {"活动变更：社区助老"}
        moved_there, ended_early = sorted(told, key=lambda m: m["position"])
        assert f"地点改为 {place_name}" in moved_there["body"]
        assert "原因：场地调整" in moved_there["body"]
        assert "时间改为" in ended_early["body"]
        assert "地点改为" not in ended_early["body"]
    # The team message names the leader by name: to the members, not the leader themself.
    leader = team["leader_id"]
    leader_name = httpx.get(f"{volunteer_url}/volunteers/{leader}", headers=organiser).json()[
        "name"
    ]
    for volunteer_id, headers in people:
        (assigned,) = _wait(
            lambda h=headers: [m for m in _inbox(system, h) if m["kind"] == "team_assigned"]
        )
        shown = "您本人" if volunteer_id == leader else leader_name
        assert assigned["body"] == f"您已编入服务队 {team['team_id']}，队长：{shown}。"
        assert assigned["params"]["leader_id"] == leader  # the id is what is stored
    english = httpx.get(
        f"{system.urls['notify']}/me/notifications",
        headers=a_auth | {"Accept-Language": "en"},
    ).json()["messages"]
    amended = next(m for m in reversed(english) if m["kind"] == "activity_amended")
    assert amended["title"] == "Changed: 社区助老"
    assert f"Now at {place_name}." in amended["body"]


def test_volunteers_see_their_team_and_activities_as_dispatch_changes_them(
    system: RunningSystem,
) -> None:
    volunteer_url, dispatch_url = system.urls["volunteer"], system.urls["dispatch"]
    organiser = auth(Role.ORGANISER)
    people = [_register(system, name, BUILDING) for name in ("d", "e")]
    drive_id, team = _drive_with_one_team(system, people)
    leader = team["leader_id"]
    (member, member_auth) = next(p for p in people if p[0] != leader)
    leader_auth = next(h for v, h in people if v == leader)
    leader_name = httpx.get(f"{volunteer_url}/volunteers/{leader}", headers=organiser).json()[
        "name"
    ]

    # Teams: the member reads their leader's name; the leader sees they lead it.
    def my_teams(headers: dict[str, str]) -> list[dict[str, Any]]:
        answer = httpx.get(f"{volunteer_url}/me/teams", headers=headers)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["teams"])

    (mine,) = _wait(lambda: my_teams(member_auth))
    assert (mine["team_id"], mine["drive_id"], mine["drive_title"]) == (
        team["team_id"],
        drive_id,
        "社区助老",
    )
    assert (mine["leader_id"], mine["leader_name"], mine["i_lead"]) == (leader, leader_name, False)
    assert mine["members_count"] == 2
    (led,) = _wait(lambda: my_teams(leader_auth))
    assert led["i_lead"] is True

    # An activity of the team, assigned to the member, tomorrow.
    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    span = (starts_at, starts_at + timedelta(hours=2))
    activity_id = _schedule(system, drive_id, team, "周末探访", span, [member])

    def upcoming(headers: dict[str, str], check: Any) -> dict[str, Any] | None:
        answer = httpx.get(f"{volunteer_url}/me/activities", headers=headers)
        assert answer.status_code == 200, answer.text
        shown = [a for a in answer.json()["upcoming"] if a["activity_id"] == activity_id]
        return shown[0] if shown and check(shown[0]) else None

    seen = _wait(lambda: upcoming(member_auth, lambda _: True))
    assert seen, "the assigned activity never showed"
    assert (seen["title"], seen["drive_title"], seen["team_id"]) == (
        "周末探访",
        "社区助老",
        team["team_id"],
    )
    assert seen["place"] == [a.name for a in AREAS.path(COMMUNITY)]
    assert datetime.fromisoformat(seen["starts_at"]) == starts_at
    assert (seen["cancelled"], seen["check_in_open"], seen["checked_in_at"]) == (
        False,
        False,
        None,
    )
    assert upcoming(leader_auth, lambda _: True) is None  # not assigned: not theirs

    # Amended: moved an hour later and to another street, then cancelled.
    activity_url = f"{dispatch_url}/activities/{activity_id}"
    version = httpx.get(activity_url, headers=organiser).headers["ETag"]
    later = starts_at + timedelta(hours=1)
    moved = httpx.post(
        f"{activity_url}/amend",
        json={"starts_at": _at(later), "ends_at": _at(later + timedelta(hours=2)),
              "place_area_id": NEW_COMMUNITY},
        headers=organiser | {"If-Match": version},
    )  # fmt: skip
    assert moved.status_code == 200, moved.text
    seen = _wait(lambda: upcoming(member_auth, lambda a: a["place_area_id"] == NEW_COMMUNITY))
    assert seen, "the amendment never showed"
    assert datetime.fromisoformat(seen["starts_at"]) == later
    cancelled = httpx.post(f"{activity_url}/cancel", json={"reason": "大雨"}, headers=organiser)
    assert cancelled.status_code == 200, cancelled.text
    seen = _wait(lambda: upcoming(member_auth, lambda a: a["cancelled"]))
    assert seen, "the cancellation never showed"
    assert seen["cancel_reason"] == "大雨"
