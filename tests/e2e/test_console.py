"""The organisers' console in a real browser (Debian's Chromium at desk size) against the
running services and a real OpenID provider (tools/oidc): an organiser of a street signs in
through the provider and sees the drives and activities of their area; a volunteer signing
in through it is refused the console in words. An organiser (development sign-in) launches
a drive, finds it in the area's list of drives, accepts
the sign-ups in bulk and forms teams (split, move, change leader), schedules a weekly
activity, moves one occurrence and cancels another, shows the QR screen, from which a
volunteer checks in (its link opened in a second browser with the phone's location), sees
the attendance live, corrects it with a reason, imports a roster with errors, and approves
the hours. No console error, and no request leaves the stack."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest

from muster_cli.sample import SampleVolunteers
from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Role
from tests.e2e import test_volunteer_page as volunteer_page
from tests.e2e.conftest import RunningSystem
from tests.e2e.field_day import COMMUNITY, STREET
from tests.e2e.test_activities_and_hours import PLACE
from tests.e2e.test_leadership import needs_chromium
from tests.e2e.test_volunteer_page import (
    ISSUER,
    ORGANISER_LOGIN,
    Watched,
    log_in_at_the_provider,
    needs_identity_provider,
    pages_signing_in_through,
    signed_by_the_tests,
    until,
)

DESK = {"width": 1366, "height": 850}
ZONE = ZoneInfo("Asia/Shanghai")  # the browsers' time zone, as the organisers' is
AREAS = load_area_tree()
BUILDING = next(a for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith(COMMUNITY))


# The services trusting the provider, and the provider, as for the volunteer's page.
system = volunteer_page.system
identity_provider = volunteer_page.identity_provider


@pytest.fixture(scope="module")
def pages_url(system: RunningSystem, identity_provider: str) -> str:
    """Signing in through the provider, and the development sign-in beside it."""
    return pages_signing_in_through(system, identity_provider, {"MUSTER_DEV_MODE": "1"})


def organiser(subject: str = "console-organiser") -> dict[str, str]:
    return signed_by_the_tests(subject, Role.ORGANISER, STREET)


@pytest.fixture(scope="module")
def playwright_module() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


def said(page: Any) -> tuple[str, str]:
    """What the console said of the last action: ok or bad, and its words."""
    status = page.wait_for_selector("#status.ok, #status.bad")
    return ("ok" if "ok" in (status.get_attribute("class") or "") else "bad"), status.text_content()


def local(moment: datetime) -> str:
    """What a `datetime-local` input holds for `moment` in the browser's zone."""
    return moment.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def register_volunteers(system: RunningSystem, count: int) -> list[tuple[str, dict[str, str]]]:
    """Volunteers of the community with the skill the drive asks for: (login, headers)."""
    sample = SampleVolunteers(seed=2828)
    people = []
    with httpx.Client(base_url=system.urls["volunteer"], timeout=30) as volunteer:
        for i in range(count):
            login = f"console-{uuid.uuid4().hex[:8]}-{i}"
            headers = signed_by_the_tests(login, Role.VOLUNTEER)
            form = sample.draw(COMMUNITY) | {"skills": ["general"], "categories": ["resident"]}
            form.pop("employer_unit", None)
            answer = volunteer.post("/volunteers", json=form, headers=headers)
            assert answer.status_code == 201, answer.text
            people.append((login, headers))
    return people


def sign_up(system: RunningSystem, drive_id: str, people: list[tuple[str, dict[str, str]]]) -> None:
    """Each volunteer signs up (once the volunteer service has heard of the drive)."""
    with httpx.Client(base_url=system.urls["volunteer"], timeout=30) as volunteer:
        for _, headers in people:

            def signed(headers: dict[str, str] = headers) -> bool:
                answer = volunteer.post(
                    f"/drives/{drive_id}/sign-ups", json={"role_id": "general"}, headers=headers
                )
                return answer.status_code in (200, 201, 202)

            assert until(signed)


