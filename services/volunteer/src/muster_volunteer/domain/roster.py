"""A roster: the volunteer list a community keeps in a spreadsheet, checked row by row.

Each row becomes a registration form or the reasons it cannot, before anything is
registered. Headers are read in English or Chinese (`COLUMNS`). A row names its building
by id (16 digits) or by name within the organiser's area: the building's name, preceded by
as many of the names above it as make it unique, separated by `/` (`天元公寓社区/1号楼`,
or `乔屯街道/天元公寓社区/第01网格/1号楼`). Categories and skills are listed with `;`, `、`
or `,`, by code or by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from pydantic import ValidationError

from muster_contracts.areas import AreaLevel, AreaTree
from muster_contracts.events import Skill, VolunteerCategory
from muster_volunteer.domain.volunteer import (
    RegisterVolunteer,
    VolunteerRuleError,
    check_registration,
)

T = TypeVar("T")

# Each form field, and the headers a spreadsheet may give it (compared without case or spaces).
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "姓名"),
    "phone": ("phone", "手机", "手机号", "手机号码", "电话"),
    "id_number": ("id_number", "idnumber", "身份证", "身份证号", "身份证号码"),
    "building": ("building", "楼栋", "楼宇", "住址楼栋"),
    "categories": ("categories", "category", "类别", "人员类别"),
    "skills": ("skills", "skill", "技能", "特长"),
    "birth_year": ("birth_year", "birthyear", "出生年份"),
    "employer_unit": ("employer_unit", "employerunit", "工作单位", "单位"),
}
REQUIRED_COLUMNS = ("name", "phone", "building", "categories")
MAX_ROWS = 20_000

CATEGORY_NAMES: dict[str, VolunteerCategory] = {
    "党员": VolunteerCategory.PARTY_MEMBER,
    "在职党员": VolunteerCategory.IN_SERVICE_PARTY_MEMBER,
    "双报到": VolunteerCategory.IN_SERVICE_PARTY_MEMBER,
    "居民": VolunteerCategory.RESIDENT,
    "学生": VolunteerCategory.STUDENT,
    "企业职工": VolunteerCategory.COMPANY_STAFF,
    "party member": VolunteerCategory.PARTY_MEMBER,
    "in-service party member": VolunteerCategory.IN_SERVICE_PARTY_MEMBER,
    "company staff": VolunteerCategory.COMPANY_STAFF,
}
_LIST_SEPARATORS = re.compile(r"[;；,，、]")


class RowProblem(StrEnum):
    """Why a row cannot be registered (the machine-readable code)."""

    MISSING = "missing"
    INVALID = "invalid"
    UNKNOWN_BUILDING = "unknown_building"
    AMBIGUOUS_BUILDING = "ambiguous_building"
    OUTSIDE_SCOPE = "outside_scope"
    UNKNOWN_CATEGORY = "unknown_category"
    UNKNOWN_SKILL = "unknown_skill"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    ALREADY_REGISTERED = "already_registered"


@dataclass(frozen=True)
class RowError:
    field: str
    code: RowProblem
    message: str


@dataclass(frozen=True)
class RosterRow:
    """One data row: its number as the spreadsheet shows it (the header is row 1)."""

    number: int
    form: RegisterVolunteer | None
    errors: tuple[RowError, ...] = ()
    # The volunteer registered already with this row's phone, when inside the area.
    registered_as: str | None = None


@dataclass(frozen=True)
class RosterCheck:
    rows: tuple[RosterRow, ...]
    unknown_columns: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> list[RosterRow]:
        return [row for row in self.rows if row.form is not None]

    @property
    def refused(self) -> list[RosterRow]:
        return [row for row in self.rows if row.form is None]


class RosterFormatError(ValueError):
    """The sheet as a whole cannot be read as a roster (no header, a required column missing)."""

    def __init__(self, message: str, code: str = "roster_unreadable") -> None:
        super().__init__(message)
        self.code = code


def header_fields(header: Sequence[str]) -> tuple[dict[int, str], tuple[str, ...]]:
    """Which form field each column holds, and the columns that hold none."""
    by_header = {_squash(h): f for f, names in COLUMNS.items() for h in names}
    fields: dict[int, str] = {}
    unknown: list[str] = []
    for index, cell in enumerate(header):
        name = by_header.get(_squash(cell))
        if name is None:
            if cell.strip():
                unknown.append(cell.strip())
        elif name not in fields.values():
            fields[index] = name
    missing = [f for f in REQUIRED_COLUMNS if f not in fields.values()]
    if missing:
        raise RosterFormatError(
            f"the header row lacks {', '.join(missing)} (one of: "
            + "; ".join(f"{m}: {' / '.join(COLUMNS[m])}" for m in missing)
            + ")",
            code="roster_columns_missing",
        )
    return fields, tuple(unknown)


def check_roster(table: Sequence[Sequence[str]], areas: AreaTree, scope: str) -> RosterCheck:
    """Every data row of `table` (its first row the header) as a form or its errors.

    `scope` is the organiser's area: buildings are named, and must lie, inside it. Rows
    that repeat a phone or ID number of an earlier row are refused as duplicates."""
    if not table:
        raise RosterFormatError("the sheet is empty: a header row is expected")
    if len(table) - 1 > MAX_ROWS:
        raise RosterFormatError(
            f"{len(table) - 1} rows: at most {MAX_ROWS} per file", code="roster_too_long"
        )
    fields, unknown = header_fields(table[0])
    buildings = BuildingNames(areas, scope)
    first_row_of: dict[tuple[str, str], int] = {}
    rows: list[RosterRow] = []
    for offset, cells in enumerate(table[1:], start=2):
        values = {name: _cell(cells, index) for index, name in fields.items()}
        if not any(values.values()):
            continue  # a blank line between blocks of rows
        row = _check_row(offset, values, buildings)
        if row.form is not None:
            row = _unique_in_file(row, first_row_of)
        rows.append(row)
    return RosterCheck(rows=tuple(rows), unknown_columns=unknown)


class BuildingNames:
    """Buildings inside an area, found by id or by the tail of their path of names."""

    def __init__(self, areas: AreaTree, scope: str) -> None:
        self.areas = areas
        self._scope = scope
        self._by_name: dict[str, list[str]] = {}
        for building in areas.at_level(AreaLevel.BUILDING):
            if areas.is_within(building.id, scope):
                self._by_name.setdefault(_squash(building.name), []).append(building.id)

    def find(self, named: str) -> str | RowError:
        named = named.strip()
        if named.isdigit():
            if named not in self.areas or len(named) != AreaLevel.BUILDING.id_length:
                return RowError("building", RowProblem.UNKNOWN_BUILDING, f"no building {named}")
            if not self.areas.is_within(named, self._scope):
                return RowError(
                    "building",
                    RowProblem.OUTSIDE_SCOPE,
                    f"building {named} is outside your area {self._scope}",
                )
            return named
        parts = [_squash(p) for p in named.split("/") if p.strip()]
        candidates = self._by_name.get(parts[-1], []) if parts else []
        matching = [b for b in candidates if self._path_ends_with(b, parts[:-1])]
        if len(matching) == 1:
            return matching[0]
        if not matching:
            return RowError(
                "building", RowProblem.UNKNOWN_BUILDING, f"no building named {named} in your area"
            )
        examples = ", ".join(self._qualified(b) for b in matching[:3])
        return RowError(
            "building",
            RowProblem.AMBIGUOUS_BUILDING,
            f"{len(matching)} buildings are named {named} in your area (e.g. {examples}): "
            "add the community's name before it, or give the building's id",
        )

    def _path_ends_with(self, building: str, above: list[str]) -> bool:
        """Whether the names `above` appear, in order, among the building's ancestors."""
        names = iter(_squash(a.name) for a in self.areas.ancestors(building))
        return all(any(n == wanted for n in names) for wanted in above)

    def _qualified(self, building: str) -> str:
        path = self.areas.path(building)
        return "/".join(a.name for a in path[-3:])


