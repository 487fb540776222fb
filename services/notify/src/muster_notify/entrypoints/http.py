"""The volunteer's inbox and its live stream; for organisers, how many were told."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from muster_auth.auth import Principal, RevocationList, require_role
from muster_contracts.envelope import Role
from muster_http.idempotency import RetrySafeRoute
from muster_notify.application.inbox import Reader
from muster_notify.domain.messages import Language
from muster_notify.entrypoints.dependencies import Areas, Desks, FactsOf, Inbox, TalliesOf
from muster_runtime.errors import ErrorAnswer, NotFoundError, RuleViolationError
from muster_runtime.mongo import INT64_MAX

router = APIRouter(tags=["notifications"], route_class=RetrySafeRoute)

Volunteer = Annotated[Principal, Depends(require_role(Role.VOLUNTEER))]
Reader_ = Annotated[Principal, Depends(require_role(Role.ORGANISER, Role.LEADER, Role.ADMIN))]


Responses = dict[int | str, dict[str, Any]]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorAnswer, "description": description}


UNAUTHENTICATED: Responses = {
    401: _error("No valid token (`reason`: missing, invalid, expired, revoked).")
}
VOLUNTEER_ERRORS: Responses = {
    **UNAUTHENTICATED,
    403: _error("The token's role may not do this (`reason`: wrong_role)."),
    404: _error("No volunteer is registered with this login (`not_registered`)."),
    422: _error("The request is not valid (`validation_failed`)."),
}
READ_ERRORS: Responses = {
    **VOLUNTEER_ERRORS,
    404: _error(
        "No volunteer is registered with this login (`not_registered`), or a message "
        "named is not in my inbox (`unknown_message`)."
    ),
    422: _error(
        "The request is not valid (`validation_failed`), or names no message and "
        "not `all` (`nothing_to_mark`)."
    ),
}
ORGANISER_ERRORS: Responses = {
    **UNAUTHENTICATED,
    403: _error("Wrong role, or outside the caller's area (`reason`: wrong_role, outside_scope)."),
    404: _error("No such drive or activity has been seen here (`not_found`)."),
    422: _error("The request is not valid (`validation_failed`)."),
}


class ReadMarks(BaseModel):
    """Which messages to mark read: the ids given, or every unread one."""

    message_ids: list[str] | None = Field(default=None, min_length=1, max_length=500)
    all: bool = False


class Preferences(BaseModel):
    language: Language


async def _reader(
    principal: Volunteer,
    desk: Inbox,
    accept_language: Annotated[str | None, Header(alias="Accept-Language")] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Reader:
    # The reader's own token asks the volunteer service for the names they may read.
    return await desk.reader(principal.subject, accept_language, authorization)


Me = Annotated[Reader, Depends(_reader)]


@router.get("/me/notifications", responses=VOLUNTEER_ERRORS)
async def my_notifications(
    me: Me,
    desk: Inbox,
    before: Annotated[
        int | None, Query(ge=1, le=INT64_MAX, description="A position: older than it.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    unread_only: bool = False,
) -> dict[str, Any]:
    """My messages, newest first, a page at a time (`next_before` asks for the next page),
    in my language (my choice, else `Accept-Language`, else zh-CN)."""
    return await desk.page(me, before=before, limit=limit, unread_only=unread_only)


@router.get("/me/notifications/unread-count", responses=VOLUNTEER_ERRORS)
async def my_unread_count(me: Me, desk: Inbox) -> dict[str, int]:
    return {"unread": await desk.unread(me)}


@router.post("/me/notifications/read", responses=READ_ERRORS)
async def mark_read(me: Me, desk: Inbox, marks: ReadMarks) -> dict[str, int]:
    """Mark messages read; answers the unread count after. Marking a read message again
    changes nothing; with an `Idempotency-Key`, a retry gets the first answer."""
    if marks.message_ids is None and not marks.all:
        raise RuleViolationError(
            "name the messages to mark read, or send all: true",
            code="nothing_to_mark",
            field="message_ids",
        )
    return {"unread": await desk.mark_read(me, None if marks.all else marks.message_ids)}


@router.put("/me/notification-preferences", responses=VOLUNTEER_ERRORS)
async def choose_language(me: Me, desk: Inbox, preferences: Preferences) -> dict[str, str]:
    """The language my messages read in: `zh-CN` or `en`."""
    await desk.choose_language(me, preferences.language)
    return {"language": preferences.language.value}


@router.get(
    "/me/notifications/stream",
    responses={
        200: {"description": "Server-Sent Events", "content": {"text/event-stream": {}}},
        **VOLUNTEER_ERRORS,
    },
    response_class=StreamingResponse,
)
async def my_notification_stream(
    request: Request,
    principal: Volunteer,
    me: Me,
    desk: Inbox,
    desks: Desks,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[
        int | None, Query(ge=0, le=INT64_MAX, description="A position, as Last-Event-ID.")
    ] = None,
    max_seconds: Annotated[
        int, Query(ge=1, le=3600, description="The stream ends after this long (reconnect).")
    ] = 600,
) -> StreamingResponse:
    """My messages as Server-Sent Events (`event: notification`, `id:` the message's
    position). Reconnecting with `Last-Event-ID` (or `?after=`) resumes after it; without
    either, only messages delivered from now on are sent. A comment every 15 s keeps
    the connection open; the stream ends after `max_seconds` (the client reconnects with
    `Last-Event-ID`), or when the token expires or is revoked."""
    live, revocations, poll_seconds = desks.live, desks.revocations, desks.stream_poll_seconds
    asked = _position(last_event_id, after)
    if asked is None:
        inbox = await desk.page(me, before=None, limit=1, unread_only=False)
        asked = int(inbox["total"])
    position: int = asked

    async def events() -> AsyncIterator[bytes]:
        nonlocal position
        woken = live.subscribe(me.volunteer_id)
        quiet = 0.0
        ends = asyncio.get_running_loop().time() + max_seconds
        try:
            yield b"retry: 3000\n\n"
            while True:
                woken.clear()
                for message in await desk.after(me, position):
                    position = int(message["position"])
                    data = orjson.dumps(message).decode()
                    yield f"id: {position}\nevent: notification\ndata: {data}\n\n".encode()
                    quiet = 0.0
                left = ends - asyncio.get_running_loop().time()
                if left <= 0 or _ended(principal, revocations) or await request.is_disconnected():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(poll_seconds, left))
                quiet += min(poll_seconds, left)
                if quiet >= 15:
                    yield b": keep-alive\n\n"
                    quiet = 0.0
        finally:
            live.unsubscribe(me.volunteer_id, woken)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _position(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is not None and last_event_id.strip().isdigit():
        return int(last_event_id.strip())
    return after


def _ended(principal: Principal, revocations: RevocationList) -> bool:
    expired = principal.expires_at is not None and principal.expires_at <= datetime.now(UTC)
    return expired or revocations.is_revoked(principal.token_id)


@router.get("/drives/{drive_id}/notifications", responses=ORGANISER_ERRORS)
async def drive_told(drive_id: str, principal: Reader_, desks: Desks) -> dict[str, Any]:
    """How many volunteers were told of a drive: the broadcast (areas walked, volunteers
    told, finished or not) and each kind of message about its sign-ups and teams."""
    drive = await desks.facts.drive(drive_id)
    if drive is None:
        raise NotFoundError(f"no drive {drive_id}", field="drive_id")
    principal.require_scope(str(drive["scope_area_id"]), desks.areas)
    broadcast = await desks.broadcasts.of_drive(drive_id)
    told = await desks.tallies.told(f"drive:{drive_id}")
    if broadcast is not None:
        told["drive_launched"] = int(broadcast["told"])
    return {
        "drive_id": drive_id,
        "told": told,
        "broadcast": {"finished": bool(broadcast["done"]), "told": int(broadcast["told"])}
        if broadcast
        else None,
    }


@router.get("/activities/{activity_id}/notifications", responses=ORGANISER_ERRORS)
async def activity_told(
    activity_id: str, principal: Reader_, facts: FactsOf, tallies: TalliesOf, areas: Areas
) -> dict[str, Any]:
    """How many volunteers were told of an activity, per kind (reminders, the check-in
    window, a cancellation, hours approved)."""
    activity = await facts.activity(activity_id)
    if activity is None:
        raise NotFoundError(f"no activity {activity_id}", field="activity_id")
    principal.require_scope(activity.place_area_id or "", areas)
    return {"activity_id": activity_id, "told": await tallies.told(f"activity:{activity_id}")}
