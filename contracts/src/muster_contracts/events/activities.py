"""Events of activities: schedule, attendance, beneficiaries, approved hours and service records.

Streams: `activity-{activity_id}` (dispatch), `attendance-{activity_id}-{volunteer_id}` (volunteer),
`service-day-{volunteer_id}-{yyyymmdd}` (dispatch: a volunteer's approved service on one local day).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from muster_contracts.events.registry import DomainEvent

ACTIVITY_STREAM = "activity"
ATTENDANCE_STREAM = "attendance"
SERVICE_DAY_STREAM = "service-day"


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# Events carry UTC; local days are computed by the readers from a configured time zone.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


def activity_stream_id(activity_id: str) -> str:
    return f"{ACTIVITY_STREAM}-{activity_id}"


def attendance_stream_id(activity_id: str, volunteer_id: str) -> str:
    return f"{ATTENDANCE_STREAM}-{activity_id}-{volunteer_id}"


def service_day_stream_id(volunteer_id: str, service_date: date) -> str:
    return f"{SERVICE_DAY_STREAM}-{volunteer_id}-{service_date:%Y%m%d}"


class CheckinPolicy(StrEnum):
    """Who may check in to an activity."""

    ASSIGNED_ONLY = "assigned_only"
    WALK_INS_ALLOWED = "walk_ins_allowed"


class BeneficiaryGroup(StrEnum):
    """The groups beneficiary turn-outs (受益人次) are counted by."""

    ELDERLY = "elderly"
    CHILDREN = "children"
    DISABLED = "disabled"
    LOW_INCOME = "low_income"
    OUTDOOR_WORKERS = "outdoor_workers"
    RESIDENTS = "residents"


class PresenceProof(StrEnum):
    """What a check-in proved presence with."""

    CODE = "code"
    CODE_AND_LOCATION = "code_and_location"


class NeverCheckedOutRule(StrEnum):
    """How an attendance never checked out is closed once the grace period has passed."""

    CREDIT_SCHEDULED_END = "credit_scheduled_end"
    FLAG_FOR_REVIEW = "flag_for_review"


# Volunteers appear by `volunteer_id` only: no personal data travels in these events.
class _ActivityEvent(DomainEvent):
    stream_type: ClassVar[str] = ACTIVITY_STREAM

    activity_id: str = Field(min_length=1)


class _AttendanceEvent(DomainEvent):
    stream_type: ClassVar[str] = ATTENDANCE_STREAM

    activity_id: str = Field(min_length=1)
    volunteer_id: str = Field(min_length=1)


class ActivityScheduled(_ActivityEvent):
    """An organiser scheduled a session of a drive or team.

    Carries the activity's check-in secret: these events are internal to Muster (both
    services derive the rotating check-in codes from it), never shown to volunteers.
    """

    event_type: ClassVar[str] = "activity.scheduled"
    schema_version: ClassVar[int] = 1

    drive_id: str | None = None
    team_id: str | None = None
    title: str = Field(min_length=1, max_length=200)
    place_area_id: str = Field(min_length=4, max_length=16)
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    category: str = Field(min_length=1, max_length=60)
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    capacity: int = Field(ge=1)
    checkin_policy: CheckinPolicy
    assigned_volunteer_ids: tuple[str, ...] = ()
    checkin_secret: str = Field(min_length=1, description="Standard base64 of the HMAC key.")
    checkin_tolerance_minutes: int = Field(ge=0)
    series_id: str | None = Field(
        default=None, description="The recurring series this activity is an occurrence of."
    )
    occurrence: int | None = Field(
        default=None, ge=1, description="Which occurrence of its series (1 the first)."
    )

    @property
    def has_coordinates(self) -> bool:
        return self.latitude is not None and self.longitude is not None


class ActivityVolunteersAssigned(_ActivityEvent):
    """Volunteers newly assigned to an activity (only the ones not assigned before)."""

    event_type: ClassVar[str] = "activity.volunteers_assigned"
    schema_version: ClassVar[int] = 1

    volunteer_ids: tuple[str, ...] = Field(min_length=1)


class ActivityCancelled(_ActivityEvent):
    """An activity was called off; the affected volunteers are to be told."""

    event_type: ClassVar[str] = "activity.cancelled"
    schema_version: ClassVar[int] = 1

    reason: str = Field(min_length=1)
    affected_volunteer_ids: tuple[str, ...] = ()


class AmendedAspect(StrEnum):
    """What an amendment changed of an activity."""

    TIME = "time"
    PLACE = "place"
    CAPACITY = "capacity"


class ActivityAmended(_ActivityEvent):
    """An organiser changed an activity's time, place or capacity before its approval.

    Carries the activity's time, place and capacity in full as they stand after it (the
    fields `ActivityScheduled` set, which readers replace), what changed (`changed`,
    never empty) and who is to be told (assigned or checked-in volunteers).
    """

    event_type: ClassVar[str] = "activity.amended"
    schema_version: ClassVar[int] = 1

    starts_at: UtcDatetime
    ends_at: UtcDatetime
    place_area_id: str = Field(min_length=4, max_length=16)
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    capacity: int = Field(ge=1)
    changed: tuple[AmendedAspect, ...] = Field(min_length=1)
    reason: str | None = Field(default=None, description="Why, as the organiser said it.")
    affected_volunteer_ids: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _ends_after_start(self) -> ActivityAmended:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must follow starts_at")
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


class BeneficiariesRecorded(_ActivityEvent):
    """The beneficiary counts of an activity, in full (an amendment replaces them all)."""

    event_type: ClassVar[str] = "activity.beneficiaries_recorded"
    schema_version: ClassVar[int] = 1

    counts: dict[BeneficiaryGroup, Annotated[int, Field(ge=0)]]
    reason: str | None = Field(default=None, description="Why earlier counts were amended.")

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class AttendanceCheckedIn(_AttendanceEvent):
    """A volunteer checked in on site, having proved presence."""

    event_type: ClassVar[str] = "attendance.checked_in"
    schema_version: ClassVar[int] = 1

    at: UtcDatetime
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    proof: PresenceProof


class AttendanceCheckedOut(_AttendanceEvent):
    """A volunteer checked out."""

    event_type: ClassVar[str] = "attendance.checked_out"
    schema_version: ClassVar[int] = 1

    at: UtcDatetime


class AttendanceCorrected(_ActivityEvent):
    """An organiser corrected an attendance (补签); a time left None keeps the recorded one."""

    event_type: ClassVar[str] = "activity.attendance_corrected"
    schema_version: ClassVar[int] = 1

    volunteer_id: str = Field(min_length=1)
    check_in_at: UtcDatetime | None = None
    check_out_at: UtcDatetime | None = None
    reason: str = Field(min_length=1)
    corrected_by: str = Field(min_length=1)


class AttendanceClosedByRule(_ActivityEvent):
    """An attendance never checked out was closed by the configured rule."""

    event_type: ClassVar[str] = "activity.attendance_closed_by_rule"
    schema_version: ClassVar[int] = 1

    volunteer_id: str = Field(min_length=1)
    rule: NeverCheckedOutRule
    check_out_at: UtcDatetime | None = Field(
        default=None, description="The scheduled end when credited; None when flagged."
    )

    @model_validator(mode="after")
    def _check_out_matches_rule(self) -> AttendanceClosedByRule:
        credits = self.rule is NeverCheckedOutRule.CREDIT_SCHEDULED_END
        if credits != (self.check_out_at is not None):
            raise ValueError("check_out_at is set exactly when the rule credits the scheduled end")
        return self


class HoursApproved(_ActivityEvent):
    """The organising side approved (certified) the hours of an activity."""

    event_type: ClassVar[str] = "activity.hours_approved"
    schema_version: ClassVar[int] = 1

    approved_by: str = Field(min_length=1)
    at: UtcDatetime


class ServiceRecordIssued(_ActivityEvent):
    """The authoritative record of one volunteer's approved service on one local day."""

    event_type: ClassVar[str] = "service.record_issued"
    schema_version: ClassVar[int] = 1

    record_id: str = Field(min_length=1)
    volunteer_id: str = Field(min_length=1)
    drive_id: str | None = None
    team_id: str | None = None
    category: str
    place_area_id: str
    service_date: date = Field(description="The local day served, in the hours time zone.")
    # Whole minutes keep every sum exact; hours are derived.
    minutes: int = Field(ge=0)
    approved_by: str = Field(min_length=1)

    @property
    def hours(self) -> Decimal:
        return Decimal(self.minutes) / 60


