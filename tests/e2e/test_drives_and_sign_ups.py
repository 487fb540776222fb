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
