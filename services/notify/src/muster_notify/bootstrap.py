"""Composition root of the notify service."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from pydantic import Field

from muster_auth.access import Access
from muster_contracts.areas import load_area_tree
from muster_contracts.stars import DEFAULT_STAR_THRESHOLDS_HOURS, StarThresholds
from muster_contracts.topology import CONSUMERS
from muster_http.app import create_app
from muster_http.wiring import wire
from muster_notify.adapters.store import (
    MongoBroadcasts,
    MongoFacts,
    MongoInboxes,
    MongoTallies,
    MongoTimers,
)
from muster_notify.application.broadcasts import Broadcaster
from muster_notify.application.delivery import LiveFeed
from muster_notify.application.inbox import InboxDesk
from muster_notify.application.notifier import Notifier
from muster_notify.application.reminders import TimerWalk
from muster_notify.channels_root import Channels, ChannelSettings
from muster_notify.entrypoints import channels_http, http
from muster_notify.entrypoints.dependencies import NotifyDesks
from muster_runtime.adapters.mongodb.reference_areas import ReferenceAreas
from muster_runtime.logs import configure_logging
from muster_runtime.service import ServiceRuntime
from muster_runtime.volunteer_names import VolunteerNames

CONTEXT = "notify"
CONSUMES = CONSUMERS["notify"]


class NotifySettings(ChannelSettings):
    service_name: str = CONTEXT
    http_port: int = 8004
    reminder_lead_minutes: tuple[int, ...] = Field(
        default=(24 * 60, 60),
        description="How long before an activity starts its volunteers are reminded (JSON list of minutes).",
    )
    late_after_seconds: float = Field(
        default=60.0,
        description="A timer message sent later than this past its moment says it is late.",
    )
    timer_tick_seconds: float = Field(
        default=1.0, description="How often due reminders and check-in openings are looked for."
    )
    stream_poll_seconds: float = Field(
        default=5.0,
        description="How often an open live stream looks for messages another replica delivered.",
    )
    broadcast_areas_per_page: int = Field(
        default=100, description="Areas of a drive's scope read and told per broadcast page."
    )
    star_thresholds_hours: StarThresholds = Field(
        default=DEFAULT_STAR_THRESHOLDS_HOURS,
        description="Cumulative approved hours for one to five stars (JSON list).",
    )
    volunteer_service_url: str = Field(
        default="http://127.0.0.1:8001",
        description="Where reporting and notify ask for display names (with the caller's token).",
    )


def build_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    # Produces its email requests (to the volunteer service, which holds the addresses).
    runtime = ServiceRuntime(settings, produces=CONTEXT, consumes=CONSUMES)
    assert runtime.store is not None
    db = runtime.db
    areas = load_area_tree()
    reference_areas = ReferenceAreas(db, areas)

    facts = MongoFacts(db)
    inboxes = MongoInboxes(db)
    tallies = MongoTallies(db)
    broadcasts = MongoBroadcasts(db)
    timers = MongoTimers(db)
    live = LiveFeed()
    lead_times = tuple(timedelta(minutes=m) for m in settings.reminder_lead_minutes)
    channels = Channels(db, settings, facts, areas, lead_times, runtime.store)
    delivery = channels.delivery(inboxes, tallies, live)
    broadcaster = Broadcaster(
        broadcasts, facts, delivery, areas, areas_per_page=settings.broadcast_areas_per_page
    )
    notifier = Notifier(
        facts,
        timers,
        delivery,
        broadcaster,
        lead_times=lead_times,
        star_thresholds=settings.star_thresholds_hours,
        areas=areas,
    )
    walk = TimerWalk(
        timers, facts, delivery, late_after=timedelta(seconds=settings.late_after_seconds)
    )

    # The tree first (admins' additions), then facts and messages.
    runtime.consume_with(
        reference_areas.apply, notifier.apply, channels.planner.apply, channels.outcomes.apply
    )

    async def walk_timers() -> None:
        await walk.run(settings.timer_tick_seconds)

    runtime.alongside(broadcaster.run, "broadcasts")
    runtime.alongside(walk_timers, "timer-walk")
    channels.run_alongside(runtime)

    async def on_start() -> None:
        await reference_areas.load()
        await channels.begin()
        await walk.begin()

    access = Access(runtime)
    app = create_app(
        runtime,
        access=access,
        title="Muster notify service",
        routers=[http.router, channels_http.router],
        on_start=on_start,
    )
    wire(
        app,
        NotifyDesks(
            areas=areas,
            facts=facts,
            inbox=InboxDesk(inboxes, facts, VolunteerNames(settings.volunteer_service_url)),
            live=live,
            tallies=tallies,
            broadcasts=broadcasts,
            revocations=access.revocations,
            stream_poll_seconds=settings.stream_poll_seconds,
            channels=channels.desks(inboxes),
        ),
    )
    return app