@needs_chromium
def test_an_organiser_runs_a_drive_and_its_activities_from_the_console(
    system: RunningSystem,
    pages_url: str,
    playwright_module: Any,
    tmp_path: Path,
) -> None:
    stack = [pages_url]
    desk = Watched(
        playwright_module, tmp_path / "desk", stack,
        viewport=DESK, device_scale_factor=1, is_mobile=False, has_touch=False,
        timezone_id=ZONE.key, accept_downloads=True,
    )  # fmt: skip
    phone = Watched(playwright_module, tmp_path / "phone", stack)
    try:
        run_the_console(system, pages_url, desk, phone, tmp_path)
    finally:
        desk.context.close()
        phone.context.close()
    assert desk.problems == [], desk.problems
    assert phone.problems == [], phone.problems
    assert desk.elsewhere + phone.elsewhere == [], desk.elsewhere + phone.elsewhere


def run_the_console(
    system: RunningSystem, pages_url: str, desk: Watched, phone: Watched, tmp_path: Path
) -> None:
    page = desk.page
    page.goto(
        f"{pages_url}/sign-in/dev?subject=desk-{uuid.uuid4().hex[:6]}&role=organiser"
        f"&area={STREET}&next=/console"
    )
    desk.drawn("/console")
    assert page.text_content("header h1") == "组织者工作台"
    assert f"#{STREET}" in (page.get_attribute("#dashboard-link", "href") or "")

    # Launch a drive the organiser decides on.
    now = datetime.now(ZONE)
    page.fill("#drive-title", "社区助老服务队招募")
    page.select_option("#drive-category", "elderly_care")
    page.select_option("#drive-skill", "general")
    page.fill("#drive-headcount", "6")
    page.select_option("#drive-acceptance", "organiser")
    page.fill("#drive-team-min", "1")
    page.fill("#drive-team-max", "3")
    page.fill("#drive-closes", local(now + timedelta(hours=3)))
    page.fill("#drive-starts", local(now + timedelta(days=1)))
    page.fill("#drive-ends", local(now + timedelta(days=1, hours=2)))
    page.click("#launch-form button[type=submit]")
    page.wait_for_url(f"{pages_url}/console/drives/**")
    drive_id = page.url.rsplit("/", 1)[1]
    desk.drawn(f"/console/drives/{drive_id}")
    # The area's list of drives holds it, taking sign-ups (dispatch's list follows its events).
    page.goto(f"{pages_url}/console")
    listed = f"#drive-rows tr[data-drive-id='{drive_id}'][data-status=open]"
    assert until(lambda: desk.redrawn("/console", listed) == 1)
    desk.screen("console-drives")
    page.select_option("#drive-status", "closed")
    page.click("#drive-filter button[type=submit]")
    page.wait_for_selector(
        "#drive-rows tr:not([data-drive-id]), #drive-rows tr[data-status=closed]"
    )
    assert page.locator(f"#drive-rows tr[data-drive-id='{drive_id}']").count() == 0
    page.goto(f"{pages_url}/console/drives/{drive_id}")
    desk.drawn(f"/console/drives/{drive_id}")

    # Three volunteers sign up; the organiser accepts them in bulk.
    people = register_volunteers(system, 3)
    sign_up(system, drive_id, people)
    waiting = "#sign-up-rows tr[data-status=waitlisted]"
    assert until(lambda: desk.redrawn(f"/console/drives/{drive_id}", waiting) == 3, timeout=60)
    page.check("#select-all")
    page.click("#accept-selected")
    page.wait_for_selector("#status.ok")
    accepted = "#sign-up-rows tr[data-status=accepted]"
    assert until(lambda: desk.redrawn(f"/console/drives/{drive_id}", accepted) == 3)
    assert page.text_content("[data-funnel=accepted] .value") == "3"

    # Teams: formed, one member split off, moved back, a new leader.
    page.click("#form-teams")
    page.wait_for_selector("#team-list .team")
    page.locator("#team-list .team button.split").first.click()
    page.wait_for_selector("#team-list .team >> nth=1")
    member = page.locator("#team-list .team").first.locator("li:has(button.make-leader)").first
    page.select_option("#move-volunteer", member.get_attribute("data-volunteer-id"))
    page.select_option("#move-team", index=1)
    page.click("#move-form button[type=submit]")
    page.wait_for_selector("#status.ok:has-text('已调整')")
    page.locator("#team-list .team button.make-leader").first.click()
    page.wait_for_selector("#status.ok:has-text('已更换队长')")
    desk.screen("console-drive")
    teams = httpx.get(
        f"{system.urls['dispatch']}/drives/{drive_id}/teams", headers=organiser()
    ).json()["teams"]
    assert sum(len(t["members"]) for t in teams) == 3
    volunteer_ids = [
        s["volunteer_id"]
        for s in httpx.get(
            f"{system.urls['dispatch']}/drives/{drive_id}/sign-ups", headers=organiser()
        ).json()["sign_ups"]
    ]

    # A weekly activity: the first occurrence under way now.
    page.click("a[data-screen-link=activities]")
    desk.drawn("/console/activities")
    # It ends 90 to 120 seconds after it is scheduled: the check-in comes first, and the
    # hours are approved once it has ended.
    if datetime.now(ZONE).second > 30:
        time.sleep(61 - datetime.now(ZONE).second)
    now = datetime.now(ZONE)
    starts = (now - timedelta(minutes=20)).replace(second=0, microsecond=0)
    ends = now.replace(second=0, microsecond=0) + timedelta(minutes=2)
    page.fill("#act-title", "周六助老巡访")
    page.fill("#act-drive", drive_id)
    page.fill("#act-place", COMMUNITY)
    page.select_option("#act-category", "elderly_care")
    page.fill("#act-latitude", str(PLACE[0]))
    page.fill("#act-longitude", str(PLACE[1]))
    page.fill("#act-starts", local(starts))
    page.fill("#act-ends", local(ends))
    page.fill("#act-capacity", "5")
    page.fill("#act-assigned", ",".join(volunteer_ids))
    page.check("#act-repeat")
    page.fill("#act-until", (now + timedelta(days=21)).strftime("%Y-%m-%d"))
    page.click("#schedule-form button[type=submit]")
    page.wait_for_selector("#status.ok:has-text('已安排 4 次活动')", timeout=30000)
    rows = page.locator("#activity-rows tr[data-activity-id]")
    assert until(
        lambda: desk.redrawn("/console/activities", "#activity-rows tr[data-activity-id]") == 4
    )
    occurrences = [rows.nth(i).get_attribute("data-activity-id") for i in range(4)]
    first, second, third = occurrences[0], occurrences[1], occurrences[2]

    # The QR screen at the gate; a volunteer's phone opens its link and checks in.
    page.goto(f"{pages_url}/console/activities/{first}/qr")
    desk.drawn(f"/console/activities/{first}/qr")
    page.wait_for_selector("#qr-code svg path")
    link = page.get_attribute("#qr-code", "data-payload") or ""
    assert link.startswith(f"{pages_url}/check-in/{first}?code="), link
    assert (page.text_content("#qr-plain") or "") in link
    desk.screen("console-qr")
    login, _ = people[0]
    phone.page.goto(
        f"{pages_url}/sign-in/dev?subject={login}&next={quote(link.removeprefix(pages_url))}"
    )
    phone.drawn(f"/check-in/{first}")

    def check_in() -> str:
        phone.page.goto(link)
        phone.drawn(f"/check-in/{first}")
        phone.page.click("#check-in-button")
        phone.page.wait_for_selector("#check-in-result.ok, #check-in-result.bad", timeout=30000)
        return phone.page.text_content("#check-in-result") or ""

    message = until(lambda: (m := check_in()) and "尚未送达" not in m and m, timeout=60)
    assert "签到成功" in message, message

    # Live attendance: the volunteer is on site, then corrected with a reason.
    page.goto(f"{pages_url}/console/activities/{first}")
    desk.drawn(f"/console/activities/{first}")
    page.wait_for_selector("#attendance-rows tr[data-state=checked_in]", timeout=30000)
    on_site = page.locator("#attendance-rows tr[data-state=checked_in]")
    assert on_site.count() == 1
    volunteer_id = on_site.first.get_attribute("data-volunteer-id")
    desk.screen("console-attendance")
    on_site.first.locator("button.correct").click()
    page.fill("#correct-in", local(starts))
    page.fill("#correct-out", local(datetime.now(ZONE)))  # to the minute: not ahead of now
    page.fill("#correct-reason", "纸质签到表")
    page.click("#correct-form button[type=submit]")
    assert said(page) == ("ok", "已补签。")
    page.wait_for_selector(
        f"#attendance-rows tr[data-volunteer-id='{volunteer_id}'][data-state=checked_out]",
        timeout=30000,
    )
    page.fill("#beneficiaries-elderly", "12")
    page.click("#beneficiaries-form button[type=submit]")
    page.wait_for_selector("#status.ok:has-text('已记录受益人次')")

    # The second occurrence moves an hour later; the third is cancelled.
    page.goto(f"{pages_url}/console/activities/{second}")
    desk.drawn(f"/console/activities/{second}")
    second_starts = starts + timedelta(days=7, hours=1)
    page.fill("#amend-starts", local(second_starts))
    page.fill("#amend-ends", local(ends + timedelta(days=7, hours=1)))
    page.click("#amend-activity button[type=submit]")
    page.wait_for_selector("#status.ok:has-text('活动已调整')")
    page.goto(f"{pages_url}/console/activities/{third}")
    desk.drawn(f"/console/activities/{third}")
    page.fill("#cancel-reason", "暴雨预警")
    page.click("#cancel-form button[type=submit]")
    page.wait_for_selector("#status.ok:has-text('活动已取消')")
    page.goto(f"{pages_url}/console/activities")
    desk.drawn("/console/activities")
    assert until(
        lambda: desk.redrawn(
            "/console/activities", f"#activity-rows tr.cancelled[data-activity-id='{third}']"
        )
    )
    moved = page.text_content(f"#activity-rows tr[data-activity-id='{second}'] .starts") or ""
    assert second_starts.strftime("%H:%M") in moved, moved
    desk.screen("console-activities")

    # A roster with errors: previewed row by row, then the ready rows imported.
    page.click("a[data-screen-link=roster]")
    desk.drawn("/console/roster")
    roster = tmp_path / "名册.csv"
    roster.write_text(
        "姓名,手机,楼栋,类别\n"
        f"周敏,13800000101,{BUILDING.id},居民\n"
        f"吴刚,1380000,{BUILDING.id},居民\n"
        f"郑洁,13800000103,不存在的楼,居民\n"
        f"冯涛,13800000104,{BUILDING.id},学生\n",
        encoding="utf-8",
    )
    page.set_input_files("#roster-file", str(roster))
    page.click("#roster-form button[type=submit]")
    page.wait_for_selector("#roster-rows tr[data-row]")
    assert page.locator("#roster-rows tr.refused").count() == 2
    assert "手机号无效" in (page.text_content("#roster-rows tr[data-row='3'] .problems") or "")
    assert "找不到楼栋" in (page.text_content("#roster-rows tr[data-row='4'] .problems") or "")
    page.click("#roster-import")
    page.wait_for_selector("#roster-summary:has-text('导入完成')", timeout=60000)
    assert "新登记 2 人" in (page.text_content("#roster-summary") or "")
    assert page.get_attribute("#roster-progress", "value") == page.get_attribute(
        "#roster-progress", "max"
    )
    desk.screen("console-roster")

    # In English too, and the hours approved once the activity has ended.
    page.click("#lang-toggle")
    page.wait_for_selector('header h1:has-text("Organisers\' console")')
    page.goto(f"{pages_url}/console/activities/{first}")
    desk.drawn(f"/console/activities/{first}")
    while datetime.now(ZONE) < ends + timedelta(seconds=5):
        time.sleep(1)

    def approve() -> bool:
        page.click("#approve")
        page.wait_for_selector("#status.ok, #status.bad")
        return "approved" in (page.text_content("#status") or "")

    assert until(approve, timeout=90)
    page.wait_for_selector("#activity-heading .badge.approved")


