"""Notifications over HTTP and real Kafka: a drive launched, sign-ups, a promotion, a
cancellation and a reminder coming due; each volunteer's inbox and live stream hold
exactly the expected messages, and a full redelivery writes no second copy."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from muster_cli.sample import SampleVolunteers
from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_register_to_report import auth

AREAS = load_area_tree()
STREET, OTHER_STREET = "130203001", "130203002"
BUILDINGS = [a.id for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith(STREET)]
ELSEWHERE = next(a.id for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith(OTHER_STREET))


def _wait(check: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def _register(system: RunningSystem, name: str, building: str) -> tuple[str, dict[str, str]]:
    headers = auth(Role.VOLUNTEER, STREET, subject=f"notify-{name}-{uuid.uuid4().hex[:6]}")
    form = SampleVolunteers(seed=uuid.uuid4().int % 10**9).draw(building)
    response = httpx.post(f"{system.urls['volunteer']}/volunteers", json=form, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["volunteer_id"]), headers


def _inbox(system: RunningSystem, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{system.urls['notify']}/me/notifications", params={"limit": 100}, headers=headers
    )
    if response.status_code == 404:  # the login is not bound here yet
        return []
    response.raise_for_status()
    return list(reversed(response.json()["messages"]))


def _kinds(system: RunningSystem, headers: dict[str, str]) -> list[str]:
    return [m["kind"] for m in _inbox(system, headers)]


def _stream(
    system: RunningSystem, headers: dict[str, str], seconds: int, last_event_id: str | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """The events one connection of `seconds` receives: (id, message)."""
    sent = dict(headers)
    if last_event_id is not None:
        sent["Last-Event-ID"] = last_event_id
    events: list[tuple[int, dict[str, Any]]] = []
    url = f"{system.urls['notify']}/me/notifications/stream"
    with httpx.stream(
        "GET", url, params={"max_seconds": seconds}, headers=sent, timeout=seconds + 30
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        for line in response.iter_lines():
            if line == "":
                if block.get("event") == "notification":
                    events.append((int(block["id"]), orjson.loads(block["data"])))
                block = {}
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(": ")
            block[field] = value
    return events


def _duplicates(system: RunningSystem) -> float:
    text = httpx.get(f"{system.urls['notify']}/metrics").text
    found = re.findall(
        r'muster_notify_messages_total\{kind="[^"]+",outcome="duplicate"\} (\S+)', text
    )
    return sum(float(v) for v in found)


def test_each_volunteer_is_told_exactly_what_concerns_them_in_the_inbox_and_the_stream(
    system: RunningSystem,
) -> None:
    dispatch, volunteer_url = system.urls["dispatch"], system.urls["volunteer"]
    organiser = auth(Role.ORGANISER, STREET)
    _, a_auth = _register(system, "a", BUILDINGS[0])
    b, b_auth = _register(system, "b", BUILDINGS[1])
    c, c_auth = _register(system, "c", BUILDINGS[-1])
    _, d_auth = _register(system, "d", ELSEWHERE)

    # A drive in the street, one place: told to a, b and c, not to d who lives elsewhere.
    now = datetime.now(UTC)
    form = {
        "title": "楼道清理",
        "scope_area_id": STREET,
        "category": "environment",
        "roles": [{"role_id": "general", "skill": "general", "headcount": 1}],
        "signup_closes_at": (now + timedelta(hours=2)).isoformat(),
        "activity_starts_at": (now + timedelta(days=1)).isoformat(),
        "activity_ends_at": (now + timedelta(days=1, hours=3)).isoformat(),
    }
    launched = httpx.post(f"{dispatch}/drives", json=form, headers=organiser)
    assert launched.status_code == 201, launched.text
    drive_id = launched.json()["drive_id"]
    told_url = f"{system.urls['notify']}/drives/{drive_id}/notifications"

    def broadcast_done() -> bool:
        answer = httpx.get(told_url, headers=organiser)
        return answer.status_code == 200 and bool(
            (answer.json()["broadcast"] or {}).get("finished")
        )

    assert _wait(broadcast_done)
    assert httpx.get(told_url, headers=organiser).json()["told"]["drive_launched"] == 3
    assert _wait(lambda: _kinds(system, c_auth) == ["drive_launched"])

    # a takes the place, b waits; a withdraws (b is promoted, a is not told: a knows).
    def sign_up(headers: dict[str, str]) -> str:
        seen = _wait(
            lambda: any(
                d["drive_id"] == drive_id
                for d in httpx.get(f"{volunteer_url}/drives", headers=headers).json()["drives"]
            )
        )
        assert seen
        answer = httpx.post(
            f"{volunteer_url}/drives/{drive_id}/sign-ups",
            json={"role_id": "general"},
            headers=headers | {"Idempotency-Key": uuid.uuid4().hex},
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["sign_up_id"])

    a_sign_up = sign_up(a_auth)
    assert _wait(lambda: "sign_up_accepted" in _kinds(system, a_auth))
    sign_up(b_auth)
    assert _wait(lambda: "sign_up_waitlisted" in _kinds(system, b_auth))
    withdrawn = httpx.post(f"{volunteer_url}/sign-ups/{a_sign_up}/withdraw", headers=a_auth)
    assert withdrawn.status_code == 202, withdrawn.text
    assert _wait(lambda: "sign_up_promoted" in _kinds(system, b_auth))

    # c listens live from now on, before the activities exist.
    live: list[tuple[int, dict[str, Any]]] = []
    listener = threading.Thread(target=lambda: live.extend(_stream(system, c_auth, 75)))
    listener.start()
    time.sleep(1)

    # Activity A, 1 h 20 s ahead: its 1-hour reminder falls due in 20 s. Activity B is
    # called off at once: c is told, and B's reminder never comes.
    starts = datetime.now(UTC) + timedelta(hours=1, seconds=20)

    def schedule(title: str, assigned: list[str]) -> str:
        answer = httpx.post(
            f"{dispatch}/activities",
            json={
                "drive_id": drive_id,
                "title": title,
                "place_area_id": BUILDINGS[0],
                "category": "environment",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=2)).isoformat(),
                "capacity": 10,
                "assigned_volunteer_ids": assigned,
            },
            headers=organiser,
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["activity_id"])

    held = schedule("为老服务", [b, c])
    called_off = schedule("垃圾分类宣传", [c])
    cancelled = httpx.post(
        f"{dispatch}/activities/{called_off}/cancel", json={"reason": "暴雨"}, headers=organiser
    )
    assert cancelled.status_code == 200, cancelled.text
    assert _wait(lambda: "activity_reminder" in _kinds(system, b_auth), timeout=120)
    assert _wait(lambda: "activity_reminder" in _kinds(system, c_auth), timeout=30)
    time.sleep(3)  # anything extra would show by now

    expected = {
        "a": ["drive_launched", "sign_up_accepted"],
        "b": ["drive_launched", "sign_up_waitlisted", "sign_up_promoted", "activity_reminder"],
        "c": ["drive_launched", "activity_cancelled", "activity_reminder"],
        "d": [],
    }
    inboxes = {
        name: _inbox(system, headers)
        for name, headers in (("a", a_auth), ("b", b_auth), ("c", c_auth), ("d", d_auth))
    }
    assert {name: [m["kind"] for m in inbox] for name, inbox in inboxes.items()} == expected
    reminder = inboxes["b"][-1]
    assert reminder["activity_id"] == held
    assert reminder["title"] == "活动提醒：为老服务"
    assert "提前 1 小时" in reminder["body"]
    english = httpx.get(
        f"{system.urls['notify']}/me/notifications",
        headers=b_auth | {"Accept-Language": "en-GB,en"},
    ).json()["messages"][0]
    assert english["title"] == "Reminder: 为老服务"
    assert inboxes["b"][1]["params"]["position"] == 1

    # The stream from the start holds the inbox; resumed after 2, the rest only.
    whole = _stream(system, b_auth, 2, last_event_id="0")
    assert [(i, m["message_id"]) for i, m in whole] == [
        (m["position"], m["message_id"]) for m in inboxes["b"]
    ]
    resumed = _stream(system, b_auth, 2, last_event_id="2")
    assert [i for i, _ in resumed] == [3, 4]

    # c's live stream got what was delivered while it listened, once each.
    listener.join()
    assert [m["kind"] for _, m in live] == ["activity_cancelled", "activity_reminder"]

    # Unread count and read marks.
    unread = httpx.get(f"{system.urls['notify']}/me/notifications/unread-count", headers=b_auth)
    assert unread.json() == {"unread": 4}
    marked = httpx.post(
        f"{system.urls['notify']}/me/notifications/read",
        json={"message_ids": [inboxes["b"][0]["message_id"]]},
        headers=b_auth,
    )
    assert marked.json() == {"unread": 3}
    unknown = httpx.post(
        f"{system.urls['notify']}/me/notifications/read",
        json={"message_ids": ["not-mine"]},
        headers=b_auth,
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_message"

    # Organisers see how many were told, per drive and activity.
    told = httpx.get(told_url, headers=organiser).json()["told"]
    assert told == {
        "drive_launched": 3,
        "sign_up_accepted": 1,
        "sign_up_waitlisted": 1,
        "sign_up_promoted": 1,
    }
    activity_told = httpx.get(
        f"{system.urls['notify']}/activities/{called_off}/notifications", headers=organiser
    ).json()["told"]
    assert activity_told == {"activity_cancelled": 1}

    # Every event delivered again from the start (a new consumer group): no second copy.
    system.stop("notify")
    system.environments["notify"] = system.environments["notify"] | {
        "MUSTER_SERVICE_NAME": "notify-replayed"
    }
    system.start("notify")
    assert _wait(lambda: _duplicates_or_zero(system) >= 4, timeout=120)
    time.sleep(3)
    after = {
        name: [m["message_id"] for m in _inbox(system, headers)]
        for name, headers in (("a", a_auth), ("b", b_auth), ("c", c_auth), ("d", d_auth))
    }
    assert after == {name: [m["message_id"] for m in inbox] for name, inbox in inboxes.items()}


def _duplicates_or_zero(system: RunningSystem) -> float:
    try:
        return _duplicates(system)
    except httpx.TransportError:
        return 0.0


def _notify_ready(system: RunningSystem) -> bool:
    try:
        return httpx.get(f"{system.urls['notify']}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _restart_notify(system: RunningSystem, **settings: str) -> None:
    system.stop("notify")
    system.environments["notify"] = system.environments["notify"] | settings
    system.start("notify")
    assert _wait(lambda: _notify_ready(system), timeout=60)


def test_notify_killed_mid_broadcast_finishes_it_with_no_message_lost_or_sent_twice(
    system: RunningSystem,
) -> None:
    # Pages of one area: a street's broadcast takes hundreds of pages, long enough to kill.
    _restart_notify(system, MUSTER_BROADCAST_AREAS_PER_PAGE="1")
    street = "130203003"
    homes = [a.id for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith(street)]
    people = [_register(system, f"k{i}", homes[(i * 7) % len(homes)]) for i in range(120)]
    organiser = auth(Role.ORGANISER, street)
    now = datetime.now(UTC)
    form = {
        "title": "冬季扫雪",
        "scope_area_id": street,
        "category": "environment",
        "roles": [{"role_id": "general", "skill": "general", "headcount": 5}],
        "signup_closes_at": (now + timedelta(hours=2)).isoformat(),
        "activity_starts_at": (now + timedelta(days=1)).isoformat(),
        "activity_ends_at": (now + timedelta(days=1, hours=2)).isoformat(),
    }
    # Every volunteer is known to notify before the launch (their logins read the inbox).
    assert _wait(lambda: all(httpx.get(
        f"{system.urls['notify']}/me/notifications/unread-count", headers=h
    ).status_code == 200 for _, h in people), timeout=120)  # fmt: skip
    launched = httpx.post(f"{system.urls['dispatch']}/drives", json=form, headers=organiser)
    assert launched.status_code == 201, launched.text
    told_url = f"{system.urls['notify']}/drives/{launched.json()['drive_id']}/notifications"

    def broadcast() -> dict[str, Any]:
        try:
            answer = httpx.get(told_url, headers=organiser)
        except httpx.TransportError:  # restarting
            return {}
        return dict(answer.json().get("broadcast") or {}) if answer.status_code == 200 else {}

    mid_way = _wait(lambda: 0 < broadcast().get("told", 0) < len(people) and broadcast())
    assert mid_way, broadcast()
    system.processes["notify"].kill()  # SIGKILL: no shutdown, no last flush
    system.processes.pop("notify").wait(timeout=15)
    system.start("notify")
    assert _wait(lambda: _notify_ready(system), timeout=60)

    assert _wait(lambda: broadcast().get("finished"), timeout=180), broadcast()
    assert broadcast()["told"] == len(people)
    for _, headers in people:
        assert _kinds(system, headers) == ["drive_launched"]
