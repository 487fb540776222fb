"""The hours statement as a specification: given approved records and the activities and
drives they belong to, the statement names each one in the chosen language and prints on
one A4 sheet."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from muster_contracts.areas import load_area_tree
from muster_volunteer.application.hours_statement import compose_statement
from muster_volunteer.domain.service_categories import Language
from muster_volunteer.entrypoints.hours_statement_page import render_statement

AREAS = load_area_tree()
STREET, COMMUNITY = "130203001", "130203001001"  # 乔屯街道, 天元公寓社区
OTHER_COMMUNITY = "130203009001"  # 胜利南里社区, 大里街道
ISSUED_AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def record(activity_id: str, category: str, place: str, minutes: int, **more: Any) -> Any:
    return {
        "record_id": f"{activity_id}-r",
        "activity_id": activity_id,
        "volunteer_id": "v-1",
        "drive_id": None,
        "team_id": None,
        "category": category,
        "place_area_id": place,
        "service_date": date(2026, 12, 5),
        "minutes": minutes,
        "hours": minutes / 60,
        "approved_by": "organiser-li",
    } | more


def statement(lang: Language) -> dict[str, Any]:
    records = [
        record("a-1", "environment", COMMUNITY, 150, drive_id="d-1"),
        # A team's activity: no drive, so the unit is where it took place.
        record("a-2", "elderly_care", OTHER_COMMUNITY, 90, team_id="t-1"),
    ]
    service = {
        "volunteer_id": "v-1",
        "records": records,
        "total_minutes": 240,
        "total_hours": 4.0,
        "hours_by_category": {"environment": 2.5, "elderly_care": 1.5},
        "stars": 0,
    }
    activities = {
        "a-1": {"activity_id": "a-1", "title": "楼道清理", "drive_id": "d-1"},
        "a-2": {"activity_id": "a-2", "title": "助餐送餐", "team_id": "t-1"},
    }
    drives = {"d-1": {"_id": "d-1", "title": "洁净家园行动", "scope_area_id": STREET}}
    volunteer = {"volunteer_id": "v-1", "name": "王芳", "home_area_id": COMMUNITY}
    return compose_statement(
        volunteer, service, activities, drives, AREAS, "路北区志愿服务联合会", ISSUED_AT, lang
    )


def cells(page: str) -> list[list[str]]:
    """The body rows of the page's table, as the text of each cell."""
    body = re.search(r"<tbody>(.*)</tbody>", page, re.S)
    assert body is not None, page
    return [
        [" ".join(re.sub(r"<[^>]+>", " ", cell).split())
         for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]  # fmt: skip


def test_each_record_names_its_activity_drive_category_place_and_organising_unit() -> None:
    page = render_statement(statement("zh-CN"), "zh-CN")
    assert cells(page) == [
        ["2026-12-05", "楼道清理 所属招募：洁净家园行动", "环境整治", "乔屯街道 天元公寓社区",
         "路北区 乔屯街道", "2.5"],
        ["2026-12-05", "助餐送餐", "为老服务", "大里街道 胜利南里社区",
         "路北区 大里街道 胜利南里社区", "1.5"],
    ]  # fmt: skip
    assert '<html lang="zh-CN">' in page
    assert "志愿服务证明" in page
    assert "王芳" in page
    assert "唐山市 路北区 乔屯街道 天元公寓社区" in page  # the volunteer's home


def test_in_english_the_labels_and_categories_are_english_and_areas_keep_their_names() -> None:
    page = render_statement(statement("en"), "en")
    assert cells(page)[0] == [
        "2026-12-05", "楼道清理 Drive: 洁净家园行动", "Environment", "乔屯街道 天元公寓社区",
        "路北区 乔屯街道", "2.5",
    ]  # fmt: skip
    assert cells(page)[1][2] == "Elderly care"
    assert '<html lang="en">' in page
    assert "Volunteer service statement" in page
    assert "志愿服务证明" not in page


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_no_raw_code_or_area_id_reaches_the_page(lang: Language) -> None:
    page = render_statement(statement(lang), lang)
    for raw in ("environment", "elderly_care", COMMUNITY, OTHER_COMMUNITY, STREET, "d-1", "a-1"):
        assert raw not in page, raw


def test_the_page_prints_on_one_a4_sheet() -> None:
    page = render_statement(statement("zh-CN"), "zh-CN")
    assert re.search(r"@page\s*\{[^}]*size:\s*A4", page)
    assert "@media print" in page


def test_names_not_known_yet_show_as_a_dash_and_a_category_outside_the_list_as_given() -> None:
    named = compose_statement(
        {"volunteer_id": "v-1", "name": "李雷", "home_area_id": COMMUNITY},
        {
            "records": [record("a-9", "垃圾分类宣传", COMMUNITY, 60, drive_id="d-9")],
            "total_minutes": 60, "total_hours": 1.0, "hours_by_category": {}, "stars": 0,
        },
        {}, {}, AREAS, "路北区志愿服务联合会", ISSUED_AT, "zh-CN",
    )  # fmt: skip
    line = named["records"][0]
    assert (line["activity_title"], line["drive_title"]) == (None, None)
    assert line["category_name"] == "垃圾分类宣传"
    assert line["organised_by"] == {"area_id": COMMUNITY, "name": "路北区 乔屯街道 天元公寓社区"}
    assert cells(render_statement(named, "zh-CN"))[0][1] == "—"


def test_a_statement_without_records_says_so() -> None:
    empty = compose_statement(
        {"volunteer_id": "v-2", "name": "韩梅梅", "home_area_id": COMMUNITY},
        {"records": [], "total_minutes": 0, "total_hours": 0.0, "hours_by_category": {},
         "stars": 0},
        {}, {}, AREAS, "路北区志愿服务联合会", ISSUED_AT, "en",
    )  # fmt: skip
    page = render_statement(empty, "en")
    assert "No approved service yet." in page
    assert "<table" not in page


def test_names_and_titles_are_printed_as_text_never_as_markup() -> None:
    given = statement("en")
    given["volunteer"]["name"] = "<script>alert(1)</script>"
    given["records"][0]["activity_title"] = "<i>tidy</i> & sweep"
    given["issued_by"] = "Lubei <Volunteers>"
    page = render_statement(given, "en")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>&lt;script&gt;" in page  # the label's own emphasis stays markup
    assert "&lt;i&gt;tidy&lt;/i&gt; &amp; sweep" in page
    assert "Lubei &lt;Volunteers&gt;" in page
