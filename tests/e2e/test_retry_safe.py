"""Retries over HTTP against the running services: a retried launch makes one drive, a
retried approval credits the hours once and answers as the first did."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from muster_cli.sample import SampleVolunteers
from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem, served_from
from tests.e2e.test_access_matrix import STREET_A, launch_form
from tests.e2e.test_register_to_report import auth, wait_for


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return headers | {"Idempotency-Key": key}


def test_a_retried_launch_makes_one_drive(system: RunningSystem) -> None:
    dispatch = system.urls["dispatch"]
    subject = f"retry-{uuid.uuid4().hex[:8]}"
    organiser = auth(Role.ORGANISER, STREET_A, subject=subject)
    form = launch_form(STREET_A)
    key = str(uuid.uuid4())

    first = httpx.post(f"{dispatch}/drives", json=form, headers=keyed(organiser, key))
    retried = httpx.post(f"{dispatch}/drives", json=form, headers=keyed(organiser, key))
    changed = httpx.post(
        f"{dispatch}/drives", json=form | {"title": "另一个"}, headers=keyed(organiser, key)
    )

    assert first.status_code == retried.status_code == 201, first.text
    assert retried.json() == first.json()
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.headers["Location"] == first.headers["Location"]
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    # The audit trail (the event log) holds one launch by this organiser.
    launches = wait_for(
        lambda: httpx.get(
            f"{dispatch}/audit/events",
            params={"actor": subject},
            headers=auth(Role.ADMIN, "130203"),
        ).json()["entries"],
        bool,
    )
    assert [e["type"] for e in launches] == ["drive.launched"]


def test_a_retried_approval_credits_once_and_replays_the_first_answer(
    system: RunningSystem,
) -> None:
    volunteer_url, dispatch = system.urls["volunteer"], system.urls["dispatch"]
    organiser = auth(Role.ORGANISER, STREET_A, subject=f"approver-{uuid.uuid4().hex[:6]}")
    form = SampleVolunteers(seed=1919).draw(f"{STREET_A}0010101")
    registered = httpx.post(f"{volunteer_url}/volunteers", json=form, headers=organiser)
    assert registered.status_code == 201, registered.text
    volunteer_id = registered.json()["volunteer_id"]

    starts_at = served_from(datetime.now(UTC) - timedelta(hours=4), 120)
    activity: dict[str, Any] = {
        "drive_id": "drive-retry",
        "title": "清扫楼道",
        "place_area_id": f"{STREET_A}001",
        "category": "environment",
        "starts_at": starts_at.isoformat(),
        "ends_at": (starts_at + timedelta(hours=2)).isoformat(),
        "capacity": 5,
        "assigned_volunteer_ids": [volunteer_id],
    }
    key = str(uuid.uuid4())
    scheduled = httpx.post(f"{dispatch}/activities", json=activity, headers=keyed(organiser, key))
    again = httpx.post(f"{dispatch}/activities", json=activity, headers=keyed(organiser, key))
    assert scheduled.status_code == again.status_code == 201, scheduled.text
    assert again.json()["activity_id"] == scheduled.json()["activity_id"]
    activity_id = scheduled.json()["activity_id"]

    corrected = httpx.post(
        f"{dispatch}/activities/{activity_id}/attendances/{volunteer_id}/correct",
        json={
            "check_in_at": starts_at.isoformat(),
            "check_out_at": (starts_at + timedelta(minutes=90)).isoformat(),
            "reason": "补签",
        },
        headers=organiser,
    )
    assert corrected.status_code == 200, corrected.text

    key = str(uuid.uuid4())
    approved = httpx.post(
        f"{dispatch}/activities/{activity_id}/approve", headers=keyed(organiser, key)
    )
    retried = httpx.post(
        f"{dispatch}/activities/{activity_id}/approve", headers=keyed(organiser, key)
    )
    unkeyed = httpx.post(f"{dispatch}/activities/{activity_id}/approve", headers=organiser)

    assert approved.status_code == retried.status_code == 200, approved.text
    assert retried.json() == approved.json()
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert approved.json()["events"]  # the first answer, with the events it recorded
    # Without the key the command runs again, and the rules refuse a second approval.
    assert unkeyed.status_code == 422
    assert unkeyed.json()["error"]["rule"] == "already_approved"
    records = httpx.get(f"{dispatch}/activities/{activity_id}", headers=organiser).json()
    assert [(r["volunteer_id"], r["minutes"]) for r in records["records"]] == [(volunteer_id, 90)]


def test_a_recurring_activity_is_one_activity_per_occurrence_each_changed_alone(
    system: RunningSystem,
) -> None:
    dispatch = system.urls["dispatch"]
    organiser = auth(Role.ORGANISER, STREET_A, subject=f"series-{uuid.uuid4().hex[:6]}")
    shanghai = ZoneInfo("Asia/Shanghai")
    first = datetime.combine(
        datetime.now(shanghai).date() + timedelta(days=1), time(8, 0), tzinfo=shanghai
    )
    until = first.date() + timedelta(weeks=2)
    series = {
        "drive_id": "drive-series",
        "title": "周六治安巡逻",
        "place_area_id": f"{STREET_A}001",
        "category": "patrol",
        "starts_at": first.isoformat(),
        "ends_at": (first + timedelta(hours=2)).isoformat(),
        "capacity": 8,
        "repeat": {"weekdays": [first.isoweekday()], "until": until.isoformat()},
    }
    key = str(uuid.uuid4())

    scheduled = httpx.post(
        f"{dispatch}/activity-series", json=series, headers=keyed(organiser, key)
    )
    again = httpx.post(f"{dispatch}/activity-series", json=series, headers=keyed(organiser, key))
    wrong_day = httpx.post(
        f"{dispatch}/activity-series",
        json=series | {"repeat": {"weekdays": [first.isoweekday() % 7 + 1], "until": str(until)}},
        headers=organiser,
    )

    assert scheduled.status_code == 201, scheduled.text
    assert again.json() == scheduled.json()
    occurrences = scheduled.json()["occurrences"]
    assert [o["occurrence"] for o in occurrences] == [1, 2, 3]
    assert [datetime.fromisoformat(o["starts_at"]).astimezone(shanghai) for o in occurrences] == [
        first + timedelta(weeks=n) for n in range(3)
    ]
    assert wrong_day.status_code == 422
    assert wrong_day.json()["error"]["rule"] == "first_on_a_weekday"
    ids = [o["activity_id"] for o in occurrences]
    cancelled = httpx.post(
        f"{dispatch}/activities/{ids[1]}/cancel", json={"reason": "暴雨"}, headers=organiser
    )
    assert cancelled.status_code == 200, cancelled.text
    views = [httpx.get(f"{dispatch}/activities/{i}", headers=organiser).json() for i in ids]
    assert [(v["series_id"], v["occurrence"], v["cancelled"]) for v in views] == [
        (scheduled.json()["series_id"], n, n == 2) for n in (1, 2, 3)
    ]
