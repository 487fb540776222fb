"""Admins extend the area tree (reference data) at dispatch; every service learns the area.

An admin adds a building under an existing grid; the addition is idempotent, refused for a
conflicting name, an unknown parent or a malformed id, forbidden to every other role, and
kept across a restart of dispatch (which loads the packaged file plus its `area-tree` stream).
"""

from __future__ import annotations

from typing import Any

import httpx

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_register_to_report import auth

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
