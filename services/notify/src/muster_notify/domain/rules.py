"""Who is told what, by which event: pure functions from events and known facts to messages.

Notify keeps its own facts (drives, teams, activities, volunteers' eligibility facts) from
the events; the application loads the facts an event needs and hands them in here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from muster_contracts.areas import AreaTree
from muster_contracts.eligibility import VolunteerProfile, check_eligibility, fits_role
from muster_contracts.envelope import Role
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    ServiceRecordIssued,
)
from muster_contracts.events.drives import (
    DriveLaunched,
    SignUpAccepted,
    SignUpDeclined,
    SignUpPromoted,
    SignUpWaitlisted,
    SignUpWithdrawalRecorded,
)
from muster_contracts.stars import star_rating
from muster_contracts.teams import Team, TeamChange, leaders_told
from muster_notify.domain.messages import Cause, Message, MessageKind, addressed

SignUpDecision = (
    SignUpAccepted | SignUpWaitlisted | SignUpPromoted | SignUpDeclined | SignUpWithdrawalRecorded
)


# --- drive launched: a broadcast to the volunteers it fits ------------------------------------


def drive_fits(launched: DriveLaunched, volunteer: VolunteerProfile, areas: AreaTree) -> bool:
    """Whether a launched drive is told to a volunteer: their home lies within its scope,
    they meet its eligibility rules and at least one role fits their skills.

    The rules are the contracts' own (the ones dispatch decides sign-ups with); the scope
    is the broadcast's reach, so a drive is never told outside its area.
    """
    home, scope = volunteer.home_area_id, launched.scope_area_id
    if home not in areas or scope not in areas or not areas.is_within(home, scope):
        return False
    failed = check_eligibility(
        launched.eligibility, scope, volunteer, areas, launched.activity_starts_at.date()
    )
    return not failed and any(fits_role(role, volunteer.skills) for role in launched.roles)


def worth_broadcasting(launched: DriveLaunched, closed: bool, now: datetime) -> bool:
    """A drive is broadcast while volunteers can still sign up: not once it is closed or
    its sign-up window has passed (a drive launched long ago and replayed from the log
    tells no one)."""
    return not closed and now < launched.signup_closes_at


def drive_launched_message(volunteer_id: str, launched: DriveLaunched, cause: Cause) -> Message:
    return Message(
        volunteer_id,
        MessageKind.DRIVE_LAUNCHED,
        cause,
        {
            "drive_title": launched.title,
            "category": launched.category.value,
            "starts_at": launched.activity_starts_at.isoformat(),
            "signup_closes_at": launched.signup_closes_at.isoformat(),
        },
        drive_id=launched.drive_id,
    )


# --- sign-up decisions --------------------------------------------------------------------------


def sign_up_messages(
    event: SignUpDecision, cause: Cause, actor: Role, drive_title: str | None
) -> list[Message]:
    """Accepted, waitlisted (with the position), promoted, declined (with the rule), or
    withdrawn by someone other than the volunteer (the volunteer knows their own)."""
    params: dict[str, object] = {"drive_title": drive_title, "role_id": event.role_id}
    match event:
        case SignUpAccepted():
            kind = MessageKind.SIGN_UP_ACCEPTED
        case SignUpWaitlisted():
            kind = MessageKind.SIGN_UP_WAITLISTED
            params["position"] = event.position
        case SignUpPromoted():
            kind = MessageKind.SIGN_UP_PROMOTED
            params["reason"] = event.reason.value
        case SignUpDeclined():
            kind = MessageKind.SIGN_UP_DECLINED
            params["rule"] = event.rule
        case SignUpWithdrawalRecorded():
            if actor is Role.VOLUNTEER:
                return []
            kind = MessageKind.SIGN_UP_WITHDRAWN
            params["reason"] = event.reason
    return [Message(event.volunteer_id, kind, cause, params, drive_id=event.drive_id)]


# --- teams ------------------------------------------------------------------------------------------


def team_messages(
    event: TeamChange, cause: Cause, teams: Mapping[str, Team], drive_title: str | None
) -> list[Message]:
    """Who is newly in a team, or has a new leader, is told the team and its leader
    (`leaders_told`, the contracts' rule; `teams`: those the event names, before it)."""
    return [
        Message(
            told.member,
            MessageKind.TEAM_ASSIGNED,
            cause,
            {
                "drive_title": drive_title,
                "team_id": told.team_id,
                "leader_id": told.leader_id,
                "is_leader": told.member == told.leader_id,
            },
            drive_id=event.drive_id,
        )
        for told in leaders_told(event, teams)
    ]


# --- activities: amendment, cancellation, reminders, check-in window ------------------------------


@dataclass(frozen=True)
class Activity:
    """An activity as notify knows it."""

    activity_id: str
    title: str
    starts_at: datetime
    ends_at: datetime
    checkin_opens_at: datetime
    drive_id: str | None = None
    place_area_id: str | None = None
    assigned: frozenset[str] = frozenset()
    checked_in: frozenset[str] = frozenset()
    cancelled: bool = False


def cancellation_messages(
    event: ActivityCancelled, cause: Cause, activity: Activity | None
) -> list[Message]:
    """Everyone the cancellation affects (the event names them) is told, with the reason."""
    params = {
        "activity_title": activity.title if activity else None,
        "starts_at": activity.starts_at.isoformat() if activity else None,
        "reason": event.reason,
    }
    return addressed(
        event.affected_volunteer_ids,
        MessageKind.ACTIVITY_CANCELLED,
        cause,
        params,
        drive_id=activity.drive_id if activity else None,
        activity_id=event.activity_id,
    )


def amendment_messages(
    event: ActivityAmended, cause: Cause, activity: Activity | None, place_name: str | None
) -> list[Message]:
    """Everyone the amendment affects (the event names them: assigned or checked in) is
    told what changed, with the new values: the time, the place (`place_name`: the area's
    name, not personal data), the capacity; and the organiser's reason, if given."""
    params = {
        "activity_title": activity.title if activity else None,
        "changed": [aspect.value for aspect in event.changed],
        "starts_at": event.starts_at.isoformat(),
        "ends_at": event.ends_at.isoformat(),
        "was_starts_at": activity.starts_at.isoformat() if activity else None,
        "place": place_name or event.place_area_id,
        "capacity": event.capacity,
        "reason": event.reason,
    }
    return addressed(
        event.affected_volunteer_ids,
        MessageKind.ACTIVITY_AMENDED,
        cause,
        params,
        drive_id=activity.drive_id if activity else None,
        activity_id=event.activity_id,
    )


def place_name(areas: AreaTree, area_id: str) -> str | None:
    """How a volunteer reads a place: its names from the street down (the district is
    theirs already), e.g. `乔屯街道 天元公寓社区 2号楼`; None for an area not in the tree."""
    if area_id not in areas:
        return None
    return " ".join(area.name for area in areas.path(area_id)[2:]) or areas.get(area_id).name


def amended(activity: Activity, event: ActivityAmended) -> Activity:
    """The activity with the amendment's times and place (the check-in window opens as
    long before the new start as before the old one)."""
    lead = activity.starts_at - activity.checkin_opens_at
    return replace(
        activity,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        checkin_opens_at=event.starts_at - lead,
        place_area_id=event.place_area_id,
    )


@dataclass(frozen=True)
class Timer:
    """A message due at `due_at` about an activity starting at `starts_at`.

    Its id names the activity, the kind, the lead and the start it was set for: a timer
    set for a start that has since moved is stale and sends nothing.
    """

    activity_id: str
    kind: MessageKind
    lead_minutes: int
    starts_at: datetime
    due_at: datetime

    @property
    def timer_id(self) -> str:
        return (
            f"timer:{self.activity_id}:{self.kind.value}:{self.lead_minutes}:"
            f"{self.starts_at.astimezone(UTC):%Y%m%dT%H%M%S}"
        )


def timers_for(
    activity: Activity, lead_times: tuple[timedelta, ...], scheduled_at: datetime, now: datetime
) -> list[Timer]:
    """The reminders (one per lead time) and the check-in window's opening of an activity
    scheduled at `scheduled_at`, if it has not started by `now`.

    A reminder whose moment had passed when the activity was scheduled is not set (an
    activity scheduled 30 minutes ahead gets no 1-hour reminder); one whose moment passed
    only because the event is read late is set, and goes out late, saying so. A window
    already open when the activity was scheduled opens, for its message, at scheduling.
    """
    if activity.cancelled or now >= activity.starts_at:
        return []
    timers = [
        Timer(
            activity.activity_id,
            MessageKind.ACTIVITY_REMINDER,
            int(lead.total_seconds() // 60),
            activity.starts_at,
            activity.starts_at - lead,
        )
        for lead in sorted(lead_times, reverse=True)
        if activity.starts_at - lead > scheduled_at
    ]
    opens = activity.checkin_opens_at
    lead_minutes = int((activity.starts_at - opens).total_seconds() // 60)
    timers.append(
        Timer(
            activity.activity_id,
            MessageKind.CHECK_IN_OPEN,
            lead_minutes,
            activity.starts_at,
            max(opens, scheduled_at),
        )
    )
    return timers


def timer_messages(
    timer: Timer, activity: Activity | None, now: datetime, late_after: timedelta
) -> list[Message]:
    """What a due timer sends: nothing for a cancelled activity, a moved start, or an
    activity already over; otherwise a reminder to everyone assigned, or the check-in
    window's opening to those assigned and not yet checked in. Sent later than
    `late_after` past its moment, it says so."""
    if activity is None or activity.cancelled or activity.starts_at != timer.starts_at:
        return []
    if now >= activity.ends_at:
        return []
    recipients = sorted(activity.assigned)
    if timer.kind is MessageKind.CHECK_IN_OPEN:
        recipients = [v for v in recipients if v not in activity.checked_in]
    late = now - timer.due_at
    params = {
        "activity_title": activity.title,
        "starts_at": activity.starts_at.isoformat(),
        "lead_minutes": timer.lead_minutes,
        "late_minutes": int(late.total_seconds() // 60) if late > late_after else 0,
    }
    cause = Cause(timer.timer_id, timer.due_at)
    return addressed(
        recipients,
        timer.kind,
        cause,
        params,
        drive_id=activity.drive_id,
        activity_id=activity.activity_id,
    )


# Timers are filed in buckets of this many seconds, each one document keyed by its start.
BUCKET_SECONDS = 10


def bucket_of(at: datetime) -> str:
    """The bucket a moment falls in, as a sortable key (`20261207T180510`)."""
    at = at.astimezone(UTC)
    return f"{at:%Y%m%dT%H%M}{at.second // BUCKET_SECONDS * BUCKET_SECONDS:02d}"


def bucket_start(bucket: str) -> datetime:
    return datetime.strptime(bucket, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def buckets_from(first: str, up_to: datetime, limit: int) -> list[str]:
    """Buckets from `first` on, up to the one holding `up_to`, at most `limit`."""
    step = timedelta(seconds=BUCKET_SECONDS)
    at, last = bucket_start(first), bucket_start(bucket_of(up_to))
    found: list[str] = []
    while at <= last and len(found) < limit:
        found.append(bucket_of(at))
        at += step
    return found


# --- hours and stars ----------------------------------------------------------------------------------


def hours_approved_message(
    event: ServiceRecordIssued, cause: Cause, activity_title: str | None
) -> Message:
    return Message(
        event.volunteer_id,
        MessageKind.HOURS_APPROVED,
        cause,
        {
            "activity_title": activity_title,
            "service_date": event.service_date.isoformat(),
            "minutes": event.minutes,
        },
        drive_id=event.drive_id,
        activity_id=event.activity_id,
    )


def stars_reached(
    volunteer_id: str,
    minutes_before: int,
    minutes_after: int,
    thresholds_hours: tuple[int, ...],
    at: datetime,
) -> list[Message]:
    """One message per star level newly reached. A level is told once per volunteer,
    whichever record reached it (its cause is the level), even if a correction takes the
    hours below it and a later record above it again."""
    before = star_rating(minutes_before, thresholds_hours)
    after = star_rating(minutes_after, thresholds_hours)
    return [
        Message(
            volunteer_id,
            MessageKind.STAR_REACHED,
            Cause(f"star:{level}", at),
            {"stars": level, "hours": thresholds_hours[level - 1]},
        )
        for level in range(before + 1, after + 1)
    ]


def event_cause(event_id: object, occurred_at: datetime) -> Cause:
    return Cause(str(event_id), occurred_at)
