"""A roster's rows as forms or named problems: headers in either language, buildings by id
or by name within the organiser's area, lists, duplicates, and the form's own rules."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.events import Skill, VolunteerCategory
from muster_volunteer.adapters.roster_files import CSV, XLSX, read_table
from muster_volunteer.domain.roster import (
    RosterFormatError,
    RowProblem,
    check_roster,
)

AREAS = load_area_tree()
STREET = "130203001"
BUILDING = next(a for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith(STREET))
COMMUNITY = AREAS.path(BUILDING.id)[3]
OUTSIDE = next(a for a in AREAS.at_level(AreaLevel.BUILDING) if not a.id.startswith(STREET))
HEADER = ["姓名", "手机", "楼栋", "类别", "工作单位"]


def problems(table: list[list[str]], scope: str = STREET) -> list[set[tuple[str, RowProblem]]]:
    return [
        {(e.field, e.code) for e in row.errors} for row in check_roster(table, AREAS, scope).rows
    ]


def test_a_row_becomes_a_registration_form_with_headers_in_either_language() -> None:
    for header in (HEADER, ["Name", "Phone", "Building", "Categories", "Employer unit"]):
        check = check_roster(
            [header, ["王芳", "138 0013 8000", BUILDING.id, "党员、居民", ""]], AREAS, STREET
        )
        (row,) = check.rows
        assert row.number == 2
        assert row.errors == ()
        assert row.form is not None
        assert (row.form.name, row.form.phone, row.form.home_area_id) == (
            "王芳",
            "13800138000",
            BUILDING.id,
        )
        assert row.form.categories == (VolunteerCategory.PARTY_MEMBER, VolunteerCategory.RESIDENT)


def test_a_building_is_named_by_its_community_and_its_own_name_or_refused_if_ambiguous() -> None:
    by_name = f"{COMMUNITY.name}/{BUILDING.name}"
    table = [
        HEADER,
        ["王芳", "13800138000", by_name, "resident", ""],
        ["李雷", "13800138001", BUILDING.name, "resident", ""],
        ["韩梅", "13800138002", "没有这个社区/1号楼", "resident", ""],
        ["赵四", "13800138003", OUTSIDE.id, "resident", ""],
        ["钱五", "13800138004", "1302030019999999", "resident", ""],
    ]
    rows = check_roster(table, AREAS, STREET).rows
    assert rows[0].form is not None
    assert rows[0].form.home_area_id == BUILDING.id
    assert problems(table)[1:] == [
        {("building", RowProblem.AMBIGUOUS_BUILDING)},
        {("building", RowProblem.UNKNOWN_BUILDING)},
        {("building", RowProblem.OUTSIDE_SCOPE)},
        {("building", RowProblem.UNKNOWN_BUILDING)},
    ]
    # Unique within a smaller area, the bare name is enough.
    grid = AREAS.path(BUILDING.id)[4].id
    assert problems([HEADER, ["李雷", "13800138001", BUILDING.name, "resident", ""]], grid) == [
        set()
    ]


def test_each_problem_of_a_row_is_named_and_blank_lines_are_skipped() -> None:
    table = [
        [*HEADER, "技能", "身份证号"],
        ["", "1380013", BUILDING.id, "火星人", "", "juggling", ""],
        [""] * 7,
        ["王芳", "13800138000", BUILDING.id, "在职党员", "", "", ""],
        ["李雷", "13800138001", BUILDING.id, "student", "", "first aid", "110101199003071234"],
    ]
    assert problems(table) == [
        {
            ("name", RowProblem.MISSING),
            ("categories", RowProblem.UNKNOWN_CATEGORY),
            ("skills", RowProblem.UNKNOWN_SKILL),
        },
        {("employer_unit", RowProblem.INVALID)},
        {("id_number", RowProblem.INVALID)},
    ]
    assert [r.number for r in check_roster(table, AREAS, STREET).rows] == [2, 4, 5]
    fixed = [*table[:4], [*table[4][:6], "11010519491231002X"]]
    last = check_roster(fixed, AREAS, STREET).rows[-1]
    assert last.form is not None
    assert last.form.skills == (Skill.FIRST_AID,)


def test_a_phone_or_id_number_repeated_in_the_file_refuses_the_later_row() -> None:
    table = [
        HEADER,
        ["王芳", "13800138000", BUILDING.id, "resident", ""],
        ["王芳", "+86 138-0013-8000", BUILDING.id, "resident", ""],
        ["李雷", "13800138001", BUILDING.id, "resident", ""],
    ]
    rows = check_roster(table, AREAS, STREET).rows
    assert [r.form is not None for r in rows] == [True, False, True]
    assert rows[1].errors[0].code is RowProblem.DUPLICATE_IN_FILE
    assert "row 2" in rows[1].errors[0].message


def test_a_sheet_without_a_required_column_or_a_header_is_refused_whole() -> None:
    with pytest.raises(RosterFormatError) as missing:
        check_roster([["姓名", "楼栋", "类别"], ["王芳", BUILDING.id, "resident"]], AREAS, STREET)
    assert missing.value.code == "roster_columns_missing"
    assert "phone" in str(missing.value)
    with pytest.raises(RosterFormatError):
        check_roster([], AREAS, STREET)


def test_csv_in_gb18030_and_xlsx_with_a_phone_typed_as_a_number_are_read() -> None:
    text = f"姓名,手机,楼栋,类别\n王芳,13800138000,{BUILDING.id},居民\n"
    assert read_table(text.encode("gb18030"), CSV) == read_table(text.encode("utf-8-sig"), CSV)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "手机", "楼栋", "类别"])
    sheet.append(["王芳", 13800138000, BUILDING.id, "居民"])
    content = io.BytesIO()
    book.save(content)
    assert read_table(content.getvalue(), XLSX) == [
        ["姓名", "手机", "楼栋", "类别"],
        ["王芳", "13800138000", BUILDING.id, "居民"],
    ]
    with pytest.raises(RosterFormatError):
        read_table(b"not a zip", XLSX)
