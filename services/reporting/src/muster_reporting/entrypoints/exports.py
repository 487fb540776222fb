"""Report tables as spreadsheets: CSV (UTF-8 with a BOM, so Excel reads it) or XLSX.

Nested fields are flattened to dotted columns (`by_category.party_member`). XLSX headers
are in Chinese where a label is known (the key otherwise); CSV keeps the keys.
"""

from __future__ import annotations

import asyncio
import csv
import io
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Annotated, Any, Literal

from fastapi import Query, Response
from openpyxl import Workbook
from pydantic import BaseModel

from muster_reporting.entrypoints.heavy_queries import BUSY_ANSWER

Format = Annotated[
    Literal["json", "csv", "xlsx"], Query(description="`csv` or `xlsx` for a spreadsheet.")
]
Exported = Literal["csv", "xlsx"]
# How much lower a spreadsheet worker's scheduling priority is than the service's (nice).
WORKER_NICENESS = 10
# How often a worker checks that the service that started it is still there, in seconds.
ORPHAN_CHECK_SECONDS = 1.0
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The OpenAPI of a report that exports: its 200 is JSON, or a spreadsheet with `format=`.
# A report that exports may be a heavy query: its 503 says so.
EXPORTED_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report (JSON), or with `format=csv|xlsx` a spreadsheet to download.",
        "content": {
            "text/csv; charset=utf-8": {"schema": {"type": "string"}},
            XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    },
    **BUSY_ANSWER,
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
    still has its header). Built in a worker process (`SpreadsheetWorkers`)."""
    filename = f"muster-{name}.{format}"
    content, media_type = await SPREADSHEETS.build(format, name, [dict(r) for r in rows], columns)
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(content, media_type=media_type, headers=disposition)


class SpreadsheetWorkers:
    """The processes spreadsheets are built in, started at the first (or `warm`).

    A workbook is pure Python: a year's series is 150-240 ms of CPU on a busy 2-core
    machine. On the event loop it stalls every other answer for that long; on a thread it
    still takes the interpreter's lock from the loop every few milliseconds, and several at
    once starve it. In a process of its own it takes nothing from the loop but a copy of
    the rows and of the file (the price: about 60 MB for the worker, 12 MB for its tracker).
    """

    def __init__(self, processes: int = 1) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    async def build(
        self,
        format: Exported,
        name: str,
        rows: list[dict[str, object]],
        columns: Sequence[str],
    ) -> tuple[bytes, str]:
        """The spreadsheet's bytes and media type (a worker that died is replaced once)."""
        loop = asyncio.get_running_loop()
        for attempt in range(2):
            pool = self._started()
            try:
                return await loop.run_in_executor(
                    pool, spreadsheet, format, name, rows, list(columns)
                )
            except BrokenProcessPool:
                self.close(pool)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def warm(self) -> None:
        """Start the workers now, so the first export does not wait for them."""
        await asyncio.get_running_loop().run_in_executor(self._started(), int)

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Spawned, not forked: the service's threads (the driver's, the broker
            # client's) and their locks stay out of the workers.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=context,
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
        return self._pool

    def close(self, pool: ProcessPoolExecutor | None = None) -> None:
        """Stop the workers (only `pool`'s, if given and still the current one)."""
        if self._pool is not None and (pool is None or pool is self._pool):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def serve(self) -> None:
        """Keep the workers while the service runs (a job run beside it), then stop them."""
        try:
            await self.warm()
            await asyncio.Event().wait()
        finally:
            self.close()


def _start_worker(service_pid: int) -> None:
    """A worker runs at a lower scheduling priority than the service: when the processors
    are short, the event loop (answers, `/healthz`, the consumer's heartbeats) goes first
    and a spreadsheet waits. It ends when the service is gone, however the service ended
    (a SIGKILL runs no shutdown)."""
    os.nice(WORKER_NICENESS)
    threading.Thread(target=_end_with, args=(service_pid,), daemon=True).start()


def _end_with(service_pid: int) -> None:
    while os.getppid() == service_pid:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os._exit(0)


# The processes of this service's spreadsheets (the bootstrap sets how many).
SPREADSHEETS = SpreadsheetWorkers()


def spreadsheet(
    format: Exported,
    name: str,
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
) -> tuple[bytes, str]:
    """The rows as a CSV or XLSX file, and its media type (pure; in a worker process)."""
    flat = [flatten(r) for r in rows]
    columns = list(dict.fromkeys([*columns, *(k for r in flat for k in r)]))
    if format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(flat)
        return ("\ufeff" + out.getvalue()).encode(), "text/csv; charset=utf-8"
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
    return out_bytes.getvalue(), XLSX_TYPE


def _cell(value: object) -> str | int | float | None:
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)
