"""Roster import: an organiser uploads the community's spreadsheet, previews each row's
fate, then registers the rows that can be (see `application.roster_import`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from muster_auth.auth import Principal, require_role
from muster_contracts.areas import AreaTree
from muster_contracts.envelope import Role
from muster_http.idempotency import RetrySafeRoute, never_replayed
from muster_runtime.errors import RuleViolationError, UnsupportedMediaTypeError
from muster_runtime.ports.event_store import CommandContext
from muster_volunteer.adapters.roster_files import MEDIA_TYPES, read_table
from muster_volunteer.application.roster_import import ImportProgress, RowOutcome
from muster_volunteer.domain.roster import MAX_ROWS, RosterFormatError, RowError
from muster_volunteer.entrypoints.dependencies import Areas, Rosters
from muster_volunteer.entrypoints.logins_http import answers

router = APIRouter(prefix="/rosters", tags=["rosters"], route_class=RetrySafeRoute)

Organiser = Annotated[Principal, Depends(require_role(Role.ORGANISER, Role.ADMIN))]
# A 10,000-row roster is about 0.7 MB as CSV and 0.4 MB as XLSX.
MAX_ROSTER_BYTES = 8 * 1024 * 1024
AreaQuery = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{4,16}$",
        description="The area whose buildings rows name (default: your own area); inside it.",
    ),
]
FILE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "The roster file as the body: CSV (UTF-8 or GB 18030) or XLSX (its first sheet). "
            "Row 1 is the header: 姓名/name, 手机/phone, 楼栋/building and 类别/categories "
            "are required; 身份证号/id_number, 技能/skills, 出生年份/birth_year and "
            "工作单位/employer_unit are optional. A building is its 16-digit id, or its name "
            "after as many of the names above it as make it unique in the area, with `/` "
            "(`天元公寓社区/1号楼`). Lists are separated by `;`, `、` or `,`. "
            f"At most {MAX_ROWS} rows and {MAX_ROSTER_BYTES // 2**20} MiB."
        ),
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}} for media in MEDIA_TYPES
        },
    }
}
ROSTER_ERRORS = {
    403: "The area is outside your scope (`forbidden`, `reason`: outside_scope), or the role "
    "may not import (`wrong_role`).",
    413: "The file is over the size limit (`payload_too_large`).",
    415: f"The body is not {' or '.join(MEDIA_TYPES)} (`unsupported_media_type`).",
    422: "The file cannot be read as a roster: `roster_unreadable`, `roster_columns_missing` "
    "(the header lacks a required column), `roster_too_long`; or a bad `area_id`.",
}


class RowProblemView(BaseModel):
    field: str
    code: str
    message: str


class RowView(BaseModel):
    row: int
    status: Literal["ready", "refused", "already_registered", "registered"]
    name: str | None = None
    home_area_id: str | None = None
    volunteer_id: str | None = None
    errors: list[RowProblemView] = []


class RosterPreview(BaseModel):
    area_id: str
    rows: int
    ready: int
    refused: int
    already_registered: int
    unknown_columns: list[str]
    details: list[RowView]


@contextmanager
def _unreadable() -> Iterator[None]:
    """A file that cannot be read as a roster is refused whole: 422 with the reason's code."""
    try:
        yield
    except RosterFormatError as exc:
        raise RuleViolationError(str(exc), code=exc.code, field="body", rule="roster") from None


async def _table(request: Request) -> list[list[str]]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise UnsupportedMediaTypeError(
            f"a roster is {' or '.join(MEDIA_TYPES)}, not {media_type or 'unlabelled'}",
            code="unsupported_media_type",
        )
    with _unreadable():
        return read_table(await request.body(), media_type)


def _scope(areas: AreaTree, principal: Principal, area_id: str | None) -> str:
    area = area_id or principal.area_id
    if area not in areas:
        raise RuleViolationError(f"unknown area {area}", field="area_id", rule="known_area")
    principal.require_scope(area, areas)
    return area


def _problems(errors: tuple[RowError, ...]) -> list[RowProblemView]:
    return [RowProblemView(field=e.field, code=e.code.value, message=e.message) for e in errors]


@router.post(
    "/preview",
    response_model=RosterPreview,
    openapi_extra=FILE_BODY,
    responses=answers(ROSTER_ERRORS),
)
async def preview_roster(
    request: Request,
    principal: Organiser,
    roster: Rosters,
    areas: Areas,
    area_id: AreaQuery = None,
) -> RosterPreview:
    """Check a roster without registering anyone: each row is ready, refused (with its
    problems: bad phone, unknown or ambiguous building, duplicate in the file, …) or
    already registered."""
    area = _scope(areas, principal, area_id)
    table = await _table(request)
    with _unreadable():
        check = await roster.preview(table, area)
    details = []
    for row in check.rows:
        status: Literal["ready", "refused", "already_registered"] = "ready"
        if row.errors:
            registered = row.errors[0].code.value == "already_registered"
            status = "already_registered" if registered else "refused"
        details.append(
            RowView(
                row=row.number,
                status=status,
                name=row.form.name if row.form else None,
                home_area_id=row.form.home_area_id if row.form else None,
                volunteer_id=row.registered_as,
                errors=_problems(row.errors),
            )
        )
    return RosterPreview(
        area_id=area,
        rows=len(details),
        ready=sum(d.status == "ready" for d in details),
        refused=sum(d.status == "refused" for d in details),
        already_registered=sum(d.status == "already_registered" for d in details),
        unknown_columns=list(check.unknown_columns),
        details=details,
    )


@router.post(
    "/import",
    openapi_extra=FILE_BODY,
    responses=answers(ROSTER_ERRORS)
    | {
        200: {
            "description": (
                "Newline-delimited JSON (`application/x-ndjson`): progress lines "
                '`{"done": n, "of": rows}` as rows are registered, then one last line with '
                "`registered`, `already_registered`, `refused` and `details` (each row's "
                "outcome, as in the preview). If the stream ends without that line, upload "
                "the same file again: rows registered already are not registered twice."
            ),
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
@never_replayed("the import reports progress as it goes; running it again registers nobody twice")
async def import_roster(
    request: Request,
    principal: Organiser,
    roster: Rosters,
    areas: Areas,
    area_id: AreaQuery = None,
) -> StreamingResponse:
    """Register every row of a roster that can be, with progress. Uploading the same file
    again registers nobody twice: each row's volunteer follows from its phone number."""
    area = _scope(areas, principal, area_id)
    table = await _table(request)
    progress = roster.register(table, area, CommandContext(principal.actor))
    with _unreadable():
        first = await anext(progress)  # a roster that cannot be read answers 422, not 200
    return StreamingResponse(_lines(first, progress), media_type="application/x-ndjson")


async def _lines(
    first: ImportProgress, rest: AsyncIterator[ImportProgress]
) -> AsyncIterator[bytes]:
    yield _line(first)
    async for report in rest:
        yield _line(report)


def _line(report: ImportProgress) -> bytes:
    body: dict[str, Any] = {"done": report.done, "of": report.of}
    if report.outcomes is not None:
        for outcome in ("registered", "already_registered", "refused"):
            body[outcome] = sum(o.outcome == outcome for o in report.outcomes)
        body["details"] = [_outcome(o).model_dump(mode="json") for o in report.outcomes]
    return orjson.dumps(body) + b"\n"


def _outcome(outcome: RowOutcome) -> RowView:
    return RowView(
        row=outcome.number,
        status=outcome.outcome,
        volunteer_id=outcome.volunteer_id,
        errors=_problems(outcome.errors),
    )
