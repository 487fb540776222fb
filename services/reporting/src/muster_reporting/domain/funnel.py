"""The drive funnel's rules: which stages a volunteer holds in a drive, and how events move them.

Stages, in order: signed up (dispatch decided on a sign-up: accepted, waitlisted or
declined) → accepted → assigned to a team → checked in → hours approved.
`signed_up`, `checked_in` and `hours_approved` count the people who ever reached them; a
volunteer counts once per stage per drive however many sign-ups, check-ins or records they
have. `accepted` and `assigned` count the people who hold a place now: a withdrawal takes the
volunteer out of both (they stay signed up, and a new sign-up that is accepted counts again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from muster_contracts.events.activities import (
    AttendanceCheckedIn,
    AttendanceCorrected,
    ServiceRecordIssued,
)
from muster_contracts.events.drives import (
    SignUpAccepted,
    SignUpDeclined,
    SignUpOutcome,
    SignUpPromoted,
    SignUpWaitlisted,
    SignUpWithdrawalRecorded,
    TeamFormed,
)


class Stage(StrEnum):
    SIGNED_UP = "signed_up"
    ACCEPTED = "accepted"
    ASSIGNED = "assigned"
    CHECKED_IN = "checked_in"
    HOURS_APPROVED = "hours_approved"


STAGES = tuple(Stage)
# What a withdrawal of an accepted sign-up takes away.
HELD_PLACE = frozenset({Stage.ACCEPTED, Stage.ASSIGNED})


@dataclass(frozen=True)
class Move:
    """One volunteer reaching a stage of a drive, or giving up their place (`reach` None).

    Check-ins name the activity, not the drive: the projection finds the activity's drive.
    """

    volunteer_id: str
    reach: Stage | None
    drive_id: str | None = None
    activity_id: str | None = None


# Every event type `moves_of` reads (a test checks that it ignores every other type).
MOVING_EVENT_TYPES = frozenset(
    {
        SignUpWaitlisted.event_type,
        SignUpDeclined.event_type,
        SignUpAccepted.event_type,
        SignUpPromoted.event_type,
        SignUpWithdrawalRecorded.event_type,
        TeamFormed.event_type,
        AttendanceCheckedIn.event_type,
        AttendanceCorrected.event_type,
        ServiceRecordIssued.event_type,
    }
)


def moves_of(event_type: str, payload: Mapping[str, Any]) -> list[Move]:
    """The funnel moves an event makes (none for events the funnel ignores)."""
    # Every sign-up gets a decision on the drive's own stream: counting sign-ups from the
    # decisions keeps the first three stages in the drive stream's order (never more
    # accepted than signed up, whatever order the two topics are read in).
    if event_type in (SignUpWaitlisted.event_type, SignUpDeclined.event_type):
        return [Move(payload["volunteer_id"], Stage.SIGNED_UP, drive_id=payload["drive_id"])]
    if event_type == SignUpAccepted.event_type:
        volunteer, drive = payload["volunteer_id"], payload["drive_id"]
        return [Move(volunteer, Stage.SIGNED_UP, drive), Move(volunteer, Stage.ACCEPTED, drive)]
    if event_type == SignUpPromoted.event_type:
        return [Move(payload["volunteer_id"], Stage.ACCEPTED, drive_id=payload["drive_id"])]
    if event_type == SignUpWithdrawalRecorded.event_type:
        if payload["was"] != SignUpOutcome.ACCEPTED:
            return []  # a waitlisted sign-up held no place
        return [Move(payload["volunteer_id"], None, drive_id=payload["drive_id"])]
    if event_type == TeamFormed.event_type:
        return [Move(v, Stage.ASSIGNED, drive_id=payload["drive_id"]) for v in payload["members"]]
    if event_type == AttendanceCheckedIn.event_type or (
        event_type == AttendanceCorrected.event_type and payload.get("check_in_at") is not None
    ):
        # A correction (补签) with a check-in time records presence the app did not.
        return [Move(payload["volunteer_id"], Stage.CHECKED_IN, activity_id=payload["activity_id"])]
    if event_type == ServiceRecordIssued.event_type:
        return [
            Move(
                payload["volunteer_id"],
                Stage.HOURS_APPROVED,
                drive_id=payload.get("drive_id"),
                activity_id=payload["activity_id"],
            )
        ]
    return []


def step(held: frozenset[Stage], move: Move) -> tuple[frozenset[Stage], dict[Stage, int]]:
    """The stages held after `move`, and the change it makes to each stage's count."""
    if move.reach is None:
        left = held & HELD_PLACE
        return held - left, {stage: -1 for stage in left}
    if move.reach in held:
        return held, {}
    return held | {move.reach}, {move.reach: 1}


@dataclass(frozen=True)
class StageCount:
    stage: Stage
    count: int
    rate: float | None


def conversion(counts: Mapping[str, int]) -> list[StageCount]:
    """Each stage's count and its rate from the stage before (None first, or after a zero)."""
    out: list[StageCount] = []
    previous: int | None = None
    for stage in STAGES:
        count = int(counts.get(stage.value, 0))
        rate = count / previous if previous else None
        out.append(StageCount(stage, count, rate))
        previous = count
    return out


def total(deltas: Iterable[Mapping[Stage, int]]) -> dict[str, int]:
    """Summed changes per stage, zeros dropped (counter increments for one cell)."""
    summed: dict[str, int] = {}
    for delta in deltas:
        for stage, amount in delta.items():
            summed[stage.value] = summed.get(stage.value, 0) + amount
    return {k: v for k, v in summed.items() if v}