class ServiceRecordAdjusted(_ActivityEvent):
    """A correction after approval changed a record's minutes by `delta_minutes`."""

    event_type: ClassVar[str] = "service.record_adjusted"
    schema_version: ClassVar[int] = 1

    record_id: str = Field(min_length=1)
    volunteer_id: str = Field(min_length=1)
    service_date: date
    delta_minutes: int
    reason: str = Field(min_length=1)
    adjusted_by: str = Field(min_length=1)

    @property
    def delta_hours(self) -> Decimal:
        return Decimal(self.delta_minutes) / 60


class ServiceDayRecounted(DomainEvent):
    """A volunteer's local day was counted again from its set of approved attendances,
    because one of them was approved or corrected.

    `activity_id`'s attendance now spans `check_in_at` to `check_out_at` (None: it no
    longer touches this day). `credited_minutes` is the day's whole attribution after it:
    minutes per approved activity, which the activities' service records follow.
    """

    stream_type: ClassVar[str] = SERVICE_DAY_STREAM
    event_type: ClassVar[str] = "service.day_recounted"
    schema_version: ClassVar[int] = 1

    volunteer_id: str = Field(min_length=1)
    service_date: date = Field(description="The local day, in the hours time zone.")
    activity_id: str = Field(min_length=1)
    check_in_at: UtcDatetime | None = None
    check_out_at: UtcDatetime | None = None
    credited_minutes: dict[str, Annotated[int, Field(ge=0)]] = Field(
        description="Minutes credited per approved activity of the day; they add up to the day."
    )

    @model_validator(mode="after")
    def _span_whole_or_absent(self) -> ServiceDayRecounted:
        if (self.check_in_at is None) != (self.check_out_at is None):
            raise ValueError("give both check_in_at and check_out_at, or neither")
        if self.check_in_at and self.check_out_at and self.check_out_at <= self.check_in_at:
            raise ValueError("check_out_at must follow check_in_at")
        return self
