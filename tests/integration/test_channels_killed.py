"""Notify's couriers killed at every write, on the real store: after a restart every push
is sent once (email requests reach the real Kafka through the outbox), and the organisers'
counts agree with what the pushes record, whatever write the kill came before.

A killed process is a store whose writes stop at the k-th one: that write and every later
one never happen (what ran in memory in between is lost with the process). Each kill point
runs on a database of its own; the restart is new adapters on the same database, with the
message redelivered (as the broadcaster sends a page again) and the clock past the lease.
Deterministic: no randomness, the clock is the test's.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from aiokafka import AIOKafkaProducer
from starlette.requests import Request
from starlette.responses import Response

from muster_contracts.events.contacts import EmailRequested
from muster_notify.adapters.channels_store import (
    MongoPreferenceBook,
    MongoPushes,
    MongoSubscriptions,
)
from muster_notify.adapters.email_requests import EmailRequester
from muster_notify.adapters.store import MongoInboxes
from muster_notify.adapters.webhook_sender import WebhookSender
from muster_notify.application.channels import ChannelSender, Courier, Push, Subscription
from muster_notify.domain.messages import Cause
from muster_notify.domain.preferences import Channel
from muster_notify.domain.rules import drive_launched_message
from muster_notify.domain.webhooks import DELIVERY_HEADER, AllowList
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.mongo import Database, connect
from muster_runtime.relay import OutboxRelay
from muster_runtime.settings import ServiceSettings
from muster_runtime.topics import ensure_topics
from tests.integration.helpers import read_topic
from tests.integration.test_channels import Receiver, serving
from tests.integration.test_notify import START, STREET, Clock, launched

WRITES = frozenset(
    {
        "insert_one",
        "insert_many",
        "update_one",
        "update_many",
        "replace_one",
        "find_one_and_update",
        "delete_one",
        "delete_many",
        "bulk_write",
    }
)
VOLUNTEERS = ("v-1", "v-2", "v-3")
LEASE = timedelta(seconds=60)


class KilledError(Exception):
    """The process was killed before this write."""


@dataclass
class Process:
    """Counts a process's writes; killed before write number `killed_at` (1-based)."""

    killed_at: int | None = None
    writes: int = 0

    def write(self) -> None:
        if self.killed_at is not None and self.writes + 1 >= self.killed_at:
            raise KilledError
        self.writes += 1


class KillableCollection:
    def __init__(self, real: Any, process: Process) -> None:
        self._real = real
        self._process = process

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if name not in WRITES:
            return attribute

        async def write(*args: Any, **kwargs: Any) -> Any:
            self._process.write()
            return await attribute(*args, **kwargs)

        return write


class KillableDatabase:
    def __init__(self, real: Database, process: Process) -> None:
        self._real = real
        self._process = process

    def __getitem__(self, name: str) -> KillableCollection:
        return KillableCollection(self._real[name], self._process)


@contextlib.asynccontextmanager
async def database(settings: ServiceSettings, name: str) -> AsyncIterator[Database]:
    client = connect(settings.mongo_url)
    try:
        yield client[f"{settings.database_name}_{name}"]
    finally:
        await client.drop_database(f"{settings.database_name}_{name}")
        await client.close()


def pushes_of(drive_id: str, channel: Channel, target: str) -> list[Push]:
    drive = launched(drive_id)
    cause = Cause(f"drive-{drive_id}@1", START)
    return [
        Push(channel, target if channel is Channel.WEBHOOK else v, message, STREET, START)
        for v in VOLUNTEERS
        for message in [drive_launched_message(v, drive, cause)]
    ]


Senders = Callable[[Database], Awaitable[ChannelSender]]


@dataclass
class Run:
    """One kill point's run: the process killed, then the restarted one's adapters."""

    db: Database
    pushes: MongoPushes
    courier: Courier
    writes_before_kill: int


async def killed_then_restarted(
    real: Database,
    killed_at: int | None,
    planned: list[Push],
    sender_on: Senders,
    clock: Clock,
    rounds: int,
) -> Run:
    """Plans `planned` and runs the courier `rounds` times (a minute apart), killed before
    write `killed_at`; then restarts on the same store and tries what is due."""
    clock.now = START
    process = Process(killed_at)
    db = cast(Database, KillableDatabase(real, process))
    pushes = MongoPushes(db)
    courier = Courier(
        pushes, await sender_on(db), lease=LEASE, first_retry=timedelta(seconds=10), clock=clock
    )
    with contextlib.suppress(KilledError):
        await pushes.plan(planned)
        for _ in range(rounds):
            await courier.work()
            clock.now += timedelta(minutes=1)
    # The restart: the message is redelivered and planned again, and a killed process's
    # leases run out.
    pushes = MongoPushes(real)
    sender = await sender_on(real)
    courier = Courier(pushes, sender, lease=LEASE, first_retry=timedelta(seconds=10), clock=clock)
    await pushes.plan(planned)
    clock.now += LEASE * 2
    while await courier.work():
        pass
    return Run(real, pushes, courier, process.writes)


async def drain(courier: Courier, clock: Clock) -> None:
    """Runs the courier until nothing is due, then an hour on, a few times (retries)."""
    for _ in range(4):
        while await courier.work():
            pass
        clock.now += timedelta(hours=1)