@needs_chromium
@needs_identity_provider
def test_an_organiser_signs_in_through_the_identity_provider_and_sees_their_area(
    system: RunningSystem,
    pages_url: str,
    playwright_module: Any,
    tmp_path: Path,
) -> None:
    dispatch = system.urls["dispatch"]
    mine = organiser(f"colleague-{uuid.uuid4().hex[:6]}")
    starts = datetime.now(ZONE).replace(microsecond=0) + timedelta(days=2)
    drive = httpx.post(
        f"{dispatch}/drives",
        headers=mine,
        json={
            "title": "冬季清雪招募",
            "scope_area_id": COMMUNITY,
            "category": "environment",
            "roles": [{"role_id": "general", "skill": "general", "headcount": 8}],
            "signup_closes_at": (starts - timedelta(days=1)).isoformat(),
            "activity_starts_at": starts.isoformat(),
            "activity_ends_at": (starts + timedelta(hours=2)).isoformat(),
        },
    )
    assert drive.status_code == 201, drive.text
    drive_id = drive.json()["drive_id"]
    activity = httpx.post(
        f"{dispatch}/activities",
        headers=mine,
        json={
            "drive_id": drive_id, "title": "清雪：3 号楼前", "place_area_id": COMMUNITY,
            "category": "environment", "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(), "capacity": 8,
        },
    )  # fmt: skip
    assert activity.status_code == 201, activity.text
    activity_id = activity.json()["activity_id"]

    desk = Watched(
        playwright_module, tmp_path / "desk", [pages_url, ISSUER],
        viewport=DESK, device_scale_factor=1, is_mobile=False, has_touch=False,
        timezone_id=ZONE.key,
    )  # fmt: skip
    try:
        page = desk.page
        page.goto(f"{pages_url}/console/activities")  # signed out: to the provider and back
        log_in_at_the_provider(desk, pages_url, ORGANISER_LOGIN)
        desk.drawn("/console/activities")
        assert page.text_content("#who") == f"{ORGANISER_LOGIN} · 辖区 {STREET}"
        row = f"#activity-rows tr[data-activity-id='{activity_id}']"
        assert until(lambda: desk.redrawn("/console/activities", row) == 1)
        assert "清雪：3 号楼前" in (page.text_content(row) or "")
        page.click("a[data-screen-link=drives]")
        listed = f"#drive-rows tr[data-drive-id='{drive_id}']"
        assert until(lambda: desk.redrawn("/console", listed) == 1)
        assert "冬季清雪招募" in (page.text_content(listed) or "")
    finally:
        desk.context.close()
    assert desk.problems == [], desk.problems
    assert desk.elsewhere == [], desk.elsewhere


