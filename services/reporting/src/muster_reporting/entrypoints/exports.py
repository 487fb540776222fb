"""Report tables as spreadsheets: CSV (UTF-8 with a BOM, so Excel reads it) or XLSX.

Nested fields are flattened to dotted columns (`by_category.party_member`). XLSX headers
are in Chinese where a label is known (the key otherwise); CSV keeps the keys.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from fastapi import Query, Response
from openpyxl import Workbook
from pydantic import BaseModel

Format = Annotated[
    Literal["json", "csv", "xlsx"], Query(description="`csv` or `xlsx` for a spreadsheet.")
]
Exported = Literal["csv", "xlsx"]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The OpenAPI of a report that exports: its 200 is JSON, or a spreadsheet with `format=`.
EXPORTED_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report (JSON), or with `format=csv|xlsx` a spreadsheet to download.",
        "content": {
            "text/csv; charset=utf-8": {"schema": {"type": "string"}},
            XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}

# zh-CN column headers of the exported tables (columns not listed keep their key).
COLUMN_LABELS: dict[str, str] = {
    "area_id": "区域编码",
    "name": "名称",
    "level": "层级",
    "registered": "注册志愿者",
    "by_category.party_member": "党员",
    "by_category.in_service_party_member": "在职党员（双报到）",
    "by_category.resident": "居民",
    "by_category.student": "学生",
    "by_category.company_staff": "企业职工",
    "activities": "已开展场次（已审核）",
    "activities_scheduled": "未开展场次（已排期、未审核）",
    "activities_upcoming": "未开始场次",
    "activities_in_progress": "进行中场次",
    "activities_awaiting_approval": "待审核场次",
    "cancelled": "取消场次",
    "turnouts": "志愿者人次",
    "volunteers": "参与志愿者（去重）",
    "drives_active": "活跃招募",
    "teams_active": "活跃服务队",
    "hours": "服务时长（小时）",
    "beneficiaries": "受益人次",
    "beneficiaries_by_group.elderly": "受益·老年人",
    "beneficiaries_by_group.children": "受益·儿童",
    "beneficiaries_by_group.disabled": "受益·残疾人",
    "beneficiaries_by_group.low_income": "受益·低收入家庭",
    "beneficiaries_by_group.outdoor_workers": "受益·户外劳动者",
    "beneficiaries_by_group.residents": "受益·居民",
    "stage": "阶段",
    "count": "人数",
    "rate": "转化率",
    "period": "时段",
    "rank": "排名",
    "volunteer_id": "志愿者编号",
    "team_id": "队伍编号",
    "stars": "星级",
}


def flatten(row: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in row.items():
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


async def area_table(
    format: Exported, name: str, area: BaseModel, children: Sequence[BaseModel]
) -> Response:
    """An area report: the children's rows, then the area's total."""
    rows = [*(c.model_dump(mode="json") for c in children), area.model_dump(mode="json")]
    return await table(format, f"{name}-{rows[-1]['area_id']}", rows)


async def table(
    format: Exported,
    name: str,
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str] = (),
) -> Response:
    """`rows` as a downloadable `muster-<name>.csv|xlsx`; `columns` first (an empty table
    still has its header). Built on a worker thread: a workbook of thousands of cells takes
    tens of milliseconds of CPU that `/healthz` and other requests must not wait behind."""
    return await asyncio.to_thread(_spreadsheet, format, name, rows, columns)


def _spreadsheet(
    format: Exported,
    name: str,
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
) -> Response:
    flat = [flatten(r) for r in rows]
    columns = list(dict.fromkeys([*columns, *(k for r in flat for k in r)]))
    filename = f"muster-{name}.{format}"
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(flat)
        return Response(
            "\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8", headers=disposition
        )
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = name[:31]  # Excel's limit on sheet names
    sheet.append([COLUMN_LABELS.get(c, c) for c in columns])
    for row in flat:
        sheet.append([_cell(row.get(c)) for c in columns])
    sheet.freeze_panes = "A2"
    out_bytes = io.BytesIO()
    book.save(out_bytes)
    return Response(out_bytes.getvalue(), media_type=XLSX_TYPE, headers=disposition)


def _cell(value: object) -> str | int | float | None:
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)
