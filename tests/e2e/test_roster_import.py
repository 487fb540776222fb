"""Roster import over HTTP: a CSV previewed with row-level errors, imported with progress
as NDJSON, uploaded again without registering anyone twice; XLSX alike; every refusal of
the file as a whole with its status and code."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from openpyxl import Workbook

from muster_auth.dev_tokens import issue_token
from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem

AREAS = load_area_tree()
STREET = "130203001"
BUILDING = next(a for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith(STREET))
COMMUNITY = AREAS.path(BUILDING.id)[3]
ORGANISER = {"Authorization": f"Bearer {issue_token('organiser-zhao', Role.ORGANISER, STREET)}"}
CSV = {"Content-Type": "text/csv"}
XLSX = {"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}

ROSTER = f"""姓名,手机,楼栋,类别,备注
王芳,13700000001,{COMMUNITY.name}/{BUILDING.name},党员;居民,
李雷,13700000002,{BUILDING.name},学生,楼名重复
韩梅,1370000,{BUILDING.id},居民,手机号不对
赵四,13700000004,{BUILDING.id},居民,
赵四,13700000004,{BUILDING.id},居民,同一行又一次
"""


@pytest.fixture(scope="module")
def volunteer(system: RunningSystem) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.urls["volunteer"], timeout=60) as client:
        yield client


def imported(answer: httpx.Response) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in answer.text.splitlines()]
    return lines[:-1], lines[-1]


def test_a_csv_is_previewed_then_imported_once(volunteer: httpx.Client) -> None:
    body = ROSTER.encode("gb18030")  # as Excel in Chinese saves a CSV
    preview = volunteer.post("/rosters/preview", content=body, headers=ORGANISER | CSV)

    assert preview.status_code == 200, preview.text
    answer = preview.json()
    assert (answer["rows"], answer["ready"], answer["refused"]) == (5, 2, 3)
    assert answer["unknown_columns"] == ["备注"]
    codes = {d["row"]: [e["code"] for e in d["errors"]] for d in answer["details"]}
    assert codes == {
        2: [],
        3: ["ambiguous_building"],
        4: ["invalid"],
        5: [],
        6: ["duplicate_in_file"],
    }
    assert answer["details"][0]["name"] == "王芳"

    progress, summary = imported(
        volunteer.post("/rosters/import", content=body, headers=ORGANISER | CSV)
    )
    assert progress
    assert all(p["of"] == 5 for p in progress)
    assert (summary["registered"], summary["refused"], summary["already_registered"]) == (2, 3, 0)
    registered = [d["volunteer_id"] for d in summary["details"] if d["status"] == "registered"]
    record = volunteer.get(f"/volunteers/{registered[0]}", headers=ORGANISER)
    assert record.status_code == 200, record.text
    assert (record.json()["name"], record.json()["home_area_id"]) == ("王芳", BUILDING.id)

    _, again = imported(volunteer.post("/rosters/import", content=body, headers=ORGANISER | CSV))
    assert (again["registered"], again["already_registered"]) == (0, 2)
    assert [d["volunteer_id"] for d in again["details"] if d["status"] == "already_registered"] == (
        registered
    )


def test_an_xlsx_roster_is_imported(volunteer: httpx.Client) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Name", "Phone", "Building", "Categories"])
    sheet.append(["Li Na", 13700000011, BUILDING.id, "resident; student"])
    content = io.BytesIO()
    book.save(content)

    _, summary = imported(
        volunteer.post("/rosters/import", content=content.getvalue(), headers=ORGANISER | XLSX)
    )

    assert summary["registered"] == 1, summary


def test_a_file_that_is_not_a_roster_is_refused_whole(volunteer: httpx.Client) -> None:
    def error(answer: httpx.Response) -> tuple[int, str]:
        return answer.status_code, answer.json()["error"]["code"]

    headers = ORGANISER | CSV
    assert error(volunteer.post("/rosters/preview", json={"rows": []}, headers=ORGANISER)) == (
        415,
        "unsupported_media_type",
    )
    assert error(
        volunteer.post("/rosters/import", content="姓名,楼栋\n王芳,1\n".encode(), headers=headers)
    ) == (422, "roster_columns_missing")
    assert error(
        volunteer.post("/rosters/preview", content=b"x" * (9 * 2**20), headers=headers)
    ) == (413, "payload_too_large")
    outside = volunteer.post(
        "/rosters/preview", params={"area_id": "130203002"}, content=ROSTER, headers=headers
    )
    assert error(outside) == (403, "forbidden")
