"""What an activity's event counts in the service rollup, given the activity's facts so far
(pure): the change before it is spread over areas and periods, and how the facts change.

What counts (the README states the same): an activity counts as held at its approval, on
its local start day, with the beneficiaries recorded so far; an amendment after it counts
its difference; a cancellation counts as cancelled; hours and turn-outs from service
records, one turn-out per (volunteer, activity), on the day served.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from muster_contracts.areas import AreaTree
from muster_contracts.events.activities import (
    ActivityCancelled,
    ActivityScheduled,
    BeneficiariesRecorded,
    HoursApproved,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
)
from muster_reporting.domain.periods import cell_id, local_day, periods_of

# Every event type `count_service` reads.
SERVICE_EVENT_TYPES = frozenset(
    {
        ActivityScheduled.event_type,
        ActivityCancelled.event_type,
        BeneficiariesRecorded.event_type,
        HoursApproved.event_type,
        ServiceRecordIssued.event_type,
        ServiceRecordAdjusted.event_type,
    }
)
# Measures also broken down by category, drive and team, with beneficiaries by group
# (unique volunteers are not).
BREAKDOWN_MEASURES = (
    "activities",
    "activities_scheduled",
    "cancelled",
    "turnouts",
    "minutes",
    "beneficiaries_total",
)
BREAKDOWNS = ("category", "drives", "teams")


def field_key(value: str) -> str:
    """A value usable as a document field name (no dots, no leading `$`)."""
    return value.replace(".", "_").replace("$", "_")


@dataclass(frozen=True)
class ServiceDelta:
    """What one event changes, where and when: before it is spread over areas and periods."""

    place_area_id: str
    day: date
    counts: Mapping[str, int]
    category: str | None = None
    drive_id: str | None = None
    team_id: str | None = None
    volunteer_id: str | None = None
    new_record: bool = False

    def breakdowns(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for dimension, value in zip(
            BREAKDOWNS, (self.category, self.drive_id, self.team_id), strict=True
        ):
            if value is None:
                continue
            for measure, amount in self.counts.items():
                if measure in BREAKDOWN_MEASURES or measure.startswith("beneficiaries."):
                    out[f"{dimension}.{field_key(value)}.{measure}"] = amount
        return out


@dataclass(frozen=True)
class Counted:
    """What an event counts, and what it changes in the activity's facts.

    `facts`: the facts after the event, if it changed them; `stored`: the fields to set in
    the stored facts (`create`: the event brings them into being); `listed`: True if the
    activity enters the lists of pending activities, False if it leaves them.
    """

    delta: ServiceDelta | None = None
    facts: Mapping[str, Any] | None = None
    stored: Mapping[str, Any] | None = None
    create: bool = False
    listed: bool | None = None


def beneficiary_changes(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """What replacing an activity's beneficiary counts `before` by `after` adds: per group
    (`beneficiaries.<group>`, changed groups only) and in total."""
    counts: dict[str, int] = {}
    for group in sorted(set(before) | set(after)):
        change = int(after.get(group, 0)) - int(before.get(group, 0))
        if change:
            counts[f"beneficiaries.{group}"] = change
    counts["beneficiaries_total"] = sum(map(int, after.values())) - sum(map(int, before.values()))
    return counts


def delta_of(
    fact: Mapping[str, Any],
    day: str,
    counts: dict[str, int],
    volunteer_id: str | None = None,
    *,
    new_record: bool = False,
) -> ServiceDelta:
    return ServiceDelta(
        place_area_id=fact["place_area_id"],
        day=date.fromisoformat(day),
        counts=counts,
        category=fact.get("category"),
        drive_id=fact.get("drive_id"),
        team_id=fact.get("team_id"),
        volunteer_id=volunteer_id,
        new_record=new_record,
    )


def count_service(
    kind: str,
    payload: Mapping[str, Any],
    fact: Mapping[str, Any] | None,
    zone: ZoneInfo,
    occurred_at: datetime,
) -> Counted:
    """What an event of type `kind` counts, given its activity's facts so far (None: not
    known, scheduled before this projection's history began: it counts nothing)."""
    if kind == ActivityScheduled.event_type:
        fields = {
            "place_area_id": payload["place_area_id"],
            "category": payload["category"],
            "drive_id": payload.get("drive_id"),
            "team_id": payload.get("team_id"),
            "day": local_day(payload["starts_at"], zone).isoformat(),
        }
        facts = {"_id": payload["activity_id"], **fields}
        delta = delta_of(facts, fields["day"], {"activities_scheduled": 1})
        return Counted(delta, facts, fields, create=True, listed=True)
    if kind not in SERVICE_EVENT_TYPES or fact is None:
        return Counted()
    # Hours count on the day they were served; the rest on the activity's day.
    day = str(
        payload.get("service_date")
        or fact.get("day")  # activities scheduled before periods were counted lack it
        or local_day(occurred_at, zone).isoformat()
    )
    if kind in (ActivityCancelled.event_type, HoursApproved.event_type):
        if fact.get("approved") or fact.get("cancelled"):
            return Counted()  # settled already (each happens once, and never both)
        approved = kind == HoursApproved.event_type
        settled = {"approved" if approved else "cancelled": True}
        if not approved:
            counts = {"activities_scheduled": -1, "cancelled": 1}
        else:  # held: the activity counts, and with it the beneficiaries recorded so far
            counts = {"activities": 1, "activities_scheduled": -1}
            if fact.get("beneficiaries"):
                counts |= beneficiary_changes({}, fact["beneficiaries"])
        return Counted(delta_of(fact, day, counts), {**fact, **settled}, settled, listed=False)
    if kind == BeneficiariesRecorded.event_type:
        after: dict[str, int] = payload["counts"]
        stored = {"beneficiaries": after}
        if not fact.get("approved"):
            # Kept in the facts, counted when the activity is approved. The event still
            # counts nothing in the cells, so its history records it as first computed
            # (a redelivery computed against later facts must not stand instead).
            return Counted(delta_of(fact, day, {}), {**fact, **stored}, stored)
        counts = beneficiary_changes(fact.get("beneficiaries", {}), after)
        return Counted(delta_of(fact, day, counts), {**fact, **stored}, stored)
    volunteer_id = payload["volunteer_id"]
    if kind == ServiceRecordIssued.event_type:
        counts = {"minutes": int(payload["minutes"])}
        # A record per local day served: an attendance over midnight is one turn-out
        # (人次), counted on its first day, not one a day.
        turned_out: dict[str, bool] = fact.get("turned_out", {})
        delta = delta_of(fact, day, counts, volunteer_id, new_record=True)
        if volunteer_id in turned_out:
            return Counted(delta)
        counts["turnouts"] = 1
        facts = {**fact, "turned_out": {**turned_out, volunteer_id: True}}
        return Counted(delta, facts, {f"turned_out.{volunteer_id}": True})
    counts = {"minutes": int(payload["delta_minutes"])}
    return Counted(delta_of(fact, day, counts, volunteer_id))


def spread(areas: AreaTree, delta: ServiceDelta) -> list[tuple[str, str, dict[str, int]]]:
    """(area, cell, increments) for every area up the tree and every period of the day (pure):
    a cell's own, and under `children.<id>` the child's on the way down."""
    lineage = areas.prefix_lineage_ids(delta.place_area_id)
    own = dict(delta.counts) | delta.breakdowns()
    out: list[tuple[str, str, dict[str, int]]] = []
    for period in periods_of(delta.day):
        for area, child in zip(lineage, (*lineage[1:], None), strict=True):
            increments = dict(own)
            if child is not None:
                increments |= {f"children.{child}.{k}": v for k, v in own.items()}
            out.append((area, cell_id(area, period), increments))
    return out
