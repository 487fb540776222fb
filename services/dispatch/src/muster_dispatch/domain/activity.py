"""An activity on dispatch's side: its rules (schedule, amend, cancel, assign, beneficiaries,
corrections, closures, approval of hours) and the fold of its events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from muster_contracts.areas import AreaTree
from muster_contracts.checkin import encode_secret
from muster_contracts.events import DomainEvent
from muster_contracts.events.activities import (
    ACTIVITY_STREAM,
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    ActivityVolunteersAssigned,
    AmendedAspect,
    AttendanceCheckedIn,
    AttendanceCheckedOut,
    AttendanceClosedByRule,
    AttendanceCorrected,
    BeneficiariesRecorded,
    BeneficiaryGroup,
    CheckinPolicy,
    HoursApproved,
    NeverCheckedOutRule,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
)
from muster_dispatch.domain.hours import HoursPolicy, Interval, local_days


class ActivityRuleError(ValueError):
    """A command on an activity that breaks a rule; `field` and `rule` say which."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule


class ScheduleActivity(BaseModel):
    """The form an organiser schedules an activity with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drive_id: str | None = Field(default=None, min_length=1)
    team_id: str | None = Field(default=None, min_length=1)
    title: str = Field(min_length=1, max_length=200)
    place_area_id: str = Field(min_length=4, max_length=16)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    category: str = Field(min_length=1, max_length=60)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    capacity: int = Field(ge=1, le=10_000)
    checkin_policy: CheckinPolicy = CheckinPolicy.ASSIGNED_ONLY
    assigned_volunteer_ids: tuple[str, ...] = ()
    checkin_tolerance_minutes: int = Field(default=15, ge=0, le=240)

    @field_validator("title")
    @classmethod
    def _strip_title(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("title must not be blank")
        return value


class AmendActivity(BaseModel):
    """An organiser's change of an activity's time, place or capacity: what is left out
    stays as it is. Coordinates go together; both given as null remove them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    place_area_id: str | None = Field(default=None, min_length=4, max_length=16)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    capacity: int | None = Field(default=None, ge=1, le=10_000)
    reason: str | None = Field(default=None, max_length=200)


@dataclass(frozen=True)
class AttendanceRecord:
    """One volunteer's attendance as dispatch knows it: the volunteer's own check-in and
    check-out, the organiser's corrections and a closure by rule.

    Effective times: a correction wins over what the volunteer recorded, which wins over
    the scheduled end credited by the never-checked-out rule.
    """

    volunteer_id: str
    checked_in_at: datetime | None = None
    checked_out_at: datetime | None = None
    corrected_check_in_at: datetime | None = None
    corrected_check_out_at: datetime | None = None
    closed_by_rule: NeverCheckedOutRule | None = None
    rule_check_out_at: datetime | None = None

    @property
    def check_in_at(self) -> datetime | None:
        return self.corrected_check_in_at or self.checked_in_at

    @property
    def check_out_at(self) -> datetime | None:
        return self.corrected_check_out_at or self.checked_out_at or self.rule_check_out_at

    @property
    def is_open(self) -> bool:
        """Checked in, never checked out, not yet closed by the rule."""
        return (
            self.check_in_at is not None
            and self.check_out_at is None
            and self.closed_by_rule is None
        )

    @property
    def never_checked_out(self) -> bool:
        """Open, or flagged for review and not corrected since: organisers list these."""
        return self.check_in_at is not None and self.check_out_at is None

    @property
    def interval(self) -> Interval | None:
        start, end = self.check_in_at, self.check_out_at
        if start is None or end is None or end <= start:
            return None
        return Interval(start, end)


@dataclass(frozen=True)
class IssuedRecord:
    """A service record issued for this activity, with its minutes after adjustments."""

    record_id: str
    volunteer_id: str
    service_date: date
    minutes: int


@dataclass(frozen=True)
class Activity:
    """The folded state of one activity.

    `version` counts the events of the activity's own stream (the expected version for
    appends); attendance events from the volunteer service are folded in without it.
    """

    activity_id: str
    version: int = 0
    scheduled: ActivityScheduled | None = None
    assigned: frozenset[str] = frozenset()
    cancellation: ActivityCancelled | None = None
    beneficiaries: BeneficiariesRecorded | None = None
    attendances: Mapping[str, AttendanceRecord] = field(default_factory=dict)
    approval: HoursApproved | None = None
    records: Mapping[tuple[str, date], IssuedRecord] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.scheduled is not None

    @property
    def cancelled(self) -> bool:
        return self.cancellation is not None

    @property
    def approved(self) -> bool:
        return self.approval is not None

    def attendance(self, volunteer_id: str) -> AttendanceRecord:
        return self.attendances.get(volunteer_id) or AttendanceRecord(volunteer_id)