def _check_row(number: int, values: Mapping[str, str], buildings: BuildingNames) -> RosterRow:
    errors: list[RowError] = []
    for name in REQUIRED_COLUMNS:
        if not values.get(name):
            errors.append(RowError(name, RowProblem.MISSING, f"{name} is empty"))
    home: str | None = None
    if values.get("building"):
        found = buildings.find(values["building"])
        if isinstance(found, RowError):
            errors.append(found)
        else:
            home = found
    categories = _listed(values.get("categories", ""), _category, "categories", errors)
    skills = _listed(values.get("skills", ""), _skill, "skills", errors)
    if errors:
        return RosterRow(number, None, tuple(errors))
    form: dict[str, object] = {
        "name": values["name"],
        "phone": values["phone"],
        "home_area_id": home,
        "categories": categories,
        "id_number": values.get("id_number") or None,
        "birth_year": values.get("birth_year") or None,
        "employer_unit": values.get("employer_unit") or None,
    }
    if skills:
        form["skills"] = skills
    try:
        checked = RegisterVolunteer.model_validate(form)
        check_registration(checked, buildings.areas)
    except ValidationError as exc:
        return RosterRow(number, None, tuple(_form_errors(exc)))
    except VolunteerRuleError as exc:
        return RosterRow(number, None, (RowError(exc.field, RowProblem.INVALID, str(exc)),))
    return RosterRow(number, checked)


def _unique_in_file(row: RosterRow, first_row_of: dict[tuple[str, str], int]) -> RosterRow:
    assert row.form is not None
    errors: list[RowError] = []
    for name, value in (("phone", row.form.phone), ("id_number", row.form.id_number)):
        if value is None:
            continue
        earlier = first_row_of.setdefault((name, value), row.number)
        if earlier != row.number:
            errors.append(
                RowError(name, RowProblem.DUPLICATE_IN_FILE, f"the same {name} as row {earlier}")
            )
    return RosterRow(row.number, None, tuple(errors)) if errors else row


def _listed(
    text: str, read: Callable[[str], T | RowError], name: str, errors: list[RowError]
) -> list[T]:
    found: list[T] = []
    for item in (i.strip() for i in _LIST_SEPARATORS.split(text)):
        if not item:
            continue
        value = read(item)
        if isinstance(value, RowError):
            errors.append(RowError(name, value.code, value.message))
        elif value not in found:
            found.append(value)
    return found


def _category(item: str) -> VolunteerCategory | RowError:
    key = item.strip().lower()
    for category in VolunteerCategory:
        if key in (category.value, category.value.replace("_", " ")):
            return category
    if key in CATEGORY_NAMES:
        return CATEGORY_NAMES[key]
    return RowError("categories", RowProblem.UNKNOWN_CATEGORY, f"unknown category {item}")


def _skill(item: str) -> Skill | RowError:
    key = item.strip().lower().replace(" ", "_")
    try:
        return Skill(key)
    except ValueError:
        return RowError("skills", RowProblem.UNKNOWN_SKILL, f"unknown skill {item}")


def _form_errors(exc: ValidationError) -> Iterable[RowError]:
    for error in exc.errors():
        location = str(error["loc"][0]) if error["loc"] else "row"
        message = str(error["msg"]).removeprefix("Value error, ")
        yield RowError(location, RowProblem.INVALID, message)


def _cell(cells: Sequence[str], index: int) -> str:
    return cells[index].strip() if index < len(cells) and cells[index] is not None else ""


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", str(text)).lower()
