"""Admins extend the area tree (reference data) at dispatch; every service learns the area.

An admin adds a building under an existing grid; the addition is idempotent, refused for a
conflicting name, an unknown parent or a malformed id, forbidden to every other role, and
kept across a restart of dispatch (which loads the packaged file plus its `area-tree` stream).
Volunteers then live there, activities happen there and the hours roll up through it, and
volunteer and reporting keep it across their own restarts.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from muster_cli.sample import SampleVolunteers
from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem, served_from
from tests.e2e.test_access_matrix import launch_form
from tests.e2e.test_register_to_report import auth, wait_for

AREAS = load_area_tree()
# A grid of street 2 whose buildings leave slot 98 free (grids hold at most 5).
GRID = next(a for a in AREAS.at_level(AreaLevel.GRID) if a.id.startswith("130203002"))
NEW_BUILDING = f"{GRID.id}98"
ADMIN = auth(Role.ADMIN)


def add_area(
    system: RunningSystem, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return httpx.post(f"{system.urls['dispatch']}/admin/areas", json=body, headers=headers)


def read_area(system: RunningSystem, area_id: str) -> httpx.Response:
    return httpx.get(f"{system.urls['dispatch']}/areas/{area_id}", headers=auth(Role.VOLUNTEER))


def test_admin_adds_an_area_once_and_dispatch_keeps_it(system: RunningSystem) -> None:
    assert NEW_BUILDING not in AREAS
    body = {"id": NEW_BUILDING, "name": "98号楼"}
    added = add_area(system, body, ADMIN)
    assert added.status_code == 201, added.text
    area = added.json()
    assert (area["id"], area["name"], area["level"], area["parent_id"]) == (
        NEW_BUILDING,
        "98号楼",
        "building",
        GRID.id,
    )
    assert [a["id"] for a in area["path"]] == list(AREAS.lineage_ids(GRID.id))

    again = add_area(system, body, ADMIN)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == NEW_BUILDING

    grid = read_area(system, GRID.id)
    assert grid.status_code == 200, grid.text
    children = [c["id"] for c in grid.json()["children"]]
    assert children == sorted([c.id for c in AREAS.children(GRID.id)] + [NEW_BUILDING])

    system.stop("dispatch")
    system.start("dispatch")
    system.wait_ready(["dispatch"])
    kept = read_area(system, NEW_BUILDING)
    assert kept.status_code == 200, kept.text
    assert kept.json()["name"] == "98号楼"
    # The stream's version was read back too: the next addition appends after it.
    next_one = add_area(system, {"id": f"{GRID.id}97", "name": "97号楼"}, ADMIN)
    assert next_one.status_code == 201, next_one.text
    assert add_area(system, body, ADMIN).status_code == 200


def test_bad_additions_are_refused_with_a_reason(system: RunningSystem) -> None:
    taken = add_area(system, {"id": GRID.id, "name": "另一个名字"}, ADMIN)
    assert taken.status_code == 409, taken.text
    assert taken.json()["error"]["code"] == "area_exists"
    assert taken.json()["error"]["existing_name"] == GRID.name

    orphan = add_area(system, {"id": "13020300999901", "name": "无主网格"}, ADMIN)
    assert orphan.status_code == 422, orphan.text
    assert orphan.json()["error"]["code"] == "rule_violated"
    assert orphan.json()["error"]["rule"] == "missing_parent"

    for malformed in ("1302030019", "13020300100a01", "1303"):
        refused = add_area(system, {"id": malformed, "name": "楼"}, ADMIN)
        assert refused.status_code == 422, refused.text
        assert "error" in refused.json()
    assert read_area(system, "13020300999901").status_code == 404


def test_only_an_admin_adds_areas(system: RunningSystem) -> None:
    body = {"id": f"{GRID.id}96", "name": "96号楼"}
    for role in (Role.ORGANISER, Role.LEADER, Role.VOLUNTEER):
        refused = add_area(system, body, auth(role, GRID.id))
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["reason"] == "wrong_role"
    missing = add_area(system, body, {})
    assert missing.status_code == 401, missing.text
    assert missing.json()["error"]["reason"] == "missing"
    assert read_area(system, f"{GRID.id}96").status_code == 404
    assert httpx.get(f"{system.urls['dispatch']}/areas/{GRID.id}").status_code == 401


def test_an_activity_in_an_unknown_area_is_refused_naming_the_area(system: RunningSystem) -> None:
    organiser = auth(Role.ORGANISER, GRID.id)
    now = datetime.now(UTC)
    activity = {
        "drive_id": "drive-unknown-area",
        "title": "楼道清理",
        "category": "environment",
        "starts_at": (now + timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
        "capacity": 5,
    }
    # Inside the organiser's grid, but no such building (yet): 422, not 403.
    unknown = httpx.post(
        f"{system.urls['dispatch']}/activities",
        json=activity | {"place_area_id": f"{GRID.id}94"},
        headers=organiser,
    )
    elsewhere = httpx.post(
        f"{system.urls['dispatch']}/activities",
        json=activity | {"place_area_id": AREAS.children("130203003")[0].id},
        headers=organiser,
    )

    assert unknown.status_code == 422, unknown.text
    error = unknown.json()["error"]
    assert (error["code"], error["field"]) == ("unknown_area", "place_area_id")
    assert f"{GRID.id}94" in error["message"]
    assert elsewhere.status_code == 403, elsewhere.text
    assert elsewhere.json()["error"]["reason"] == "outside_scope"


def register_at(system: RunningSystem, area_id: str, seed: int) -> httpx.Response:
    return httpx.post(
        f"{system.urls['volunteer']}/volunteers",
        json=SampleVolunteers(seed=seed).draw(area_id),
        headers=auth(Role.VOLUNTEER, area_id, subject=f"area-{uuid.uuid4().hex[:8]}")
        | {"Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )


def service_report(system: RunningSystem, area_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{system.urls['reporting']}/reports/service",
        params={"area_id": area_id},
        headers=auth(Role.LEADER),
        timeout=30,
    )
    body: dict[str, Any] = response.json() if response.status_code == 200 else {}
    return body


def test_volunteers_serve_at_a_new_building_and_its_hours_roll_up(system: RunningSystem) -> None:
    building = f"{GRID.id}95"
    lineage = AREAS.lineage_ids(GRID.id)  # district ... grid
    before = {a: service_report(system, a)["area"]["hours"] for a in lineage[1:]}
    added = add_area(system, {"id": building, "name": "95号楼"}, ADMIN)
    assert added.status_code == 201, added.text
    added_at = time.monotonic()

    # The volunteer service learns the building from dispatch's event.
    registered = wait_for(
        lambda: register_at(system, building, 95), lambda r: r.status_code == 201, timeout=60
    )
    assert registered.status_code == 201, registered.text
    print(
        f"\nvolunteer registered at the new building {time.monotonic() - added_at:.2f} s after it was added"
    )
    volunteer_id = registered.json()["volunteer_id"]

    dispatch = httpx.Client(base_url=system.urls["dispatch"], timeout=30)
    organiser = auth(Role.ORGANISER, GRID.id)
    pooled = wait_for(
        lambda: dispatch.get(f"/pool/volunteers/{volunteer_id}", headers=organiser),
        lambda r: r.status_code == 200,
        timeout=60,
    )
    assert pooled.json()["lineage"] == [*AREAS.lineage_ids(GRID.id), building]
    now = datetime.now(UTC)
    launched = dispatch.post("/drives", json=launch_form(building), headers=organiser)
    assert launched.status_code == 201, launched.text
    starts_at, ends_at = now - timedelta(hours=3), now + timedelta(seconds=2)
    scheduled = dispatch.post(
        "/activities",
        json={
            "drive_id": launched.json()["drive_id"],
            "title": "楼道清理",
            "place_area_id": building,
            "category": "environment",
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "capacity": 5,
            "assigned_volunteer_ids": [volunteer_id],
        },
        headers=organiser,
    )
    assert scheduled.status_code == 201, scheduled.text
    activity_id = scheduled.json()["activity_id"]
    served_at = served_from(starts_at, 90)
    corrected = dispatch.post(
        f"/activities/{activity_id}/attendances/{volunteer_id}/correct",
        json={
            "check_in_at": served_at.isoformat(),
            "check_out_at": (served_at + timedelta(minutes=90)).isoformat(),
            "reason": "纸质签到表",
        },
        headers=organiser,
    )
    assert corrected.status_code == 200, corrected.text
    time.sleep(max(0.0, (ends_at - datetime.now(UTC)).total_seconds() + 0.5))
    approved = dispatch.post(f"/activities/{activity_id}/approve", headers=organiser)
    assert approved.status_code == 200, approved.text

    # 1.5 h at the building, in the grid, community, street and district.
    def rolled_up() -> bool:
        return all(
            service_report(system, a).get("area", {}).get("hours") == before[a] + 1.5
            for a in lineage[1:]
        )

    assert wait_for(rolled_up, bool, timeout=60), {
        a: service_report(system, a)["area"]["hours"] for a in lineage[1:]
    }
    grid = service_report(system, GRID.id)
    row = next(c for c in grid["children"] if c["area_id"] == building)
    assert (row["name"], row["level"], row["hours"], row["activities"]) == (
        "95号楼",
        "building",
        1.5,
        1,
    )
    assert service_report(system, building)["area"]["hours"] == 1.5

    # Volunteer and reporting keep the building across a restart.
    for name in ("volunteer", "reporting"):
        system.stop(name)
        system.start(name)
    system.wait_ready(["volunteer", "reporting"])
    again = register_at(system, building, 96)
    assert again.status_code == 201, again.text
    kept = service_report(system, GRID.id)
    assert [c["name"] for c in kept["children"] if c["area_id"] == building] == ["95号楼"]
