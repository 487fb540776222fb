"""Who did what, from the event log: every envelope names its actor, so a service's own
event store answers "what did this account do", "what happened to this volunteer" and
"what happened at this activity" without any extra bookkeeping.

Each question is one query over the commits, served by an index on MongoDB (the
actor's subject, the stream, the volunteer and activity ids in payloads), newest first,
a page at a time: the cost is bounded by the page, not by the size of the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING

from muster_contracts.envelope import Actor, EventEnvelope
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.errors import RuleViolationError
from muster_runtime.mongo import INT64_MAX, Document
from muster_runtime.ports.event_store import commit_envelopes

# Payload fields that name the volunteers an event is about.
VOLUNTEER_FIELDS = ("volunteer_id", "volunteer_ids", "assigned_volunteer_ids")
MAX_PAGE = 500
INDEXES = [
    ([("events.actor.subject", ASCENDING), ("position", DESCENDING)], "audit_actor"),
    ([("stream_id", ASCENDING), ("position", DESCENDING)], "audit_stream"),
    ([("events.payload.activity_id", ASCENDING)], "audit_activity"),
    *(([(f"events.payload.{f}", ASCENDING)], f"audit_{f}") for f in VOLUNTEER_FIELDS),
]


class AuditEntry(BaseModel):
    position: int
    recorded_at: datetime
    actor: Actor
    type: str
    stream_id: str
    event_id: str
    correlation_id: str
    # The payload without sealed personal data (ciphertext says nothing to an auditor).
    payload: dict[str, Any]


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    # Pass as `before` for the next (older) page; null when this page is the last.
    next_before: int | None


def _names_volunteer(payload: dict[str, Any], volunteer_id: str) -> bool:
    for name in VOLUNTEER_FIELDS:
        value = payload.get(name)
        if value == volunteer_id or (isinstance(value, list) and volunteer_id in value):
            return True
    return False


class AuditTrail:
    """Answers audit queries from one service's event store."""

    def __init__(self, store: MongoEventStore) -> None:
        self._commits = store.commits

    async def create_indexes(self) -> None:
        for keys, name in INDEXES:
            await self._commits.create_index(keys, name=name)

    async def query(
        self,
        *,
        actor: str | None = None,
        volunteer_id: str | None = None,
        activity_id: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> AuditPage:
        """Events matching every filter given, newest first."""
        clauses: list[Document] = []
        if actor is not None:
            clauses.append({"events.actor.subject": actor})
        if volunteer_id is not None:
            clauses.append(
                {
                    "$or": [
                        {"stream_id": f"volunteer-{volunteer_id}"},
                        *({f"events.payload.{f}": volunteer_id} for f in VOLUNTEER_FIELDS),
                    ]
                }
            )
        if activity_id is not None:
            clauses.append(
                {
                    "$or": [
                        {"stream_id": f"activity-{activity_id}"},
                        {"events.payload.activity_id": activity_id},
                    ]
                }
            )
        if not clauses:
            raise RuleViolationError(
                "say whose or what: actor, volunteer_id or activity_id",
                field="actor",
                rule="one_filter_required",
            )
        if before is not None:
            clauses.append({"position": {"$lt": before}})
        cursor = self._commits.find({"$and": clauses}).sort("position", DESCENDING).limit(limit)
        entries: list[AuditEntry] = []
        last_position: int | None = None
        commits = 0
        async for commit in cursor:
            commits += 1
            last_position = int(commit["position"])
            # A commit may hold events about others: keep the ones that match.
            for envelope in reversed(commit_envelopes(commit)):
                if self._matches(envelope, actor, volunteer_id, activity_id):
                    entries.append(_entry(envelope))
        return AuditPage(entries=entries, next_before=last_position if commits == limit else None)

    @staticmethod
    def _matches(
        envelope: EventEnvelope,
        actor: str | None,
        volunteer_id: str | None,
        activity_id: str | None,
    ) -> bool:
        payload = envelope.payload
        return (
            (actor is None or envelope.actor.subject == actor)
            and (
                volunteer_id is None
                or envelope.stream_id == f"volunteer-{volunteer_id}"
                or _names_volunteer(payload, volunteer_id)
            )
            and (
                activity_id is None
                or envelope.stream_id == f"activity-{activity_id}"
                or payload.get("activity_id") == activity_id
            )
        )


def _entry(envelope: EventEnvelope) -> AuditEntry:
    return AuditEntry(
        position=envelope.position,
        recorded_at=envelope.recorded_at,
        actor=envelope.actor,
        type=envelope.type,
        stream_id=envelope.stream_id,
        event_id=str(envelope.event_id),
        correlation_id=str(envelope.correlation_id),
        payload={k: v for k, v in envelope.payload.items() if k != "personal"},
    )


async def audit_across(
    trails: dict[str, AuditTrail],
    *,
    actor: str | None = None,
    volunteer_id: str | None = None,
    activity_id: str | None = None,
    limit: int = 100,
) -> list[tuple[str, AuditEntry]]:
    """The newest `limit` matching events of several services' logs, by record time."""
    found = [
        (service, entry)
        for service, trail in trails.items()
        for entry in (
            await trail.query(
                actor=actor, volunteer_id=volunteer_id, activity_id=activity_id, limit=limit
            )
        ).entries
    ]
    found.sort(key=lambda item: item[1].recorded_at, reverse=True)
    return found[:limit]


# Administrators only: `create_app` includes it behind its access control's `admin`.
router = APIRouter(prefix="/audit", tags=["audit"])
Filter = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.get("/events", response_model=AuditPage)
async def audit_events(
    request: Request,
    actor: Filter = None,
    volunteer_id: Filter = None,
    activity_id: Filter = None,
    before: Annotated[
        int | None, Query(ge=0, le=INT64_MAX, description="Only events older than this position.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Commits per page.")] = 100,
) -> AuditPage:
    """Who did what in this service's event log: by actor (the token's subject), by
    volunteer and by activity (filters combine), newest first, a page at a time."""
    trail: AuditTrail = request.app.state.audit
    return await trail.query(
        actor=actor, volunteer_id=volunteer_id, activity_id=activity_id, before=before, limit=limit
    )
