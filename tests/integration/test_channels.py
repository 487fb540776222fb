"""Webhook channels on the real store, against real HTTP receivers on this machine that
check every signature and refuse replays, one of them failing on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from muster_contracts.events import VolunteerErased
from muster_notify.adapters.channels_store import (
    MongoPreferenceBook,
    MongoPushes,
    MongoSubscriptions,
)
from muster_notify.adapters.store import (
    MongoBroadcasts,
    MongoFacts,
    MongoInboxes,
    MongoTallies,
    MongoTimers,
)
from muster_notify.adapters.webhook_sender import WebhookSender, check_destination
from muster_notify.application.broadcasts import Broadcaster
from muster_notify.application.channels import (
    ChannelDelivery,
    Courier,
    ReminderPlanner,
    Subscription,
)
from muster_notify.application.delivery import LiveFeed
from muster_notify.application.notifier import Notifier
from muster_notify.application.reminders import TimerWalk
from muster_notify.domain.messages import MessageKind
from muster_notify.domain.preferences import Channel, Preferences, QuietHours
from muster_notify.domain.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AllowList,
    DestinationRefusedError,
    verify,
)
from muster_notify.entrypoints.channels_cli import redrive
from muster_runtime.mongo import Database
from tests.integration.test_notify import (
    AREAS,
    BUILDINGS,
    OTHER_STREET,
    START,
    STREET,
    VOLUNTEER,
    Clock,
    Log,
    launched,
    registered,
    scheduled,
)


@dataclass
class Receiver:
    """An organisation's system: verifies each delivery's signature against its clock,
    refuses a delivery id it has accepted (a replay), and fails on purpose while `failing`."""

    secret: str = ""
    failing: bool = False
    clock: Clock = field(default_factory=Clock)
    accepted: Counter[str] = field(default_factory=Counter)
    refused_signatures: int = 0
    replays: int = 0
    bodies: dict[str, bytes] = field(default_factory=dict)

    async def deliver(self, request: Request) -> Response:
        body = await request.body()
        stamp = request.headers.get(TIMESTAMP_HEADER, "")
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not verify(self.secret, stamp, body, given, self.clock.now):
            self.refused_signatures += 1
            return Response(status_code=401)
        if self.failing:
            return Response(status_code=503)
        delivery_id = request.headers[DELIVERY_HEADER]
        if delivery_id in self.accepted:
            self.replays += 1
            return Response(status_code=200)  # already had it: acknowledged, not acted on
        self.accepted[delivery_id] += 1
        self.bodies[delivery_id] = body
        return Response(status_code=204)


@contextlib.asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = Starlette(routes=[Route("/hook", receiver.deliver, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.should_exit = True
        await task


@dataclass
class Channels:
    delivery: ChannelDelivery
    courier: Courier
    notifier: Notifier
    broadcaster: Broadcaster
    pushes: MongoPushes
    preferences: MongoPreferenceBook
    subscriptions: MongoSubscriptions
    notifier_facts: MongoFacts
    walk: TimerWalk


def channels(db: Database, clock: Clock, max_attempts: int = 3) -> Channels:
    facts, inboxes, tallies = MongoFacts(db), MongoInboxes(db), MongoTallies(db)
    preferences, subscriptions, pushes = (
        MongoPreferenceBook(db),
        MongoSubscriptions(db),
        MongoPushes(db),
    )
    delivery = ChannelDelivery(
        inboxes,
        tallies,
        LiveFeed(),
        facts=facts,
        preferences=preferences,
        subscriptions=subscriptions,
        pushes=pushes,
        areas=AREAS,
        clock=clock,
    )
    sender = WebhookSender(subscriptions, AllowList(allow_internal=True), clock=clock)
    courier = Courier(
        pushes,
        sender,
        max_attempts=max_attempts,
        first_retry=timedelta(seconds=10),
        clock=clock,
    )
    broadcaster = Broadcaster(MongoBroadcasts(db), facts, delivery, AREAS, clock=clock)
    notifier = Notifier(
        facts,
        MongoTimers(db),
        delivery,
        broadcaster,
        lead_times=(timedelta(hours=1),),
        star_thresholds=(100,),
        clock=clock,
    )
    walk = TimerWalk(MongoTimers(db), facts, delivery, late_after=timedelta(minutes=1), clock=clock)
    return Channels(
        delivery, courier, notifier, broadcaster, pushes, preferences, subscriptions, facts, walk
    )


async def drain(c: Channels) -> int:
    tried = 0
    while sent := await c.courier.work():
        tried += sent
    return tried


async def test_webhooks_reach_each_subscriber_as_preferences_say_and_retry_dead_letter_redrive(
    db: Database,
) -> None:
    clock = Clock()  # 08:00 UTC: 16:00 in Shanghai, 03:00 in New York
    log = Log(clock)
    c = channels(db, clock)
    good, failing, elsewhere = (
        Receiver(clock=clock),
        Receiver(clock=clock, failing=True),
        Receiver(clock=clock),
    )
    async with (
        serving(good) as good_url,
        serving(failing) as failing_url,
        serving(elsewhere) as elsewhere_url,
    ):
        for subscription_id, area, url, receiver in (
            ("s-good", STREET, good_url, good),
            ("s-failing", STREET, failing_url, failing),
            ("s-elsewhere", OTHER_STREET, elsewhere_url, elsewhere),
        ):
            receiver.secret = f"secret-{subscription_id}"
            await c.subscriptions.add(
                Subscription(subscription_id, area, url, receiver.secret, "organiser-li")
            )
        volunteers = ["v-default", "v-no-webhook", "v-new-york", "v-erased"]
        await c.preferences.keep(
            "v-no-webhook",
            Preferences(off=frozenset({(MessageKind.DRIVE_LAUNCHED, Channel.WEBHOOK)})),
        )
        for quiet_one in ("v-new-york", "v-erased"):
            await c.preferences.keep(
                quiet_one, Preferences(quiet=QuietHours(time_zone="America/New_York"))
            )
        await c.notifier.apply(
            [log(f"volunteer-{v}", registered(v, BUILDINGS[0]), VOLUNTEER) for v in volunteers]
        )
        await c.notifier.apply([log("drive-d-1", launched("d-1"))])
        await c.broadcaster.work()
        await c.broadcaster.work()  # a page sent again (a restart) plans nothing twice

        await drain(c)
        only_default = {f"{m}:webhook:s-good" for m in [await _message_id(c, "v-default")]}
        assert set(good.accepted) == only_default
        assert good.refused_signatures == 0
        assert elsewhere.accepted == Counter()

        # The erased volunteer's delivery, held by quiet hours, is withdrawn.
        await c.notifier.apply(
            [
                log(
                    "volunteer-v-erased",
                    VolunteerErased(volunteer_id="v-erased", requested_by="volunteer"),
                )
            ]
        )

        # The failing receiver: retried with backoff, dead-lettered after 3 tries.
        for _ in range(4):
            clock.now += timedelta(minutes=1)
            await drain(c)
        counts = (await c.pushes.counts("drive:d-1"))["webhook"]
        assert counts["dead"] == 1
        assert counts["failed"] == 3

        # 12:00 UTC: quiet hours end in New York (07:00): the held message goes out.
        clock.now = START.replace(hour=12)
        await drain(c)
        assert len(good.accepted) == 2
        assert not any("v-erased" in body.decode() for body in good.bodies.values())

        # Re-driven once the receiver is fixed: delivered, each once.
        failing.failing = False
        assert len(await c.pushes.dead(Channel.WEBHOOK, 100)) == 1
        assert await redrive(c.pushes, Channel.WEBHOOK, [], clock.now) == 1  # what the CLI does
        clock.now += timedelta(minutes=1)  # New York's, failed once at 12:00, is retried too
        await drain(c)
        assert len(failing.accepted) == 2
        assert max(failing.accepted.values()) == 1
        counts = (await c.pushes.counts("drive:d-1"))["webhook"]
        assert counts == {
            "planned": 6,  # two receivers × (default, New York, erased)
            "sent": 4,
            "failed": 4,
            "dead": 1,
            "withdrawn": 2,
            "redriven": 1,
            "delivered": 0,  # the email outcomes the volunteer service reports
            "no_address": 0,
            "erased": 0,
        }
        # The bodies carry no personal data: no name, phone or address is known to notify.
        sample = next(iter(good.bodies.values())).decode()
        assert '"volunteer_id":"v-default"' in sample or '"volunteer_id":"v-new-york"' in sample


async def _message_id(c: Channels, volunteer_id: str) -> str:
    inbox = await c.delivery._inboxes.read(volunteer_id)
    assert inbox is not None
    return inbox.messages[0].message_id


async def test_a_signature_is_refused_when_replayed_late_or_tampered() -> None:
    now = datetime(2026, 12, 7, 8, tzinfo=UTC)
    from muster_notify.domain.webhooks import signature

    stamp = int(now.timestamp())
    body = b'{"kind":"drive_launched"}'
    given = signature("s3cret", stamp, body)
    assert verify("s3cret", str(stamp), body, given, now)
    assert not verify("s3cret", str(stamp), body + b" ", given, now)
    assert not verify("other", str(stamp), body, given, now)
    assert not verify("s3cret", str(stamp), body, given, now + timedelta(minutes=6))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:18080/hook", "internal_address"),
        ("http://localhost:18080/hook", "internal_address"),
        ("http://[::1]/hook", "internal_address"),
        ("http://10.1.2.3/hook", "internal_address"),
        ("http://192.168.0.10/hook", "internal_address"),
        ("http://169.254.169.254/latest/meta-data", "internal_address"),
        ("http://0.0.0.0:8080/", "internal_address"),
        ("http://[::ffff:127.0.0.1]/", "internal_address"),
        ("http://203.0.113.9:9092/", "own_port"),
        ("http://203.0.113.9:27017/", "own_port"),
        ("http://203.0.113.9:8004/metrics", "own_port"),
        ("ftp://203.0.113.9/", "scheme"),
        ("http://user:pw@203.0.113.9/", "host"),
    ],
)
async def test_the_allow_list_refuses_the_stacks_own_and_internal_addresses(
    url: str, reason: str
) -> None:
    allow = AllowList(own_ports=frozenset({8001, 8002, 8003, 8004, 9092, 27017}))
    with pytest.raises(DestinationRefusedError) as refused:
        await check_destination(allow, url)
    assert refused.value.reason == reason


async def test_development_mode_lets_webhooks_reach_this_machine_but_not_the_stacks_ports() -> None:
    allow = AllowList(own_ports=frozenset({9092}), allow_internal=True)
    await check_destination(allow, "http://127.0.0.1:18080/hook")
    with pytest.raises(DestinationRefusedError):
        await check_destination(allow, "http://127.0.0.1:9092/")


async def test_a_reminder_falling_in_quiet_hours_goes_out_before_they_begin(db: Database) -> None:
    # Scheduled at 16:00 Shanghai for 07:30 the next morning: the 1-hour reminder (06:30)
    # falls in quiet hours, so it goes at 21:59 the evening before, planned when the
    # activity is scheduled; the check-in window (07:15, after 07:00) goes at its moment;
    # the timers' own messages add nothing.
    clock = Clock()
    log = Log(clock)
    c = channels(db, clock)
    receiver = Receiver(clock=clock, secret="s")
    planner = ReminderPlanner(
        c.notifier_facts, c.delivery, lead_times=(timedelta(hours=1),), clock=clock
    )
    async with serving(receiver) as url:
        await c.subscriptions.add(Subscription("s-1", STREET, url, "s", "organiser-li"))
        await c.notifier.apply([log("volunteer-v-1", registered("v-1", BUILDINGS[0]), VOLUNTEER)])
        schedule = [
            log("activity-a-1", scheduled("a-1", timedelta(hours=15, minutes=30), ("v-1",)))
        ]
        await c.notifier.apply(schedule)
        await planner.apply(schedule)

        clock.now = START.replace(hour=13, minute=58)  # 21:58 in Shanghai
        await drain(c)
        assert receiver.accepted == Counter()
        clock.now = START.replace(hour=13, minute=59)
        await drain(c)
        kinds = sorted(orjson.loads(b)["kind"] for b in receiver.bodies.values())
        assert kinds == ["activity_reminder"]

        # The timers fire at their moments: the check-in window's delivery goes; the
        # reminder's is not sent again.
        clock.now = START + timedelta(hours=15, minutes=30)
        await c.walk.tick()
        await drain(c)
        assert len(receiver.accepted) == 2
        assert max(receiver.accepted.values()) == 1