async def recorded(db: Database) -> list[dict[str, Any]]:
    return [doc async for doc in db["pushes"].find({})]


# --- counts ---------------------------------------------------------------------------------------


@dataclass
class FlakyReceiver(Receiver):
    """Refuses each delivery's first try (503), accepts the next."""

    tries: Counter[str] = field(default_factory=Counter)

    async def deliver(self, request: Request) -> Response:
        delivery_id = request.headers.get(DELIVERY_HEADER, "")
        self.tries[delivery_id] += 1
        if self.tries[delivery_id] == 1:
            return Response(status_code=503)
        return await super().deliver(request)


async def test_counts_agree_with_the_pushes_whatever_write_the_courier_is_killed_before(
    settings: ServiceSettings,
) -> None:
    clock = Clock()
    receiver = FlakyReceiver(secret="s3cret", clock=clock)
    async with serving(receiver) as url:

        async def webhook_sender(db: Database) -> ChannelSender:
            subscriptions = MongoSubscriptions(db)
            return WebhookSender(subscriptions, AllowList(allow_internal=True), clock=clock)

        async def one(killed_at: int | None) -> int:
            receiver.accepted.clear()
            receiver.tries.clear()
            async with database(settings, f"k{killed_at}") as real:
                await MongoSubscriptions(real).add(
                    Subscription("s-flaky", STREET, url, receiver.secret, "organiser-li")
                )
                planned = pushes_of(f"d-{killed_at}", Channel.WEBHOOK, "s-flaky")
                run = await killed_then_restarted(
                    real, killed_at, planned, webhook_sender, clock, rounds=2
                )
                await drain(run.courier, clock)
                docs = await recorded(real)
                counts = (await run.pushes.counts(f"drive:d-{killed_at}"))["webhook"]
                where = f"killed before write {killed_at}: {counts}"
                # Every push sent, each accepted once by the receiver.
                assert sorted(d["state"] for d in docs) == ["sent"] * 3, where
                assert set(receiver.accepted) == {p.delivery_id for p in planned}, where
                assert max(receiver.accepted.values()) == 1, where
                # The counts are what the pushes record: none lost, none doubled.
                assert counts["planned"] == len(docs) == 3, where
                assert counts["sent"] == 3, where
                assert counts["failed"] == sum(len(d["errors"]) for d in docs), where
                # Each delivery's first try refused, or cut short by the kill.
                assert 3 <= counts["failed"] <= 6, where
                assert counts["dead"] == counts["withdrawn"] == 0, where
                return run.writes_before_kill

        writes = await one(None)  # not killed: how many writes a whole run makes
        assert writes > 10
        for killed_at in range(1, writes + 1):
            await one(killed_at)


# --- email requests -------------------------------------------------------------------------------


async def test_every_email_request_reaches_kafka_once_whatever_write_the_courier_is_killed_before(
    settings: ServiceSettings,
) -> None:
    clock = Clock()
    topic = f"{settings.topic_prefix}.notify.events"
    await ensure_topics(settings.kafka_bootstrap, [topic], partitions=3)
    expected: set[str] = set()

    async def email_requester(db: Database) -> ChannelSender:
        return EmailRequester(MongoEventStore(db), MongoPreferenceBook(db), MongoInboxes(db))

    async def sweep_orphan_markers(db: Database) -> None:
        """A marker whose append was killed before its commit is swept by the relay once
        it is old: as if a few minutes went by before the restart."""
        await db["events_outbox"].update_many(
            {}, {"$set": {"written_at": datetime.now(UTC) - timedelta(minutes=5)}}
        )
        await MongoEventStore(db).unpublished(100)

    async def one(killed_at: int | None) -> int:
        async with database(settings, f"e{killed_at}") as real:
            planned = pushes_of(f"d-{killed_at}", Channel.EMAIL, "")
            run = await killed_then_restarted(
                real, killed_at, planned, email_requester, clock, rounds=1
            )
            # Tried again at the restart, before its marker is old: then swept.
            await sweep_orphan_markers(real)
            await drain(run.courier, clock)
            store = MongoEventStore(real)
            docs = await recorded(real)
            where = f"killed before write {killed_at}: {docs}"
            assert sorted(d["state"] for d in docs) == ["sent"] * 3, where
            # Sent means requested: the request's commit is stored, for the relay.
            for push in planned:
                stream = await store.read_stream(f"email-request-{push.delivery_id}")
                assert stream.version == 1, f"{push.delivery_id} {where}"
            relay = OutboxRelay(
                store,
                lambda: AIOKafkaProducer(
                    bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True
                ),
                topic,
            )
            try:
                while await relay.publish_pending():
                    pass
            finally:
                await relay.close()
            expected.update(p.delivery_id for p in planned)
            return run.writes_before_kill

    writes = await one(None)
    assert writes > 5
    for killed_at in range(1, writes + 1):
        await one(killed_at)

    records = await read_topic(settings.kafka_bootstrap, topic, expected=len(expected))
    requested = Counter(
        str(orjson.loads(r.value)["payload"]["delivery_id"])
        for r in records
        if orjson.loads(r.value)["type"] == EmailRequested.event_type
    )
    assert set(requested) == expected
    assert max(requested.values()) == 1
