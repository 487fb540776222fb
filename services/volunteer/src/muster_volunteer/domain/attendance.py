"""Check-in and check-out on the volunteer's side: proof of presence and time windows.

The volunteer service knows activities only from dispatch's events (`ActivityView`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from muster_contracts.checkin import (
    DEFAULT_STEP_SECONDS,
    DEFAULT_WINDOW_STEPS,
    CodeCheck,
    Coordinates,
    classify_checkin_code,
    decode_secret,
    distance_metres,
)
from muster_contracts.events import DomainEvent
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
    AttendanceCheckedIn,
    AttendanceCheckedOut,
    CheckinPolicy,
    PresenceProof,
)

DEFAULT_RADIUS_METRES = 200.0


class AttendanceRuleError(ValueError):
    """A check-in or check-out that breaks a rule; `field` and `rule` say which, and
    `figures` what a person needs to act on it (how far, within what radius)."""

    def __init__(self, field: str, rule: str, message: str, **figures: float) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule
        self.figures = figures


@dataclass(frozen=True)
class ActivityView:
    """What the volunteer service knows of an activity, folded from dispatch's events.

    An amendment (`activity.amended`) replaces its times and place, so the windows and the
    location check follow it. Windows: check-in from `starts_at - tolerance` to `ends_at`; check-out any time after
    the check-in up to `ends_at + tolerance` (later, dispatch closes the attendance by its
    never-checked-out rule and an organiser may correct it).
    """

    activity_id: str
    starts_at: datetime
    ends_at: datetime
    place_area_id: str
    coordinates: Coordinates | None
    checkin_policy: CheckinPolicy
    assigned: frozenset[str]
    checkin_secret: bytes
    tolerance: timedelta
    cancelled: bool = False

    @classmethod
    def from_scheduled(cls, event: ActivityScheduled) -> ActivityView:
        coordinates = None
        if event.latitude is not None and event.longitude is not None:
            coordinates = Coordinates(event.latitude, event.longitude)
        return cls(
            activity_id=event.activity_id,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            place_area_id=event.place_area_id,
            coordinates=coordinates,
            checkin_policy=event.checkin_policy,
            assigned=frozenset(event.assigned_volunteer_ids),
            checkin_secret=decode_secret(event.checkin_secret),
            tolerance=timedelta(minutes=event.checkin_tolerance_minutes),
        )

    @property
    def checkin_opens_at(self) -> datetime:
        return self.starts_at - self.tolerance

    @property
    def checkout_closes_at(self) -> datetime:
        return self.ends_at + self.tolerance


def evolve_view(view: ActivityView | None, event: DomainEvent) -> ActivityView | None:
    """Fold a dispatch event into the view; events it does not need leave it unchanged."""
    if isinstance(event, ActivityScheduled):
        return ActivityView.from_scheduled(event)
    if view is None:
        return None
    if isinstance(event, ActivityVolunteersAssigned):
        return replace(view, assigned=view.assigned | set(event.volunteer_ids))
    if isinstance(event, ActivityAmended):
        coordinates = None
        if event.latitude is not None and event.longitude is not None:
            coordinates = Coordinates(event.latitude, event.longitude)
        return replace(
            view,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            place_area_id=event.place_area_id,
            coordinates=coordinates,
        )
    if isinstance(event, ActivityCancelled):
        return replace(view, cancelled=True)
    return view


@dataclass(frozen=True)
class Attendance:
    """The folded state of one `attendance-{activity_id}-{volunteer_id}` stream."""

    activity_id: str
    volunteer_id: str
    version: int = 0
    checked_in: AttendanceCheckedIn | None = None
    checked_out_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.checked_in is not None and self.checked_out_at is None


def blocks_other_check_ins(activity: ActivityView, attendance: Attendance, at: datetime) -> bool:
    """Whether this attendance makes a check-in elsewhere at `at` an overlapping one.

    Only while it could still be checked out: a forgotten check-out must not lock a
    volunteer out of every later activity.
    """
    return attendance.is_open and not activity.cancelled and at <= activity.checkout_closes_at


def _own(activity: ActivityView, attendance: Attendance, volunteer_id: str) -> None:
    if attendance.activity_id != activity.activity_id:
        raise ValueError("the attendance belongs to another activity")
    if attendance.volunteer_id != volunteer_id:
        raise AttendanceRuleError(
            "volunteer_id", "own_attendance_only", "volunteers check in and out for themselves"
        )


def _aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("check-in and check-out times must be timezone-aware")


def check_in(
    activity: ActivityView,
    attendance: Attendance,
    volunteer_id: str,
    code: str,
    at: datetime,
    location: Coordinates | None,
    open_elsewhere: str | None,
    radius_m: float = DEFAULT_RADIUS_METRES,
    *,
    step_seconds: int = DEFAULT_STEP_SECONDS,
    window_steps: int = DEFAULT_WINDOW_STEPS,
) -> list[DomainEvent]:
    """Check a volunteer in, having proved presence.

    Args:
        activity: the activity as known from dispatch's events.
        attendance: this volunteer's attendance stream at the activity.
        volunteer_id: the caller, from their own token.
        code: the rotating code scanned from the organiser's device.
        at: when the request arrived (server time).
        location: the phone's position, if it sent one.
        open_elsewhere: the id of another activity where the volunteer is checked in and
            could still check out (see `blocks_other_check_ins`), else None.
        radius_m: how far from the activity's coordinates a phone may be.

    Checked in this order, the first broken rule is the error: activity_cancelled,
    already_checked_in, overlapping_check_in, not_assigned, outside_time_tolerance,
    wrong_code / expired_code, location_required, too_far. The location is proof only where
    the activity has coordinates; elsewhere it is not recorded.
    """
    _own(activity, attendance, volunteer_id)
    _aware(at)
    if activity.cancelled:
        raise AttendanceRuleError("activity_id", "activity_cancelled", "the activity is cancelled")
    if attendance.checked_in is not None:
        raise AttendanceRuleError(
            "activity_id", "already_checked_in", "already checked in to this activity"
        )
    if open_elsewhere is not None and open_elsewhere != activity.activity_id:
        raise AttendanceRuleError(
            "activity_id",
            "overlapping_check_in",
            f"still checked in at activity {open_elsewhere}: check out there first",
        )
    if (
        activity.checkin_policy is CheckinPolicy.ASSIGNED_ONLY
        and volunteer_id not in activity.assigned
    ):
        raise AttendanceRuleError(
            "volunteer_id", "not_assigned", "only assigned volunteers may check in"
        )
    if not activity.checkin_opens_at <= at <= activity.ends_at:
        raise AttendanceRuleError(
            "at",
            "outside_time_tolerance",
            f"check-in is open from {activity.checkin_opens_at.isoformat()} "
            f"to {activity.ends_at.isoformat()}",
        )
    match classify_checkin_code(
        activity.checkin_secret,
        activity.activity_id,
        code,
        at,
        step_seconds=step_seconds,
        window_steps=window_steps,
    ):
        case CodeCheck.EXPIRED:
            raise AttendanceRuleError("code", "expired_code", "this code has expired: scan again")
        case CodeCheck.WRONG:
            raise AttendanceRuleError("code", "wrong_code", "this is not the activity's code")
        case CodeCheck.VALID:
            pass
    proof = PresenceProof.CODE
    recorded: Coordinates | None = None
    if activity.coordinates is not None:
        if location is None:
            raise AttendanceRuleError(
                "location", "location_required", "this activity needs the phone's location"
            )
        distance = distance_metres(activity.coordinates, location)
        if distance > radius_m:
            raise AttendanceRuleError(
                "location",
                "too_far",
                f"{distance:.0f} m from the activity; within {radius_m:.0f} m needed",
                distance_m=round(distance),
                radius_m=round(radius_m),
            )
        proof, recorded = PresenceProof.CODE_AND_LOCATION, location
    return [
        AttendanceCheckedIn(
            activity_id=activity.activity_id,
            volunteer_id=volunteer_id,
            at=at,
            latitude=recorded.latitude if recorded else None,
            longitude=recorded.longitude if recorded else None,
            proof=proof,
        )
    ]


def check_out(
    activity: ActivityView, attendance: Attendance, volunteer_id: str, at: datetime
) -> list[DomainEvent]:
    """Check a volunteer out: any time after the check-in, up to `ends_at + tolerance`.

    Allowed after a cancellation too, so the volunteer is not left checked in.
    """
    _own(activity, attendance, volunteer_id)
    _aware(at)
    if attendance.checked_in is None:
        raise AttendanceRuleError(
            "activity_id", "check_out_without_check_in", "not checked in to this activity"
        )
    if attendance.checked_out_at is not None:
        raise AttendanceRuleError(
            "activity_id", "already_checked_out", "already checked out of this activity"
        )
    if at < attendance.checked_in.at:
        raise AttendanceRuleError(
            "at", "check_out_before_check_in", "check-out cannot precede the check-in"
        )
    if at > activity.checkout_closes_at:
        raise AttendanceRuleError(
            "at",
            "outside_time_tolerance",
            f"check-out closed at {activity.checkout_closes_at.isoformat()}; "
            "ask the organiser for a correction",
        )
    return [
        AttendanceCheckedOut(activity_id=activity.activity_id, volunteer_id=volunteer_id, at=at)
    ]


def evolve(state: Attendance, event: DomainEvent) -> Attendance:
    state = replace(state, version=state.version + 1)
    if isinstance(event, AttendanceCheckedIn):
        return replace(state, checked_in=event)
    if isinstance(event, AttendanceCheckedOut):
        return replace(state, checked_out_at=event.at)
    return state