@needs_chromium
@needs_identity_provider
def test_a_volunteer_signed_in_through_the_identity_provider_is_refused_the_console(
    pages_url: str, playwright_module: Any, tmp_path: Path
) -> None:
    phone = Watched(playwright_module, tmp_path / "phone", [pages_url, ISSUER])
    try:
        page = phone.page
        page.goto(f"{pages_url}/console")
        log_in_at_the_provider(phone, pages_url, f"resident-{uuid.uuid4().hex[:6]}")
        phone.drawn("/console")
        answer = page.goto(f"{pages_url}/console")
        assert answer is not None
        assert answer.status == 403
        phone.drawn("/console")
        refusal = "section[data-screen=refused]"
        assert page.is_visible(refusal)
        assert "无权使用工作台" in (page.text_content(f"{refusal} h2") or "")
        assert "此账号不是组织者" in (page.text_content(refusal) or "")
        assert page.is_hidden("#side")  # no screen of the console is offered
        page.click("#lang-toggle")
        page.wait_for_selector(f"{refusal} h2:has-text('Not allowed here')")
        assert "not an organiser's" in (page.text_content(refusal) or "")
    finally:
        phone.context.close()
    assert phone.problems == [], phone.problems
    assert phone.elsewhere == [], phone.elsewhere