def record_id_for(activity_id: str, volunteer_id: str, service_date: date) -> str:
    """Deterministic, so a retried approval can never issue a second record for a day."""
    return f"{activity_id}-{volunteer_id}-{service_date:%Y%m%d}"


# --- decide ---------------------------------------------------------------------------------


def _scheduled(state: Activity) -> ActivityScheduled:
    if state.scheduled is None:
        raise ActivityRuleError("activity_id", "exists", f"no activity {state.activity_id}")
    return state.scheduled


def _open_for_changes(state: Activity, now: datetime) -> ActivityScheduled:
    """An activity that is scheduled, not cancelled, not approved and not yet over."""
    scheduled = _scheduled(state)
    _not_cancelled(state)
    if state.approved:
        raise ActivityRuleError("activity_id", "already_approved", "its hours are approved")
    if now >= scheduled.ends_at:
        raise ActivityRuleError("activity_id", "activity_ended", "the activity is over")
    return scheduled


def _not_cancelled(state: Activity) -> None:
    if state.cancelled:
        raise ActivityRuleError("activity_id", "activity_cancelled", "the activity is cancelled")


def _aware(name: str, at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ActivityRuleError(name, "timezone_aware", f"{name} needs a time zone")


def schedule_activity(
    state: Activity,
    command: ScheduleActivity,
    checkin_secret: bytes,
    areas: AreaTree,
    series: tuple[str, int] | None = None,
) -> list[DomainEvent]:
    """Schedule an activity; `checkin_secret` is freshly random (see `new_checkin_secret`);
    `series` is (series id, occurrence number) for an occurrence of a recurring series."""
    if state.exists:
        raise ActivityRuleError("activity_id", "unique", "this activity is already scheduled")
    if not checkin_secret:
        raise ValueError("an activity needs a non-empty check-in secret")
    if command.drive_id is None and command.team_id is None:
        raise ActivityRuleError(
            "drive_id", "drive_or_team", "an activity belongs to a drive or a team"
        )
    if command.place_area_id not in areas:
        raise ActivityRuleError(
            "place_area_id", "known_area", f"unknown area {command.place_area_id}"
        )
    if command.ends_at <= command.starts_at:
        raise ActivityRuleError("ends_at", "ends_after_start", "an activity ends after it starts")
    if (command.latitude is None) != (command.longitude is None):
        raise ActivityRuleError(
            "latitude", "coordinates_pair", "give both latitude and longitude, or neither"
        )
    assigned = tuple(dict.fromkeys(command.assigned_volunteer_ids))
    if len(assigned) > command.capacity:
        raise ActivityRuleError(
            "assigned_volunteer_ids",
            "capacity",
            f"{len(assigned)} volunteers assigned to a capacity of {command.capacity}",
        )
    return [
        ActivityScheduled(
            activity_id=state.activity_id,
            drive_id=command.drive_id,
            team_id=command.team_id,
            title=command.title,
            place_area_id=command.place_area_id,
            latitude=command.latitude,
            longitude=command.longitude,
            category=command.category,
            starts_at=command.starts_at,
            ends_at=command.ends_at,
            capacity=command.capacity,
            checkin_policy=command.checkin_policy,
            assigned_volunteer_ids=assigned,
            checkin_secret=encode_secret(checkin_secret),
            checkin_tolerance_minutes=command.checkin_tolerance_minutes,
            series_id=series[0] if series else None,
            occurrence=series[1] if series else None,
        )
    ]


def assign_volunteers(
    state: Activity, volunteer_ids: Iterable[str], now: datetime
) -> list[DomainEvent]:
    """Assign more volunteers; those already assigned are skipped (a retry changes nothing)."""
    scheduled = _open_for_changes(state, now)
    new = tuple(v for v in dict.fromkeys(volunteer_ids) if v not in state.assigned)
    if not new:
        return []
    if len(state.assigned) + len(new) > scheduled.capacity:
        raise ActivityRuleError(
            "volunteer_ids",
            "capacity",
            f"{len(state.assigned)} assigned + {len(new)} exceeds capacity {scheduled.capacity}",
        )
    return [ActivityVolunteersAssigned(activity_id=state.activity_id, volunteer_ids=new)]


def cancel_activity(state: Activity, reason: str, now: datetime) -> list[DomainEvent]:
    """Call an activity off before it ends; assigned and checked-in volunteers are told."""
    _open_for_changes(state, now)
    if not reason.strip():
        raise ActivityRuleError("reason", "reason_required", "say why the activity is cancelled")
    affected = sorted(state.assigned | {v for v, a in state.attendances.items() if a.check_in_at})
    return [
        ActivityCancelled(
            activity_id=state.activity_id,
            reason=reason.strip(),
            affected_volunteer_ids=tuple(affected),
        )
    ]


def amend_activity(state: Activity, command: AmendActivity, areas: AreaTree) -> list[DomainEvent]:
    """Change an activity's time, place or capacity, until its hours are approved.

    Refused for a cancelled (`activity_cancelled`) or approved (`already_approved`)
    activity; the amended activity ends after it starts (`ends_after_start`), lies in a
    known area (`known_area`), has both coordinates or neither (`coordinates_pair`), holds
    its assigned volunteers (`capacity_below_assigned`), and keeps every attendance
    recorded valid: each check-in inside the new check-in window (start - tolerance to
    end) and each check-out no later than the end + tolerance
    (`recorded_attendance_outside`). An attendance closed by the rule that credits the
    scheduled end is credited the amended end. Nothing changed: no event (a retry changes
    nothing).
    """
    scheduled = _scheduled(state)
    _not_cancelled(state)
    if state.approved:
        raise ActivityRuleError("activity_id", "already_approved", "its hours are approved")
    given = command.model_fields_set
    starts_at = command.starts_at or scheduled.starts_at
    ends_at = command.ends_at or scheduled.ends_at
    place_area_id = command.place_area_id or scheduled.place_area_id
    latitude, longitude = scheduled.latitude, scheduled.longitude
    if "latitude" in given or "longitude" in given:
        latitude, longitude = command.latitude, command.longitude
        if (latitude is None) != (longitude is None):
            raise ActivityRuleError(
                "latitude", "coordinates_pair", "give both latitude and longitude, or neither"
            )
    capacity = command.capacity or scheduled.capacity
    if ends_at <= starts_at:
        raise ActivityRuleError("ends_at", "ends_after_start", "an activity ends after it starts")
    if place_area_id not in areas:
        raise ActivityRuleError("place_area_id", "known_area", f"unknown area {place_area_id}")
    if capacity < len(state.assigned):
        raise ActivityRuleError(
            "capacity",
            "capacity_below_assigned",
            f"{len(state.assigned)} volunteers are assigned: capacity {capacity} cannot hold them",
        )
    tolerance = timedelta(minutes=scheduled.checkin_tolerance_minutes)
    for volunteer_id in sorted(state.attendances):
        recorded = state.attendances[volunteer_id]
        checked_in, checked_out = recorded.checked_in_at, recorded.checked_out_at
        if (checked_in is not None and not starts_at - tolerance <= checked_in <= ends_at) or (
            checked_out is not None and checked_out > ends_at + tolerance
        ):
            raise ActivityRuleError(
                "starts_at",
                "recorded_attendance_outside",
                f"{volunteer_id}'s recorded attendance would fall outside the amended times",
            )
    changed = [
        aspect
        for aspect, before, after in (
            (
                AmendedAspect.TIME,
                (scheduled.starts_at, scheduled.ends_at),
                (starts_at, ends_at),
            ),
            (
                AmendedAspect.PLACE,
                (scheduled.place_area_id, scheduled.latitude, scheduled.longitude),
                (place_area_id, latitude, longitude),
            ),
            (AmendedAspect.CAPACITY, scheduled.capacity, capacity),
        )
        if before != after
    ]
    if not changed:
        return []
    reason = command.reason.strip() if command.reason and command.reason.strip() else None
    affected = sorted(state.assigned | {v for v, a in state.attendances.items() if a.check_in_at})
    return [
        ActivityAmended(
            activity_id=state.activity_id,
            starts_at=starts_at,
            ends_at=ends_at,
            place_area_id=place_area_id,
            latitude=latitude,
            longitude=longitude,
            capacity=capacity,
            changed=tuple(changed),
            reason=reason,
            affected_volunteer_ids=tuple(affected),
        )
    ]


def record_beneficiaries(
    state: Activity,
    counts: Mapping[BeneficiaryGroup, int],
    reason: str | None,
    now: datetime,
) -> list[DomainEvent]:
    """Record the beneficiary counts once the activity has started; amending needs a reason.

    Groups left out count zero: the event always carries every group in full.
    """
    scheduled = _scheduled(state)
    _not_cancelled(state)
    if now < scheduled.starts_at:
        raise ActivityRuleError(
            "counts", "activity_not_started", "beneficiaries are counted once it has started"
        )
    if any(n < 0 for n in counts.values()):
        raise ActivityRuleError("counts", "non_negative", "counts cannot be negative")
    full = {group: counts.get(group, 0) for group in BeneficiaryGroup}
    reason = reason.strip() if reason and reason.strip() else None
    if state.beneficiaries is not None:
        if state.beneficiaries.counts == full:
            return []
        if reason is None:
            raise ActivityRuleError(
                "reason", "reason_required", "amending beneficiary counts needs a reason"
            )
    return [BeneficiariesRecorded(activity_id=state.activity_id, counts=full, reason=reason)]


def correct_attendance(
    state: Activity,
    volunteer_id: str,
    check_in_at: datetime | None,
    check_out_at: datetime | None,
    reason: str,
    corrected_by: str,
    now: datetime,
) -> list[DomainEvent]:
    """Correct an attendance (补签): a missing or wrong check-in or check-out time.

    Overrides a failed proof of presence. A time left None keeps the recorded one. Once the
    hours are approved, the volunteer's days are recounted (`service_day.recount`) and the
    records follow them (`settle_records`): records are never edited, only adjusted.
    """
    scheduled = _scheduled(state)
    _not_cancelled(state)
    if not reason.strip():
        raise ActivityRuleError("reason", "reason_required", "say why the attendance is corrected")
    if not corrected_by.strip():
        raise ActivityRuleError("corrected_by", "required", "say who corrects the attendance")
    if check_in_at is None and check_out_at is None:
        raise ActivityRuleError(
            "check_in_at", "nothing_to_correct", "give a check-in or a check-out time"
        )
    for name, at in (("check_in_at", check_in_at), ("check_out_at", check_out_at)):
        if at is not None:
            _aware(name, at)
            if at > now:
                raise ActivityRuleError(name, "in_the_future", f"{name} is in the future")
    current = state.attendance(volunteer_id)
    known = volunteer_id in state.assigned or current.check_in_at is not None
    if scheduled.checkin_policy is CheckinPolicy.ASSIGNED_ONLY and not known:
        raise ActivityRuleError(
            "volunteer_id", "not_assigned", f"{volunteer_id} is not assigned to this activity"
        )
    corrected = replace(
        current,
        corrected_check_in_at=check_in_at or current.corrected_check_in_at,
        corrected_check_out_at=check_out_at or current.corrected_check_out_at,
    )
    if corrected.check_in_at is None:
        raise ActivityRuleError(
            "check_in_at", "check_in_required", "no check-in recorded: give its time too"
        )
    if corrected.check_out_at is not None and corrected.check_out_at <= corrected.check_in_at:
        raise ActivityRuleError(
            "check_out_at", "check_out_before_check_in", "check-out must follow check-in"
        )
    if (corrected.check_in_at, corrected.check_out_at) == (
        current.check_in_at,
        current.check_out_at,
    ):
        return []
    return [
        AttendanceCorrected(
            activity_id=state.activity_id,
            volunteer_id=volunteer_id,
            check_in_at=check_in_at,
            check_out_at=check_out_at,
            reason=reason.strip(),
            corrected_by=corrected_by,
        )
    ]


def days_to_count(state: Activity, volunteer_id: str, policy: HoursPolicy) -> list[date]:
    """The local days an approved attendance must be counted on: those it has time on now,
    and those it has a record for (a correction may have moved it off a day)."""
    interval = state.attendance(volunteer_id).interval
    days = set(local_days(interval, policy.zone)) if interval is not None else set()
    days |= {day for (v, day) in state.records if v == volunteer_id}
    return sorted(days)


def settle_records(
    state: Activity,
    volunteer_id: str,
    service_date: date,
    credited: int | None,
    actor: str,
    reason: str,
) -> list[DomainEvent]:
    """Bring the volunteer's record of this activity on `service_date` to what the day's
    count credits it (`credited`; None: the attendance no longer counts on that day).

    A first count issues the record, even at 0 minutes: an approved attendance is a
    turn-out whatever its rounded minutes. A changed count adjusts it by the difference
    (`reason` says why). Nothing when the record already says so, or before approval."""
    scheduled = _scheduled(state)
    if state.approval is None:
        return []
    record = state.records.get((volunteer_id, service_date))
    if record is None:
        if credited is None:
            return []
        return [
            _record(
                state, scheduled, volunteer_id, service_date, credited, state.approval.approved_by
            )
        ]
    delta = (credited or 0) - record.minutes
    if not delta:
        return []
    return [
        ServiceRecordAdjusted(
            activity_id=state.activity_id,
            record_id=record.record_id,
            volunteer_id=volunteer_id,
            service_date=service_date,
            delta_minutes=delta,
            reason=reason,
            adjusted_by=actor,
        )
    ]


def settle_attendance(
    state: Activity,
    volunteer_id: str,
    credited: Mapping[date, int | None],
    actor: str,
    reason: str,
    policy: HoursPolicy,
) -> list[DomainEvent]:
    """Settle the volunteer's records of this activity on each of these days, in day order
    (`settle_records`; `credited`: what each day's count credits the activity, None where
    the day does not count it).

    An attendance's first record is always its first local day's, which is where its
    turn-out counts: while that day has not counted the attendance yet (its recount is
    still on its way), no later day's record is issued before it."""
    interval = state.attendance(volunteer_id).interval
    touched = set(local_days(interval, policy.zone)) if interval is not None else set()
    recorded = any(v == volunteer_id for v, _ in state.records)
    events: list[DomainEvent] = []
    for day in sorted(credited):
        if not recorded and credited[day] is None and day in touched:
            break
        settled = settle_records(state, volunteer_id, day, credited[day], actor, reason)
        recorded = recorded or any(isinstance(e, ServiceRecordIssued) for e in settled)
        events += settled
    return events


def _record(
    state: Activity,
    scheduled: ActivityScheduled,
    volunteer_id: str,
    day: date,
    minutes: int,
    approved_by: str,
) -> ServiceRecordIssued:
    return ServiceRecordIssued(
        activity_id=state.activity_id,
        record_id=record_id_for(state.activity_id, volunteer_id, day),
        volunteer_id=volunteer_id,
        drive_id=scheduled.drive_id,
        team_id=scheduled.team_id,
        category=scheduled.category,
        place_area_id=scheduled.place_area_id,
        service_date=day,
        minutes=minutes,
        approved_by=approved_by,
    )


def never_checked_out(state: Activity) -> tuple[AttendanceRecord, ...]:
    """Attendances with a check-in and no check-out: still open, or flagged for review."""
    return tuple(
        state.attendances[v]
        for v in sorted(state.attendances)
        if state.attendances[v].never_checked_out
    )


def close_never_checked_out(
    state: Activity, now: datetime, policy: HoursPolicy
) -> list[DomainEvent]:
    """Close every open attendance by the configured rule, once the grace period is over.

    Due at the scheduled end plus the longer of the grace period and the check-in
    tolerance (volunteers may check out until the end plus the tolerance). Before that, and
    for cancelled or approved activities, nothing is due: an empty list, so a periodic
    sweep can call it freely. After approval only a correction changes credited hours.
    """
    scheduled = _scheduled(state)
    if state.cancelled or state.approved:
        return []
    wait = max(policy.grace_minutes, scheduled.checkin_tolerance_minutes)
    if now < scheduled.ends_at + timedelta(minutes=wait):
        return []
    rule = policy.never_checked_out_rule
    credit = rule is NeverCheckedOutRule.CREDIT_SCHEDULED_END
    return [
        AttendanceClosedByRule(
            activity_id=state.activity_id,
            volunteer_id=volunteer_id,
            rule=rule,
            check_out_at=scheduled.ends_at if credit else None,
        )
        for volunteer_id in sorted(state.attendances)
        if state.attendances[volunteer_id].is_open
    ]


def approve_hours(state: Activity, approved_by: str, now: datetime) -> list[DomainEvent]:
    """Approve (certify) the hours of an ended activity.

    The service records follow from the volunteers' days, counted with every other approved
    attendance of the same days (`service_day.recount`, then `settle_records`). Attendances
    flagged for review earn nothing until corrected. Refused while an attendance is still
    open.
    """
    scheduled = _scheduled(state)
    _not_cancelled(state)
    if state.approved:
        raise ActivityRuleError("activity_id", "already_approved", "its hours are approved")
    if not approved_by.strip():
        raise ActivityRuleError("approved_by", "required", "say who approves the hours")
    if now < scheduled.ends_at:
        raise ActivityRuleError("now", "activity_not_ended", "approve hours once it has ended")
    still_open = sorted(v for v, a in state.attendances.items() if a.is_open)
    if still_open:
        raise ActivityRuleError(
            "attendances",
            "open_attendances",
            f"never checked out: {', '.join(still_open)}; correct or close them first",
        )
    return [HoursApproved(activity_id=state.activity_id, approved_by=approved_by, at=now)]


# --- evolve ---------------------------------------------------------------------------------


def _with_attendance(state: Activity, record: AttendanceRecord) -> Activity:
    return replace(state, attendances={**state.attendances, record.volunteer_id: record})


def evolve(state: Activity, event: DomainEvent) -> Activity:
    """Fold one event of the activity's stream, or an attendance event about it."""
    if event.stream_type == ACTIVITY_STREAM:
        state = replace(state, version=state.version + 1)
    match event:
        case ActivityScheduled():
            return replace(state, scheduled=event, assigned=frozenset(event.assigned_volunteer_ids))
        case ActivityVolunteersAssigned():
            return replace(state, assigned=state.assigned | set(event.volunteer_ids))
        case ActivityAmended():
            assert state.scheduled is not None, "an amendment follows the scheduling"
            amended = state.scheduled.model_copy(
                update={
                    "starts_at": event.starts_at,
                    "ends_at": event.ends_at,
                    "place_area_id": event.place_area_id,
                    "latitude": event.latitude,
                    "longitude": event.longitude,
                    "capacity": event.capacity,
                }
            )
            # An attendance the never-checked-out rule credited the scheduled end to is
            # credited the scheduled end still: the amended one.
            credited = {
                v: replace(a, rule_check_out_at=event.ends_at)
                for v, a in state.attendances.items()
                if a.closed_by_rule is NeverCheckedOutRule.CREDIT_SCHEDULED_END
            }
            return replace(state, scheduled=amended, attendances={**state.attendances, **credited})
        case ActivityCancelled():
            return replace(state, cancellation=event)
        case BeneficiariesRecorded():
            return replace(state, beneficiaries=event)
        case AttendanceCheckedIn():
            return _with_attendance(
                state, replace(state.attendance(event.volunteer_id), checked_in_at=event.at)
            )
        case AttendanceCheckedOut():
            return _with_attendance(
                state, replace(state.attendance(event.volunteer_id), checked_out_at=event.at)
            )
        case AttendanceCorrected():
            current = state.attendance(event.volunteer_id)
            return _with_attendance(
                state,
                replace(
                    current,
                    corrected_check_in_at=event.check_in_at or current.corrected_check_in_at,
                    corrected_check_out_at=event.check_out_at or current.corrected_check_out_at,
                ),
            )
        case AttendanceClosedByRule():
            return _with_attendance(
                state,
                replace(
                    state.attendance(event.volunteer_id),
                    closed_by_rule=event.rule,
                    rule_check_out_at=event.check_out_at,
                ),
            )
        case HoursApproved():
            return replace(state, approval=event)
        case ServiceRecordIssued():
            record = IssuedRecord(
                event.record_id, event.volunteer_id, event.service_date, event.minutes
            )
            key = (event.volunteer_id, event.service_date)
            return replace(state, records={**state.records, key: record})
        case ServiceRecordAdjusted():
            key = (event.volunteer_id, event.service_date)
            issued = state.records[key]
            adjusted = replace(issued, minutes=issued.minutes + event.delta_minutes)
            return replace(state, records={**state.records, key: adjusted})
    return state


def fold(activity_id: str, events: Iterable[DomainEvent]) -> Activity:
    state = Activity(activity_id)
    for event in events:
        state = evolve(state, event)
    return state
