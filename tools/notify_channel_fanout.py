"""Fan-out beyond the inbox: a drive launched to VOLUNTEERS (default 1,000) who all left
email and webhooks on, with RECEIVERS (default 10) organisations' webhook receivers
subscribed for the district, one of them failing every delivery. On a store of your
choosing (a database of its own, dropped after); no Kafka: notify's email requests are
handed to the volunteer service's outbox straight from notify's event store.

    python -m tools.notify_channel_fanout [VOLUNTEERS] [--receivers 10] [--url mongodb://…]

It runs notify's broadcaster (inbox and planning), its webhook and email couriers, the
receivers (HTTP servers in this process that verify every signature), and the volunteer
service's email outbox sending through a real SMTP server (aiosmtpd, in this process).
It prints, per channel: deliveries, outcomes, the time to the last one settled,
deliveries per second, and the lag from planning to sending (p50/p99).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from muster_auth.keys import LocalKeyFile
from muster_contracts.areas import load_area_tree
from muster_contracts.envelope import Actor, Role
from muster_contracts.events.volunteer import (
    VOLUNTEER_STREAM,
    SealedPersonalData,
    Skill,
    VolunteerCategory,
    VolunteerRegistered,
)
from muster_notify.adapters.channels_store import (
    MongoPreferenceBook,
    MongoPushes,
    MongoSubscriptions,
)
from muster_notify.adapters.email_requests import EmailRequester
from muster_notify.adapters.store import MongoBroadcasts, MongoFacts, MongoInboxes, MongoTallies
from muster_notify.adapters.webhook_sender import WebhookSender
from muster_notify.application.broadcasts import Broadcaster
from muster_notify.application.channels import ChannelDelivery, Courier, Subscription
from muster_notify.application.delivery import LiveFeed
from muster_notify.domain.messages import Cause
from muster_notify.domain.preferences import Channel, Preferences, QuietHours
from muster_notify.domain.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, AllowList, verify
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.mongo import Database, scratch_database
from muster_runtime.ports.event_store import CommandContext
from muster_runtime.projections import ConsumedEvent
from muster_volunteer.adapters.personal_data import PersonalDataVault
from muster_volunteer.adapters.smtp import SmtpMailer
from muster_volunteer.application.email import Courier as EmailCourier
from muster_volunteer.application.email import EmailAddresses, EmailOutbox
from muster_volunteer.application.registration import stream_id
from tools.notify_fanout import _percentile, launched, seed

DISTRICT = "130203"


class Receivers:
    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.bad_signatures = 0
        self.secrets: dict[str, str] = {}

    def app(self, name: str, failing: bool) -> Starlette:
        async def deliver(request: Request) -> Response:
            body = await request.body()
            headers = request.headers
            if not verify(
                self.secrets[name],
                headers.get(TIMESTAMP_HEADER, ""),
                body,
                headers.get(SIGNATURE_HEADER, ""),
                datetime.now(UTC),
            ):
                self.bad_signatures += 1
                return Response(status_code=401)
            if failing:
                self.refused[name] += 1
                return Response(status_code=503)
            self.accepted[name] += 1
            return Response(status_code=204)

        return Starlette(routes=[Route("/hook", deliver, methods=["POST"])])


async def start_receiver(app: Starlette) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.02)
    return server, task, f"http://127.0.0.1:{port}/hook"


class MailBox:
    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.received += 1
        return "250 OK"


async def run(volunteers: int, receivers: int, url: str) -> None:
    async with scratch_database(url, "channels") as db:
        await bench(db, volunteers, receivers)


async def bench(db: Database, volunteers: int, receiver_count: int) -> None:
    ids = await seed(db, volunteers)
    seeding = time.perf_counter()
    areas = load_area_tree()
    facts, inboxes = MongoFacts(db), MongoInboxes(db)
    preferences, subscriptions, pushes = (
        MongoPreferenceBook(db),
        MongoSubscriptions(db),
        MongoPushes(db),
    )
    await pushes.create_indexes()
    store = MongoEventStore(db)
    await store.create_indexes()
    never_quiet = Preferences(quiet=QuietHours(start=QuietHours().start, end=QuietHours().start))
    for volunteer_id in ids:
        await preferences.keep(volunteer_id, never_quiet)

    # The volunteer service's side: each volunteer's address, sealed with their own key.
    keys = Path(tempfile.mkdtemp()) / "kek.json"
    LocalKeyFile.create(keys)
    vault = PersonalDataVault(db, LocalKeyFile(keys))
    addresses = EmailAddresses(store, vault)
    context = CommandContext(Actor(subject="bench", role=Role.VOLUNTEER))
    for volunteer_id in ids:
        await store.append(
            stream_id(volunteer_id),
            VOLUNTEER_STREAM,
            0,
            [
                VolunteerRegistered(
                    volunteer_id=volunteer_id,
                    home_area_id=DISTRICT,
                    categories=(VolunteerCategory.RESIDENT,),
                    skills=(Skill.GENERAL,),
                    # Not opened here: only the email is.
                    personal=SealedPersonalData(key_id=volunteer_id, ciphertext="bench"),
                )
            ],
            context,
        )
        await addresses.give(volunteer_id, f"{volunteer_id}@example.com", True, context)

    print(
        f"seeded {volunteers:,} volunteers with addresses in {time.perf_counter() - seeding:.1f} s"
    )
    hooks = Receivers()
    servers = []
    for n in range(receiver_count):
        name = f"r{n}"
        hooks.secrets[name] = f"secret-{n}"
        server, task, hook_url = await start_receiver(hooks.app(name, failing=n == 0))
        servers.append((server, task))
        await subscriptions.add(
            Subscription(name, DISTRICT, hook_url, hooks.secrets[name], "bench")
        )

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    mailbox = MailBox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()

    delivery = ChannelDelivery(
        inboxes,
        MongoTallies(db),
        LiveFeed(),
        facts=facts,
        preferences=preferences,
        subscriptions=subscriptions,
        pushes=pushes,
        areas=areas,
        enabled=frozenset(Channel),
    )
    webhook_courier = Courier(
        pushes,
        WebhookSender(subscriptions, AllowList(allow_internal=True)),
        max_attempts=3,
        first_retry=timedelta(seconds=0.5),
    )
    email_courier = Courier(pushes, EmailRequester(store, preferences, inboxes))
    outbox = EmailOutbox(
        db,
        store,
        vault,
        SmtpMailer("127.0.0.1", smtp_port, "noreply@muster.local", start_tls=False),
        EmailCourier(in_flight=16),
    )
    await outbox.create_indexes()
    broadcaster = Broadcaster(MongoBroadcasts(db), facts, delivery, areas)

    drive = launched("channels")
    cause = Cause(uuid4().hex, datetime.now(UTC))
    await facts.keep_drive(
        drive.drive_id, {"title": drive.title, "scope_area_id": drive.scope_area_id}
    )
    await broadcaster.start(cause, drive)
    started = time.perf_counter()
    await broadcaster.work()
    planned_s = time.perf_counter() - started
    expected_hooks = volunteers * receiver_count
    print(f"broadcast: inboxes written and deliveries planned in {planned_s:.1f} s")
    report_at = [time.perf_counter() + 10]

    # The couriers and the volunteer service's outbox run side by side, as in the stack.
    async def webhooks_done() -> float:
        while True:
            counts = (await pushes.counts(f"drive:{drive.drive_id}"))["webhook"]
            if counts["sent"] + counts["dead"] >= expected_hooks:
                return time.perf_counter() - started
            if not await webhook_courier.work():
                await asyncio.sleep(0.1)
            if time.perf_counter() > report_at[0]:
                report_at[0] += 10
                print(
                    f"  {time.perf_counter() - started:.0f} s: webhooks {counts}, emails sent {mailbox.received}"
                )

    async def emails_done() -> tuple[float, float]:
        requested_at = 0.0
        position = -1
        offset = 0
        while True:
            counts = (await pushes.counts(f"drive:{drive.drive_id}"))["email"]
            if counts["sent"] >= volunteers and not requested_at:
                requested_at = time.perf_counter() - started
            tried = await email_courier.work()
            consumed = []
            async for envelope in store.read_all(position):
                position = max(position, envelope.position or position)
                offset += 1
                consumed.append(ConsumedEvent(envelope, "bench.notify.events", 0, offset))
            await outbox.apply(consumed)
            sent = await outbox.work()
            if mailbox.received >= volunteers:
                return requested_at, time.perf_counter() - started
            if not tried and not sent:
                await asyncio.sleep(0.05)

    webhooks_s, (requested_s, emailed_s) = await asyncio.gather(webhooks_done(), emails_done())
    lags: dict[str, list[float]] = {"webhook": [], "email": []}
    async for doc in db["pushes"].find({"state": "sent"}):
        lags[doc["channel"]].append((doc["settled_at"] - doc["not_before"]).total_seconds())
    counts = await pushes.counts(f"drive:{drive.drive_id}")
    controller.stop()
    for server, task in servers:
        server.should_exit = True
        await task
    webhook, mail = counts["webhook"], counts["email"]
    print(
        f"broadcast to {volunteers:,} volunteers, inboxes written and deliveries planned in {planned_s:.1f} s"
    )
    print(
        f"webhooks: {expected_hooks:,} deliveries to {receiver_count} receivers (1 failing): "
        f"{webhook['sent']:,} sent, {webhook['dead']:,} dead after 3 tries "
        f"({webhook['failed']:,} failed tries); all settled at {webhooks_s:.1f} s "
        f"({expected_hooks / webhooks_s:,.0f}/s); planned-to-sent p50/p99 "
        f"{_percentile(lags['webhook'], 0.5):.1f}/{_percentile(lags['webhook'], 0.99):.1f} s; "
        f"receivers accepted {sum(hooks.accepted.values()):,}, bad signatures {hooks.bad_signatures}"
    )
    print(
        f"email: {volunteers:,} requested by {requested_s:.1f} s; {mailbox.received:,} accepted by "
        f"the SMTP server by {emailed_s:.1f} s ({volunteers / emailed_s:,.0f}/s end to end); "
        f"requested p50/p99 {_percentile(lags['email'], 0.5):.1f}/"
        f"{_percentile(lags['email'], 0.99):.1f} s after planning; "
        f"planned {mail['planned']:,}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("volunteers", type=int, nargs="?", default=1000)
    parser.add_argument("--receivers", type=int, default=10)
    parser.add_argument("--url", default="mongodb://127.0.0.1:27017/")
    options = parser.parse_args()
    asyncio.run(run(options.volunteers, options.receivers, options.url))
