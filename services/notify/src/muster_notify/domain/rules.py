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
    TeamFormed,
    TeamLeaderChanged,
    TeamMemberMoved,
    TeamsMerged,
    TeamSplit,
)
from muster_contracts.stars import star_rating
from muster_notify.domain.messages import Cause, Message, MessageKind, addressed

SignUpDecision = (
    SignUpAccepted | SignUpWaitlisted | SignUpPromoted | SignUpDeclined | SignUpWithdrawalRecorded
)
TeamChange = TeamFormed | TeamMemberMoved | TeamLeaderChanged | TeamSplit | TeamsMerged


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


@dataclass(frozen=True)
class Team:
    """A team as notify knows it: who leads, who is in it."""

    team_id: str
    drive_id: str
    leader_id: str
    members: tuple[str, ...] = ()


def team_messages(
    event: TeamChange, cause: Cause, teams: Mapping[str, Team], drive_title: str | None
) -> list[Message]:
    """Who is newly in a team, or has a new leader, is told the team and its leader.

    `teams` holds the teams the event names, as they were before it.
    """

    def told(members: tuple[str, ...] | list[str], team_id: str, leader_id: str) -> list[Message]:
        return [
            Message(
                member,
                MessageKind.TEAM_ASSIGNED,
                cause,
                {
                    "drive_title": drive_title,
                    "team_id": team_id,
                    "leader_id": leader_id,
                    "is_leader": member == leader_id,
                },
                drive_id=event.drive_id,
            )
            for member in dict.fromkeys(members)
        ]

    match event:
        case TeamFormed():
            return told(event.members, event.team_id, event.leader_id)
        case TeamMemberMoved():
            to = teams.get(event.to_team_id)
            return told([event.volunteer_id], event.to_team_id, to.leader_id) if to else []
        case TeamSplit():
            return told(event.moved_members, event.new_team_id, event.new_leader_id)
        case TeamsMerged():
            absorbed = teams.get(event.absorbed_team_id)
            kept = teams.get(event.team_id)
            newcomers = list(absorbed.members) if absorbed else []
            if kept and kept.leader_id != event.leader_id:
                newcomers = [*kept.members, *newcomers]  # the kept team's leader changed too
            return told(newcomers, event.team_id, event.leader_id)
        case TeamLeaderChanged():
            team = teams.get(event.team_id)
            members = list(team.members) if team else [event.leader_id]
            return told(members, event.team_id, event.leader_id)


def evolve_teams(teams: Mapping[str, Team], event: TeamChange) -> dict[str, Team]:
    """The teams the event changes, as they are after it (the others are left out)."""
    match event:
        case TeamFormed():
            return {
                event.team_id: Team(event.team_id, event.drive_id, event.leader_id, event.members)
            }
        case TeamMemberMoved():
            changed: dict[str, Team] = {}
            source, target = teams.get(event.from_team_id), teams.get(event.to_team_id)
            if source:
                left = tuple(m for m in source.members if m != event.volunteer_id)
                changed[source.team_id] = replace(source, members=left)
            if target:
                joined = (*target.members, event.volunteer_id)
                changed[target.team_id] = replace(target, members=tuple(dict.fromkeys(joined)))
            return changed
        case TeamSplit():
            changed = {
                event.new_team_id: Team(
                    event.new_team_id, event.drive_id, event.new_leader_id, event.moved_members
                )
            }
            source = teams.get(event.team_id)
            if source:
                moved = set(event.moved_members)
                left = tuple(m for m in source.members if m not in moved)
                changed[source.team_id] = replace(source, members=left)
            return changed
        case TeamsMerged():
            kept, absorbed = teams.get(event.team_id), teams.get(event.absorbed_team_id)
            members = (*(kept.members if kept else ()), *(absorbed.members if absorbed else ()))
            merged = Team(
                event.team_id, event.drive_id, event.leader_id, tuple(dict.fromkeys(members))
            )
            changed = {event.team_id: merged}
            if absorbed:
                changed[absorbed.team_id] = replace(absorbed, members=())
            return changed
        case TeamLeaderChanged():
            team = teams.get(event.team_id)
            if team is None:
                return {}
            return {team.team_id: replace(team, leader_id=event.leader_id)}


def teams_named(event: TeamChange) -> tuple[str, ...]:
    """The teams an event reads or changes."""
    match event:
        case TeamFormed():
            return (event.team_id,)
        case TeamMemberMoved():
            return (event.from_team_id, event.to_team_id)
        case TeamSplit():
            return (event.team_id, event.new_team_id)
        case TeamsMerged():
            return (event.team_id, event.absorbed_team_id)
        case TeamLeaderChanged():
            return (event.team_id,)


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
