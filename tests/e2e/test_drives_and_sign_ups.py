"""Recruitment over HTTP and real Kafka: many concurrent sign-ups, waitlists, teams."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from muster_cli.sample import SampleVolunteers
from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_register_to_report import DISTRICT, auth

PLACES = 50
VOLUNTEERS = 200


async def _register_all(client: httpx.AsyncClient, count: int) -> list[dict[str, str]]:
    sample = SampleVolunteers(seed=9000)
    limit = asyncio.Semaphore(16)

    async def one(i: int) -> dict[str, str]:
        headers = auth(Role.VOLUNTEER, subject=f"resident-{uuid.uuid4().hex[:8]}-{i}")
        async with limit:
            response = await client.post("/volunteers", json=sample.draw(), headers=headers)
        assert response.status_code == 201, response.text
        return headers

    return await asyncio.gather(*(one(i) for i in range(count)))


def _launch(system: RunningSystem) -> dict[str, Any]:
    now = datetime.now(UTC)
    form = {
        "title": "周末奉献日：楼道清理",
        "scope_area_id": DISTRICT,
        "category": "environment",
        "roles": [{"role_id": "general", "skill": "general", "headcount": PLACES}],
        "signup_closes_at": (now + timedelta(hours=2)).isoformat(),
        "activity_starts_at": (now + timedelta(days=1)).isoformat(),
        "activity_ends_at": (now + timedelta(days=1, hours=3)).isoformat(),
        "team_size_min": 5,
        "team_size_max": 8,
    }
    response = httpx.post(
        f"{system.urls['dispatch']}/drives", json=form, headers=auth(Role.ORGANISER)
    )
    assert response.status_code == 201, response.text
    drive: dict[str, Any] = response.json()
    return drive


def _sign_ups(system: RunningSystem, drive_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{system.urls['dispatch']}/drives/{drive_id}/sign-ups", headers=auth(Role.ORGANISER)
    )
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()["sign_ups"]
    return rows


def _wait(check: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_concurrent_sign_ups_fill_the_places_exactly_and_the_waitlist_moves_in_order(
    system: RunningSystem,
) -> None:
    drive = _launch(system)
    drive_id = drive["drive_id"]

    async def sign_up_everyone() -> list[tuple[dict[str, str], dict[str, Any]]]:
        async with httpx.AsyncClient(base_url=system.urls["volunteer"], timeout=60) as client:
            volunteers = await _register_all(client, VOLUNTEERS)
            # The volunteer service must have seen the drive before it takes sign-ups.
            for _ in range(100):
                if (await client.get("/drives", headers=volunteers[0])).json()["drives"]:
                    break
                await asyncio.sleep(0.1)

            async def one(headers: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
                response = await client.post(
                    f"/drives/{drive_id}/sign-ups",
                    json={"role_id": "general"},
                    headers=headers | {"Idempotency-Key": str(uuid.uuid4())},
                )
                assert response.status_code == 202, response.text
                return headers, response.json()

            return await asyncio.gather(*(one(h) for h in volunteers))

    submitted = asyncio.run(sign_up_everyone())

    rows = _wait(lambda: (r := _sign_ups(system, drive_id)) and len(r) == VOLUNTEERS and r)
    statuses = [r["status"] for r in rows]
    assert statuses.count("accepted") == PLACES
    assert statuses.count("waitlisted") == VOLUNTEERS - PLACES
    waitlist = sorted(
        (r for r in rows if r["status"] == "waitlisted"), key=lambda r: r["waitlist_position"]
    )
    assert [r["waitlist_position"] for r in waitlist] == list(range(1, VOLUNTEERS - PLACES + 1))

    # Each volunteer sees their decision through the volunteer API.
    headers, first = submitted[0]
    mine = _wait(
        lambda: (
            (
                r := httpx.get(
                    f"{system.urls['volunteer']}/sign-ups/{first['sign_up_id']}", headers=headers
                ).json()
            )["status"]
            != "submitted"
            and r
        ),
        timeout=30,
    )
    assert mine["status"] in ("accepted", "waitlisted")

    # Three accepted volunteers withdraw: the first three on the waitlist move up, in order.
    by_sign_up = {body["sign_up_id"]: h for h, body in submitted}
    leaving = [r for r in rows if r["status"] == "accepted"][:3]
    for row in leaving:
        response = httpx.post(
            f"{system.urls['volunteer']}/sign-ups/{row['sign_up_id']}/withdraw",
            headers=by_sign_up[row["sign_up_id"]],
        )
        assert response.status_code == 202, response.text
    promoted_ids = [r["sign_up_id"] for r in waitlist[:3]]

    def promoted() -> list[dict[str, Any]] | None:
        now = {r["sign_up_id"]: r for r in _sign_ups(system, drive_id)}
        done = all(now[s]["status"] == "accepted" for s in promoted_ids)
        return list(now.values()) if done else None

    after = _wait(promoted, timeout=60)
    assert after, "the waitlist did not move up"
    assert sum(r["status"] == "accepted" for r in after) == PLACES
    assert sum(r["status"] == "withdrawn" for r in after) == 3
    assert waitlist[3]["sign_up_id"] in {
        r["sign_up_id"] for r in after if r["waitlist_position"] == 1
    }

    # Teams from the accepted: everyone in exactly one team, sizes within bounds, a leader each.
    formed = httpx.post(
        f"{system.urls['dispatch']}/drives/{drive_id}/teams", headers=auth(Role.ORGANISER)
    )
    assert formed.status_code == 200, formed.text
    teams = httpx.get(
        f"{system.urls['dispatch']}/drives/{drive_id}/teams", headers=auth(Role.ORGANISER)
    ).json()["teams"]
    members = [m for t in teams for m in t["members"]]
    accepted_volunteers = {r["volunteer_id"] for r in after if r["status"] == "accepted"}
    assert sorted(members) == sorted(accepted_volunteers)
    assert all(5 <= len(t["members"]) <= 8 for t in teams)
    assert all(t["leader_id"] in t["members"] for t in teams)


def test_two_organisers_amending_the_same_version_one_wins_the_other_gets_409(
    system: RunningSystem,
) -> None:
    drive = _launch(system)
    url = f"{system.urls['dispatch']}/drives/{drive['drive_id']}/amend"
    version = str(drive["version"])

    first = httpx.post(
        url,
        json={"headcounts": {"general": 60}},
        headers=auth(Role.ORGANISER) | {"If-Match": version},
    )
    second = httpx.post(
        url,
        json={"headcounts": {"general": 70}},
        headers=auth(Role.ORGANISER) | {"If-Match": version},
    )

    assert first.status_code == 200, first.text
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "concurrency_conflict"
    fetched = httpx.get(
        f"{system.urls['dispatch']}/drives/{drive['drive_id']}", headers=auth(Role.ORGANISER)
    ).json()
    assert fetched["roles"][0]["headcount"] == 60


def test_a_drive_with_bad_dates_is_refused_naming_the_field(system: RunningSystem) -> None:
    now = datetime.now(UTC)
    form = {
        "title": "bad",
        "scope_area_id": DISTRICT,
        "category": "environment",
        "roles": [{"role_id": "general", "headcount": 5}],
        "signup_closes_at": (now + timedelta(days=3)).isoformat(),
        "activity_starts_at": (now + timedelta(days=1)).isoformat(),
        "activity_ends_at": (now + timedelta(days=2)).isoformat(),
    }
    response = httpx.post(
        f"{system.urls['dispatch']}/drives", json=form, headers=auth(Role.ORGANISER)
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"]
    assert response.json()["error"]["rule"]


def test_the_organisers_list_of_drives_follows_launching_and_closing(
    system: RunningSystem,
) -> None:
    dispatch = system.urls["dispatch"]
    community, other_street = "130203001001", "130203002"
    subject = f"lister-{uuid.uuid4().hex[:6]}"
    organiser = auth(Role.ORGANISER, "130203001", subject=subject)
    now = datetime.now(UTC).replace(microsecond=0)
    drive_ids = []
    for days in (3, 2, 1):  # launched soonest last: listed latest activity first
        form = {
            "title": f"{days} 天后：楼道清理",
            "scope_area_id": community,
            "category": "environment" if days > 1 else "patrol",
            "roles": [{"role_id": "general", "skill": "general", "headcount": 5}],
            "signup_closes_at": (now + timedelta(hours=days)).isoformat(),
            "activity_starts_at": (now + timedelta(days=days)).isoformat(),
            "activity_ends_at": (now + timedelta(days=days, hours=2)).isoformat(),
        }
        answer = httpx.post(f"{dispatch}/drives", json=form, headers=organiser)
        assert answer.status_code == 201, answer.text
        drive_ids.append(answer.json()["drive_id"])
    closing = httpx.post(f"{dispatch}/drives/{drive_ids[1]}/close", headers=organiser)
    assert closing.status_code == 200, closing.text

    def listed(**params: Any) -> dict[str, Any]:
        answer = httpx.get(
            f"{dispatch}/drives", params={"area_id": community, **params}, headers=organiser
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def statuses() -> list[tuple[str, str]]:
        return [(d["drive_id"], d["status"]) for d in listed()["drives"]]

    assert _wait(
        lambda: (
            statuses() == [(drive_ids[0], "open"), (drive_ids[1], "closed"), (drive_ids[2], "open")]
        )
    ), statuses()
    page = listed(limit=2)
    rest = listed(limit=2, after=page["next_after"])
    assert [d["drive_id"] for d in page["drives"] + rest["drives"]] == drive_ids
    assert rest["next_after"] is None
    assert page["drives"][0] == {
        "drive_id": drive_ids[0],
        "title": "3 天后：楼道清理",
        "category": "environment",
        "organiser": subject,
        "scope_area_id": community,
        "signup_closes_at": (now + timedelta(hours=3)).isoformat().replace("+00:00", "Z"),
        "activity_starts_at": (now + timedelta(days=3)).isoformat().replace("+00:00", "Z"),
        "activity_ends_at": (now + timedelta(days=3, hours=2)).isoformat().replace("+00:00", "Z"),
        "status": "open",
    }
    assert [d["drive_id"] for d in listed(status="open")["drives"]] == drive_ids[::2]
    assert [d["drive_id"] for d in listed(status="closed")["drives"]] == drive_ids[1:2]
    assert [d["drive_id"] for d in listed(category="patrol")["drives"]] == drive_ids[2:]
    window = listed(
        **{
            "from": (now + timedelta(days=2)).isoformat(),
            "to": (now + timedelta(days=3)).isoformat(),
        }
    )
    assert [d["drive_id"] for d in window["drives"]] == drive_ids[1:2]
    # The whole district's organiser sees them too (their area and below); an admin, all.
    district = httpx.get(
        f"{dispatch}/drives", params={"limit": 200}, headers=auth(Role.ADMIN, "1302")
    )
    assert set(drive_ids) <= {d["drive_id"] for d in district.json()["drives"]}

    outsider = auth(Role.ORGANISER, other_street)
    refused = httpx.get(f"{dispatch}/drives", params={"area_id": community}, headers=outsider)
    assert (refused.status_code, refused.json()["error"]["reason"]) == (403, "outside_scope")
    mine = httpx.get(f"{dispatch}/drives", headers=outsider).json()["drives"]
    assert not set(drive_ids) & {d["drive_id"] for d in mine}
    for bad in ({"limit": 0}, {"limit": 201}, {"limit": 2**70}, {"status": "pending"}):
        answer = httpx.get(f"{dispatch}/drives", params=bad, headers=organiser)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["error"]["code"] == "validation_failed"
    cursor = httpx.get(f"{dispatch}/drives", params={"after": "yesterday"}, headers=organiser)
    assert (cursor.status_code, cursor.json()["error"]["code"]) == (422, "invalid_cursor")
