"""Fan-out of a drive launched to a whole district, on a store of your choosing (a database
of its own, dropped after; no Kafka): notify's broadcaster, inboxes, timer walk and live
feed as the service wires them, in one process.

    python -m tools.notify_fanout [VOLUNTEERS] [--url mongodb://127.0.0.1:27017/] [--clients 1000]
                                  [--new-only]

It seeds VOLUNTEERS (default 140,000) over the district's buildings, then

1. broadcasts a drive to the district into inboxes that do not exist yet, and
2. broadcasts a second drive into the same, now existing, inboxes;

during each, `--clients` open streams (live-feed subscribers that read their inbox when
woken, as `GET /me/notifications/stream` does; in-process, not HTTP connections) wait
for the message, and reminders fall due every 2 s (each to 5 volunteers). It prints the
time to the last inbox written, inboxes per second, when the streams got the broadcast
(p50/p99/max from its start), the reminders' lag from their moment (p50/p99/max) and the
process's peak memory (RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import time
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.eligibility import VolunteerProfile
from muster_contracts.events import Skill, VolunteerCategory
from muster_contracts.events.drives import DriveLaunched, Eligibility, ServiceCategory
from muster_contracts.events.drives import Role as DriveRole
from muster_notify.adapters.store import (
    MongoBroadcasts,
    MongoFacts,
    MongoInboxes,
    MongoTallies,
    MongoTimers,
)
from muster_notify.application.broadcasts import Broadcaster
from muster_notify.application.delivery import Delivery, LiveFeed
from muster_notify.application.inbox import InboxDesk, Reader
from muster_notify.application.reminders import TimerWalk
from muster_notify.domain.messages import Cause, Language, MessageKind
from muster_notify.domain.rules import Activity, Timer, bucket_of
from muster_runtime.mongo import Database, scratch_database

DISTRICT = "130203"
SEED_CHUNK = 500


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def seed(db: Database, volunteers: int) -> list[str]:
    """Residents documents as the consumer leaves them: volunteers spread over buildings."""
    buildings = [a.id for a in load_area_tree().at_level(AreaLevel.BUILDING)]
    members: dict[str, dict[str, object]] = {b: {} for b in buildings}
    ids = []
    for n in range(volunteers):
        volunteer_id = f"v{n:07d}"
        ids.append(volunteer_id)
        home = buildings[n % len(buildings)]
        profile = VolunteerProfile(
            home_area_id=home,
            categories=(VolunteerCategory.RESIDENT,),
            skills=(Skill.GENERAL,),
            birth_year=1970 + n % 40,
        )
        members[home][volunteer_id] = profile.model_dump(mode="json")
    docs = [{"_id": b, "members": m} for b, m in members.items() if m]
    for start in range(0, len(docs), SEED_CHUNK):
        await db["residents"].insert_many(docs[start : start + SEED_CHUNK])
    return ids


def launched(title: str) -> DriveLaunched:
    now = datetime.now(UTC)
    return DriveLaunched(
        drive_id=uuid4().hex,
        title=title,
        organiser="bench",
        scope_area_id=DISTRICT,
        category=ServiceCategory.ENVIRONMENT,
        roles=(DriveRole(role_id="general", headcount=100),),
        signup_opens_at=now,
        signup_closes_at=now + timedelta(hours=6),
        activity_starts_at=now + timedelta(days=2),
        activity_ends_at=now + timedelta(days=2, hours=3),
        eligibility=Eligibility(),
        team_size_min=4,
        team_size_max=8,
    )


async def one_broadcast(
    db: Database, volunteer_ids: list[str], clients: int, title: str, expected: int
) -> dict[str, float]:
    facts, inboxes = MongoFacts(db), MongoInboxes(db)
    live = LiveFeed()
    delivery = Delivery(inboxes, MongoTallies(db), live)
    broadcasts, timers = MongoBroadcasts(db), MongoTimers(db)
    broadcaster = Broadcaster(broadcasts, facts, delivery, load_area_tree())
    walk = TimerWalk(timers, facts, delivery, late_after=timedelta(minutes=1))
    desk = InboxDesk(inboxes, facts)

    # Reminders due every 2 s from 2 s after the start, each to 5 volunteers.
    start_wall = datetime.now(UTC)
    due_times = [start_wall + timedelta(seconds=2 * (k + 1)) for k in range(60)]
    for k, due in enumerate(due_times):
        activity = Activity(
            activity_id=f"a-{title}-{k}",
            title="提醒",
            starts_at=due + timedelta(hours=1),
            ends_at=due + timedelta(hours=3),
            checkin_opens_at=due + timedelta(minutes=45),
            assigned=frozenset(volunteer_ids[k * 5 : k * 5 + 5]),
        )
        await facts.keep_activity(activity, 1)
        timer = Timer(
            activity.activity_id, MessageKind.ACTIVITY_REMINDER, 60, activity.starts_at, due
        )
        await timers.file([timer], bucket_of(due))
    await timers.advance(bucket_of(start_wall - timedelta(seconds=30)))

    watched = volunteer_ids[:: max(1, len(volunteer_ids) // clients)][:clients]
    received: list[float] = []
    after_write: list[float] = []
    started = time.perf_counter()

    connected = 0
    all_connected = asyncio.Event()

    async def stream(volunteer_id: str) -> None:
        nonlocal connected
        woken = live.subscribe(volunteer_id)
        reader = Reader(volunteer_id, Language.ZH_CN)
        inbox = await inboxes.read(volunteer_id)
        position = len(inbox.messages) if inbox else 0
        connected += 1
        if connected == len(watched):
            all_connected.set()
        try:
            while True:
                await woken.wait()
                woken.clear()
                for message in await desk.after(reader, position):
                    position = int(message["position"])
                    if message["kind"] == MessageKind.DRIVE_LAUNCHED.value:
                        received.append(time.perf_counter() - started)
                        delivered = datetime.fromisoformat(message["delivered_at"])
                        after_write.append((datetime.now(UTC) - delivered).total_seconds())
                        return
        finally:
            live.unsubscribe(volunteer_id, woken)

    streams = [asyncio.create_task(stream(v)) for v in watched]
    await all_connected.wait()  # every stream open before the launch
    started = time.perf_counter()
    drive = launched(title)
    cause = Cause(uuid4().hex, datetime.now(UTC))
    # As the consumer does on `drive.launched`: the drive's facts, then the broadcast due.
    await facts.keep_drive(
        drive.drive_id,
        {
            "title": drive.title,
            "scope_area_id": drive.scope_area_id,
            "broadcast_id": cause.cause_id,
        },
    )
    await broadcaster.start(cause, drive)
    walking = asyncio.create_task(walk.run(1.0))
    await broadcaster.work()
    last_inbox = time.perf_counter() - started
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*streams), 60)
    # The reminders that fell due during the broadcast, and a moment for the last ones.
    await asyncio.sleep(2)
    walking.cancel()
    lags = []
    for k, due in enumerate(due_times):
        if due > datetime.now(UTC):
            break
        inbox = await inboxes.read(volunteer_ids[k * 5])
        for message in inbox.messages if inbox else []:
            if message.activity_id == f"a-{title}-{k}":
                lags.append((message.delivered_at - due).total_seconds())
    job = await broadcasts.of_drive(drive.drive_id)
    told = int(job["told"]) if job else 0
    assert told == expected, f"told {told}, expected {expected}"
    return {
        "last_inbox_s": last_inbox,
        "inboxes_per_s": told / last_inbox,
        "told": told,
        "streams": len(received),
        "stream_p50_s": _percentile(received, 0.5),
        "stream_p99_s": _percentile(received, 0.99),
        "stream_max_s": max(received, default=float("nan")),
        "stream_after_write_p99_s": _percentile(after_write, 0.99),
        "reminders": len(lags),
        "reminder_p50_s": _percentile(lags, 0.5),
        "reminder_p99_s": _percentile(lags, 0.99),
        "reminder_max_s": max(lags, default=float("nan")),
    }


async def main(volunteers: int, url: str, clients: int, new_only: bool) -> None:
    async with scratch_database(url, "fanout") as db:
        seeding = time.perf_counter()
        ids = await seed(db, volunteers)
        print(f"seeded {volunteers:,} volunteers in {time.perf_counter() - seeding:.1f} s")
        phases = (("first", "new inboxes"), ("second", "existing inboxes"))[: 1 if new_only else 2]
        for title, label in phases:
            figures = await one_broadcast(db, ids, clients, title, volunteers)
            print(
                f"{label:>16}: {figures['told']:,} told, last inbox at {figures['last_inbox_s']:.1f} s "
                f"({figures['inboxes_per_s']:,.0f}/s); {figures['streams']} of {clients} streams got it, "
                f"p50/p99/max {figures['stream_p50_s']:.1f}/{figures['stream_p99_s']:.1f}/"
                f"{figures['stream_max_s']:.1f} s from the launch (p99 "
                f"{figures['stream_after_write_p99_s']:.2f} s after its inbox was written); "
                f"{figures['reminders']} reminders due "
                f"during it, lag p50/p99/max {figures['reminder_p50_s']:.2f}/"
                f"{figures['reminder_p99_s']:.2f}/{figures['reminder_max_s']:.2f} s"
            )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory (RSS) of the process: {peak:,.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("volunteers", type=int, nargs="?", default=140_000)
    parser.add_argument("--url", default="mongodb://127.0.0.1:27017/")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--new-only", action="store_true", help="only the first broadcast")
    options = parser.parse_args()
    asyncio.run(main(options.volunteers, options.url, options.clients, options.new_only))
