"""Notify on the real store: each volunteer's inbox holds exactly the expected messages,
whatever the redeliveries, restarts and timer walks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Actor, EventEnvelope, Role
from muster_contracts.events import (
    SealedPersonalData,
    Skill,
    VolunteerCategory,
    VolunteerErased,
    VolunteerRegistered,
)
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    AmendedAspect,
    CheckinPolicy,
)
from muster_contracts.events.drives import (
    DriveClosed,
    DriveLaunched,
    Eligibility,
    PromotionReason,
    ServiceCategory,
    SignUpAccepted,
    SignUpPromoted,
    SignUpWaitlisted,
    TeamFormed,
    TeamLeaderChanged,
)
from muster_contracts.events.drives import Role as DriveRole
from muster_contracts.events.registry import DomainEvent
from muster_contracts.events.volunteer import (
    LoginBinding,
    VolunteerLoginBound,
    VolunteerLoginUnbound,
)
from muster_notify.adapters.store import (
    MongoBroadcasts,
    MongoFacts,
    MongoInboxes,
    MongoTallies,
    MongoTimers,
)
from muster_notify.application.broadcasts import Broadcaster, areas_within
from muster_notify.application.delivery import Delivery, LiveFeed
from muster_notify.application.inbox import InboxDesk
from muster_notify.application.notifier import Notifier
from muster_notify.application.reminders import TimerWalk
from muster_notify.domain.messages import Cause, Message, MessageKind
from muster_notify.domain.rules import drive_launched_message
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent
from muster_runtime.volunteer_names import DisplayName, NamesUnavailableError

AREAS = load_area_tree()
STREET, OTHER_STREET = "130203001", "130203002"
BUILDINGS = [a.id for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith(STREET)]
ELSEWHERE = next(a.id for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith(OTHER_STREET))
START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
VOLUNTEER = Actor(subject="v-login", role=Role.VOLUNTEER)
ORGANISER = Actor(subject="organiser-li", role=Role.ORGANISER)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Log:
    """Events as a consumer reads them: envelopes with stream versions and offsets."""

    clock: Clock
    versions: Counter[str] = field(default_factory=Counter)
    offset: int = 0

    def __call__(
        self, stream_id: str, event: DomainEvent, actor: Actor = ORGANISER
    ) -> ConsumedEvent:
        self.versions[stream_id] += 1
        self.offset += 1
        envelope = EventEnvelope(
            event_id=uuid4(),
            type=event.event_type,
            schema_version=event.schema_version,
            stream_id=stream_id,
            stream_type=event.stream_type,
            stream_version=self.versions[stream_id],
            position=self.offset,
            occurred_at=self.clock.now,
            recorded_at=self.clock.now,
            correlation_id=uuid4(),
            actor=actor,
            payload=event.model_dump(mode="json"),
        )
        return ConsumedEvent(envelope, "muster.test.events", 0, self.offset)


@dataclass
class Notify:
    notifier: Notifier
    broadcaster: Broadcaster
    walk: TimerWalk
    inboxes: MongoInboxes
    facts: MongoFacts
    tallies: MongoTallies
    broadcasts: MongoBroadcasts


def notify(db: Database, clock: Clock, areas_per_page: int = 20) -> Notify:
    """A notify process on `db` (a second call: the same service restarted)."""
    facts, inboxes, tallies = MongoFacts(db), MongoInboxes(db), MongoTallies(db)
    broadcasts, timers = MongoBroadcasts(db), MongoTimers(db)
    delivery = Delivery(inboxes, tallies, LiveFeed(), clock)
    broadcaster = Broadcaster(
        broadcasts, facts, delivery, AREAS, areas_per_page=areas_per_page, clock=clock
    )
    notifier = Notifier(
        facts,
        timers,
        delivery,
        broadcaster,
        lead_times=(timedelta(hours=24), timedelta(hours=1)),
        star_thresholds=(100, 300),
        areas=AREAS,
        clock=clock,
    )
    walk = TimerWalk(timers, facts, delivery, late_after=timedelta(minutes=1), clock=clock)
    return Notify(notifier, broadcaster, walk, inboxes, facts, tallies, broadcasts)


def registered(volunteer_id: str, home: str, **changes: object) -> VolunteerRegistered:
    fields: dict[str, object] = {
        "volunteer_id": volunteer_id,
        "home_area_id": home,
        "categories": (VolunteerCategory.RESIDENT,),
        "skills": (Skill.GENERAL,),
        "birth_year": 1985,
        "personal": SealedPersonalData(key_id="k", ciphertext="sealed"),
    }
    return VolunteerRegistered.model_validate(fields | changes)


def launched(drive_id: str, **changes: object) -> DriveLaunched:
    fields: dict[str, object] = {
        "drive_id": drive_id,
        "title": "楼道清理",
        "organiser": "organiser-li",
        "scope_area_id": STREET,
        "category": ServiceCategory.ENVIRONMENT,
        "roles": (DriveRole(role_id="general", headcount=1),),
        "signup_opens_at": START,
        "signup_closes_at": START + timedelta(days=1),
        "activity_starts_at": START + timedelta(days=2),
        "activity_ends_at": START + timedelta(days=2, hours=3),
        "eligibility": Eligibility(),
        "team_size_min": 2,
        "team_size_max": 8,
    }
    return DriveLaunched.model_validate(fields | changes)


def scheduled(
    activity_id: str, starts_in: timedelta, assigned: tuple[str, ...]
) -> ActivityScheduled:
    return ActivityScheduled(
        activity_id=activity_id,
        drive_id="d-1",
        title="为老服务",
        place_area_id=BUILDINGS[0],
        category="elderly_care",
        starts_at=START + starts_in,
        ends_at=START + starts_in + timedelta(hours=3),
        capacity=10,
        checkin_policy=CheckinPolicy.ASSIGNED_ONLY,
        assigned_volunteer_ids=assigned,
        checkin_secret="c2VjcmV0",
        checkin_tolerance_minutes=15,
    )


async def kinds_of(n: Notify, volunteer_id: str) -> list[str]:
    inbox = await n.inboxes.read(volunteer_id)
    return [m.kind for m in inbox.messages] if inbox else []


async def test_a_broadcast_reaches_exactly_the_volunteers_it_fits_once_whatever_the_redeliveries(
    db: Database,
) -> None:
    clock = Clock()
    log = Log(clock)
    # 30 volunteers in the street's buildings, one of them a first-aider; 3 elsewhere.
    inside = [f"v-in-{i:02d}" for i in range(30)]
    events = [
        log(f"volunteer-{v}", registered(v, BUILDINGS[i % len(BUILDINGS)]), VOLUNTEER)
        for i, v in enumerate(inside)
    ]
    events += [log(f"volunteer-v-out-{i}", registered(f"v-out-{i}", ELSEWHERE)) for i in range(3)]
    medic = registered("v-medic", BUILDINGS[-1], skills=(Skill.FIRST_AID,))
    events.append(log("volunteer-v-medic", medic))
    general = log("drive-d-1", launched("d-1"))
    first_aid = log(
        "drive-d-2",
        launched("d-2", roles=(DriveRole(role_id="medic", skill=Skill.FIRST_AID, headcount=1),)),
    )
    first = notify(db, clock, areas_per_page=3)
    await first.notifier.apply([*events, general, first_aid])
    assert len(await first.broadcasts.unfinished()) == 2

    # Redelivered in full to a restarted process, which finishes both broadcasts.
    second = notify(db, clock, areas_per_page=3)
    await second.notifier.apply([*events, general, first_aid])
    pages = await second.broadcaster.work()
    pages_again = await notify(db, clock).broadcaster.work()

    assert pages > 2
    assert pages_again == 0
    for volunteer_id in [*inside, "v-medic"]:
        expected = ["drive_launched"] + (["drive_launched"] if volunteer_id == "v-medic" else [])
        assert await kinds_of(second, volunteer_id) == expected, volunteer_id
    for i in range(3):
        assert await kinds_of(second, f"v-out-{i}") == []
    general_job = await second.broadcasts.of_drive("d-1")
    first_aid_job = await second.broadcasts.of_drive("d-2")
    assert general_job is not None
    assert first_aid_job is not None
    assert (general_job["told"], general_job["done"]) == (31, True)
    assert (first_aid_job["told"], first_aid_job["done"]) == (1, True)


async def test_a_broadcast_killed_mid_way_resumes_and_counts_each_volunteer_once(
    db: Database,
) -> None:
    clock = Clock()
    log = Log(clock)
    inside = [f"v-{i:02d}" for i in range(40)]
    events = [
        log(f"volunteer-{v}", registered(v, BUILDINGS[i % len(BUILDINGS)]))
        for i, v in enumerate(inside)
    ]
    events.append(log("drive-d-1", launched("d-1")))
    crashing = notify(db, clock, areas_per_page=2)
    await crashing.notifier.apply(events)
    [job] = await crashing.broadcasts.unfinished()
    # Killed after writing a page's inboxes but before recording the page as done.
    launched_event = launched("d-1")
    cause_id = str(events[-1].envelope.event_id)
    first_page = areas_within(AREAS, STREET)[:2]
    residents = await crashing.facts.residents(first_page)
    cause = Cause(cause_id, events[-1].envelope.occurred_at)
    await crashing.inboxes.deliver(
        [drive_launched_message(v, launched_event, cause) for v, _ in residents], clock.now
    )

    restarted = notify(db, clock, areas_per_page=2)
    await restarted.broadcaster.work()

    for volunteer_id in inside:
        assert await kinds_of(restarted, volunteer_id) == ["drive_launched"], volunteer_id
    done = await restarted.broadcasts.of_drive("d-1")
    assert done is not None
    assert (done["told"], done["done"]) == (40, True)
    assert job["cursor"] == 0


async def test_sign_up_decisions_and_a_promotion_are_told_once_each(db: Database) -> None:
    clock = Clock()
    log = Log(clock)
    known = {"home_area_id": BUILDINGS[0], "skills": (Skill.GENERAL,), "is_party_member": False}
    sign_up = {"drive_id": "d-1", "role_id": "general"}
    events = [
        log("volunteer-v-1", registered("v-1", BUILDINGS[0]), VOLUNTEER),
        log("volunteer-v-2", registered("v-2", BUILDINGS[0])),
        log("drive-d-1", launched("d-1")),
        log("drive-d-1", SignUpAccepted(**sign_up, **known, sign_up_id="s-1", volunteer_id="v-1")),
        log(
            "drive-d-1",
            SignUpWaitlisted(**sign_up, **known, sign_up_id="s-2", volunteer_id="v-2", position=1),
        ),
        log(
            "drive-d-1",
            SignUpPromoted(
                **sign_up, sign_up_id="s-2", volunteer_id="v-2", reason=PromotionReason.WITHDRAWAL
            ),
        ),
    ]
    n = notify(db, clock)

    await n.notifier.apply(events)
    await n.notifier.apply(events[3:])  # redelivered
    await notify(db, clock).notifier.apply(events)  # replayed after a restart

    assert await kinds_of(n, "v-1") == ["sign_up_accepted"]
    assert await kinds_of(n, "v-2") == ["sign_up_waitlisted", "sign_up_promoted"]
    inbox = await n.inboxes.read("v-2")
    assert inbox is not None
    assert inbox.messages[0].params["position"] == 1
    assert inbox.unread == 2
    assert await n.facts.volunteer_of("v-login") == "v-1"
    assert await n.tallies.told("drive:d-1") == {
        "sign_up_accepted": 1,
        "sign_up_waitlisted": 1,
        "sign_up_promoted": 1,
    }


async def test_a_reminder_comes_due_once_late_after_an_outage_and_never_for_a_cancelled_activity(
    db: Database,
) -> None:
    clock = Clock()
    log = Log(clock)
    n = notify(db, clock)
    await n.walk.begin()
    held = log("activity-a-1", scheduled("a-1", timedelta(hours=2), ("v-1", "v-2")))
    called_off = log("activity-a-2", scheduled("a-2", timedelta(hours=2), ("v-1",)))
    await n.notifier.apply([held, called_off])
    await n.notifier.apply([held, called_off])  # redelivered: the timers are filed once

    clock.now = START + timedelta(minutes=30)
    await n.walk.tick()
    assert await kinds_of(n, "v-1") == []

    cancel = ActivityCancelled(activity_id="a-2", reason="暴雨", affected_volunteer_ids=("v-1",))
    await n.notifier.apply([log("activity-a-2", cancel)])
    clock.now = START + timedelta(hours=1)  # the 1-hour reminders fall due
    assert await n.walk.tick() == 2
    assert await n.walk.tick() == 0
    assert await notify(db, clock).walk.tick() == 0  # restarted: nothing fires twice

    assert await kinds_of(n, "v-1") == ["activity_cancelled", "activity_reminder"]
    assert await kinds_of(n, "v-2") == ["activity_reminder"]
    inbox = await n.inboxes.read("v-2")
    assert inbox is not None
    assert inbox.messages[0].params["late_minutes"] == 0

    # Down when the check-in window opened (15 minutes before the start): sent late, saying so.
    clock.now = START + timedelta(hours=1, minutes=55)
    restarted = notify(db, clock)
    await restarted.walk.tick()
    assert await kinds_of(restarted, "v-2") == ["activity_reminder", "check_in_open"]
    inbox = await restarted.inboxes.read("v-2")
    assert inbox is not None
    assert inbox.messages[1].params["late_minutes"] == 10
    assert await restarted.tallies.told("activity:a-1") == {
        "activity_reminder": 2,
        "check_in_open": 2,
    }
    assert await restarted.tallies.told("activity:a-2") == {"activity_cancelled": 1}


async def test_an_erased_volunteer_gets_no_more_messages_and_their_login_is_unbound(
    db: Database,
) -> None:
    clock = Clock()
    log = Log(clock)
    n = notify(db, clock)
    await n.notifier.apply(
        [
            log("volunteer-v-1", registered("v-1", BUILDINGS[0]), VOLUNTEER),
            log("volunteer-v-1", VolunteerErased(volunteer_id="v-1", requested_by="volunteer")),
            log("drive-d-1", launched("d-1")),
        ]
    )
    await n.broadcaster.work()

    assert await n.inboxes.read("v-1") is None
    assert await n.facts.volunteer_of("v-login") is None
    job = await n.broadcasts.of_drive("d-1")
    assert job is not None
    assert job["told"] == 0


@pytest.mark.parametrize("page", [1, 7])
async def test_inbox_deliveries_of_a_page_write_each_message_once(db: Database, page: int) -> None:
    inboxes = MongoInboxes(db)
    cause = Cause("e-0", START)  # the first message again
    messages = [
        Message(f"v-{i % page}", MessageKind.DRIVE_LAUNCHED, Cause(f"e-{i}", START), {})
        for i in range(page * 2)
    ] + [Message("v-0", MessageKind.DRIVE_LAUNCHED, cause, {})]

    first = await inboxes.deliver(messages, START)
    again = await inboxes.deliver(messages, START)

    assert [o.value for o in first].count("delivered") == page * 2
    assert first[-1].value == "duplicate"  # the same message twice in one call
    assert {o.value for o in again} == {"duplicate"}


async def test_a_claimed_invitation_binds_the_login_and_an_unbinding_ends_it(db: Database) -> None:
    clock = Clock()
    log = Log(clock)
    n = notify(db, clock)
    claimed = VolunteerLoginBound(
        volunteer_id="v-9", subject="claimer", binding=LoginBinding.INVITATION, invitation_id="i-1"
    )
    # Registered by an organiser: no login speaks for the volunteer until they claim.
    await n.notifier.apply([log("volunteer-v-9", registered("v-9", BUILDINGS[0]))])
    assert await n.facts.volunteer_of("organiser-li") is None

    await n.notifier.apply([log("volunteer-v-9", claimed, VOLUNTEER)])
    assert await n.facts.volunteer_of("claimer") == "v-9"

    unbound = VolunteerLoginUnbound(volunteer_id="v-9", subject="claimer", reason="erased")
    await n.notifier.apply([log("volunteer-v-9", unbound)])
    assert await n.facts.volunteer_of("claimer") is None


async def test_a_drive_closed_or_past_its_sign_up_window_is_broadcast_to_no_one(
    db: Database,
) -> None:
    clock = Clock()
    log = Log(clock)
    n = notify(db, clock)
    await n.notifier.apply(
        [
            log("volunteer-v-1", registered("v-1", BUILDINGS[0])),
            log("drive-d-1", launched("d-1")),
            log("drive-d-1", DriveClosed(drive_id="d-1", reason="filled")),
            log("drive-d-2", launched("d-2")),
        ]
    )
    clock.now = START + timedelta(days=1)  # d-2's sign-up window has just closed

    await n.broadcaster.work()

    assert await kinds_of(n, "v-1") == []
    for drive_id in ("d-1", "d-2"):
        job = await n.broadcasts.of_drive(drive_id)
        assert job is not None
        assert (job["told"], job["done"]) == (0, True)


async def test_an_amended_activity_is_told_once_and_its_reminders_follow_the_new_start(
    db: Database,
) -> None:
    clock = Clock()
    log = Log(clock)
    n = notify(db, clock)
    await n.walk.begin()
    await n.notifier.apply([log("activity-a-1", scheduled("a-1", timedelta(hours=2), ("v-1",)))])
    moved = ActivityAmended(
        activity_id="a-1",
        starts_at=START + timedelta(hours=3),
        ends_at=START + timedelta(hours=5),
        place_area_id=BUILDINGS[1],
        capacity=10,
        changed=(AmendedAspect.TIME, AmendedAspect.PLACE),
        affected_volunteer_ids=("v-1",),
    )
    amended = log("activity-a-1", moved)
    await n.notifier.apply([amended])
    await n.notifier.apply([amended])  # redelivered: told once, timers filed once
    assert await kinds_of(n, "v-1") == ["activity_amended"]
    inbox = await n.inboxes.read("v-1")
    assert inbox is not None
    assert inbox.messages[0].params["was_starts_at"] == (START + timedelta(hours=2)).isoformat()
    assert inbox.messages[0].params["place"] == " ".join(
        a.name for a in AREAS.path(BUILDINGS[1])[2:]
    )

    clock.now = START + timedelta(hours=1)  # the old start's 1-hour reminder: nothing
    await n.walk.tick()
    assert await kinds_of(n, "v-1") == ["activity_amended"]
    clock.now = START + timedelta(hours=2)  # the new start's (an hour of buckets later)
    await n.walk.tick()
    await n.walk.tick()
    assert await kinds_of(n, "v-1") == ["activity_amended", "activity_reminder"]
    known = await n.facts.activity("a-1")
    assert known is not None
    assert (known.starts_at, known.place_area_id) == (START + timedelta(hours=3), BUILDINGS[1])
    assert known.checkin_opens_at == START + timedelta(hours=3) - timedelta(minutes=15)


@dataclass
class Names:
    """The volunteer service as the inbox asks it: names by the token that asks."""

    shown: dict[str, dict[str, DisplayName]]
    down: bool = False
    asked: list[str] = field(default_factory=list)

    async def names(self, volunteer_ids: list[str], authorization: str) -> dict[str, DisplayName]:
        self.asked.append(authorization)
        if self.down:
            raise NamesUnavailableError("volunteer service unreachable")
        known = self.shown.get(authorization, {})
        return {
            v: known.get(v) or DisplayName(volunteer_id=v, status="unknown", name=None)
            for v in volunteer_ids
        }


async def test_a_team_message_shows_the_leaders_name_as_the_reader_may_read_it_never_storing_it(
    db: Database,
) -> None:
    clock = Clock()
    log = Log(clock)
    n = notify(db, clock)
    await n.notifier.apply(
        [
            log("volunteer-v-1", registered("v-1", BUILDINGS[0]), VOLUNTEER),
            log(
                "volunteer-v-1",
                VolunteerLoginBound(
                    volunteer_id="v-1", subject="login-1", binding=LoginBinding.REGISTRATION
                ),
                VOLUNTEER,
            ),
            log(
                "drive-d-1",
                TeamFormed(
                    drive_id="d-1",
                    team_id="t-1",
                    formation=1,
                    leader_id="v-9",
                    members=("v-1", "v-9"),
                ),
            ),
            log(
                "drive-d-1",
                TeamLeaderChanged(
                    drive_id="d-1", team_id="t-1", leader_id="v-8", previous_leader_id="v-9"
                ),
            ),
        ]
    )
    names = Names(
        {
            "Bearer one": {
                "v-9": DisplayName(volunteer_id="v-9", status="active", name="王芳"),
                "v-8": DisplayName(volunteer_id="v-8", status="erased", name=None),
            }
        }
    )
    desk = InboxDesk(n.inboxes, n.facts, names)

    reader = await desk.reader("login-1", None, "Bearer one")
    page = await desk.page(reader, before=None, limit=10, unread_only=False)
    bodies = [m["body"] for m in reversed(page["messages"])]
    assert bodies == [
        "您已编入服务队 t-1，队长：王芳。",
        "您已编入服务队 t-1，队长：（已注销的志愿者）。",
    ]
    assert names.asked == ["Bearer one"]  # one question per page, with the reader's token
    english = await desk.after(await desk.reader("login-1", "en", "Bearer one"), 0)
    assert english[0]["body"] == "You are in team t-1; its leader: 王芳."
    # Another token may not read the name: the id, as stored. So without an answer.
    other = await desk.page(
        await desk.reader("login-1", None, "Bearer other"), before=None, limit=10, unread_only=False
    )
    assert other["messages"][-1]["body"] == "您已编入服务队 t-1，队长：v-9。"
    names.down = True
    assert (await desk.after(reader, 0))[0]["body"] == "您已编入服务队 t-1，队长：v-9。"
    # The name is shown, never kept.
    inbox = await n.inboxes.read("v-1")
    assert inbox is not None
    assert "王芳" not in repr(inbox)
    assert all("leader_name" not in m.params for m in inbox.messages)
