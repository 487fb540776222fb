"""A district's event log written straight onto the topics, with its ground truth.

For the benchmarks that need many events fast (rebuild rate, query latency at a million
events): the envelopes are the ones the relay publishes (same JSON, key and headers), in
the proportions of a district's year (DESIGN.md: ~140,000 volunteers, ~10,000 activities,
volunteer turn-outs checked in and out, beneficiaries, approved records), but produced
directly rather than through the services.

Recorded continuously, as a live district's log is: registrations at any second of the
month, each activity at its own minute of a day, its check-ins and check-outs spread
around its start and end, its beneficiaries and approval minutes to hours after it. (Each
minute with changes is one more as-of bucket of its cells to write and to read: a log
recorded at a few instants would flatter the as-of figures and the rebuild.)
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from muster_contracts.areas import AreaLevel, AreaTree
from muster_contracts.events import VolunteerCategory
from muster_contracts.events.activities import BeneficiaryGroup
from muster_contracts.topology import event_topic

# Per activity, in a district's year: 10,000 activities and 140,000 registered volunteers.
REGISTRATIONS_PER_ACTIVITY = 14
TURNOUTS = (8, 32)  # volunteers per activity, uniform
# Events of one activity besides its registrations: scheduled, beneficiaries, approved,
# and per turn-out a check-in, a check-out and a service record.
# Activities whose hours are never approved (not held: no records; their beneficiaries
# never count), one in this many, left at random.
UNAPPROVED_ONE_IN = 10
SERVICE_DAYS = 30
FIRST_DAY = date(2026, 11, 1)


@dataclass
class GroundTruth:
    """What every district report must show once all events are counted, by the README's
    rules: activities held are the approved ones, beneficiaries those of approved
    activities; activities scheduled and never approved are not held yet."""

    registered: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    activities: int = 0
    activities_scheduled: int = 0  # not held yet: scheduled, never approved
    turnouts: int = 0
    minutes: int = 0
    beneficiaries: int = 0
    events: dict[str, int] = field(default_factory=dict)

    @property
    def total_events(self) -> int:
        return sum(self.events.values())


@dataclass(frozen=True)
class WireEvent:
    topic_context: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class DistrictLog:
    """Generates the events of a district: registrations and activities with turn-outs."""

    def __init__(self, areas: AreaTree, seed: int = 11) -> None:
        self._random = random.Random(seed)
        self._buildings = [a.id for a in areas.at_level(AreaLevel.BUILDING)]
        self._grids = [a.id for a in areas.at_level(AreaLevel.GRID)]
        self._positions = {"volunteer": 0, "dispatch": 0}
        self.truth = GroundTruth()
        self.served: list[str] = []  # volunteers with a service record, in order
        self._actor = {"subject": "bench-generator", "role": "organiser"}

    def _envelope(
        self,
        context: str,
        stream_id: str,
        stream_type: str,
        version: int,
        kind: str,
        payload: dict[str, Any],
        at: datetime,
    ) -> WireEvent:
        self._positions[context] += 1
        stamp = at.isoformat()
        body = {
            "event_id": str(uuid.UUID(int=self._random.getrandbits(128), version=4)),
            "type": kind,
            "schema_version": 1,
            "stream_id": stream_id,
            "stream_type": stream_type,
            "stream_version": version,
            "position": self._positions[context],
            "occurred_at": stamp,
            "recorded_at": stamp,
            "correlation_id": str(uuid.UUID(int=self._random.getrandbits(128), version=4)),
            "causation_id": None,
            "actor": self._actor,
            "payload": payload,
        }
        self.truth.events[kind] = self.truth.events.get(kind, 0) + 1
        headers = [
            ("event-type", kind.encode()),
            ("schema-version", b"1"),
            ("stream-version", str(version).encode()),
            ("content-type", b"application/json"),
        ]
        return WireEvent(context, stream_id.encode(), orjson.dumps(body), headers)

    def registration(self, at: datetime) -> WireEvent:
        volunteer_id = str(uuid.UUID(int=self._random.getrandbits(128), version=4))
        categories = [self._random.choice(list(VolunteerCategory)).value]
        self.truth.registered += 1
        for c in categories:
            self.truth.categories[c] = self.truth.categories.get(c, 0) + 1
        payload = {
            "volunteer_id": volunteer_id,
            "home_area_id": self._random.choice(self._buildings),
            "categories": categories,
            "skills": ["general"],
            "birth_year": None,
            "employer_unit": None,
            "personal": {"key_id": volunteer_id, "ciphertext": "c2VhbGVkLWJ5LXRoZS1iZW5jaA"},
        }
        return self._envelope(
            "volunteer",
            f"volunteer-{volunteer_id}",
            "volunteer",
            1,
            "volunteer.registered",
            payload,
            at,
        )

    def scheduled(
        self,
        activity_id: str,
        place: str | None,
        starts: datetime,
        volunteers: list[str],
        at: datetime,
    ) -> WireEvent:
        """An activity of three hours scheduled at `place` (None: a grid at random) with
        `volunteers` assigned."""
        place = place or self._random.choice(self._grids)
        ends = starts + timedelta(hours=3)
        return self._envelope(
            "dispatch", f"activity-{activity_id}", "activity", 1, "activity.scheduled",
            {
                "activity_id": activity_id, "drive_id": None, "team_id": None,
                "title": "楼道清理", "place_area_id": place, "latitude": None, "longitude": None,
                "category": "environment", "starts_at": starts.isoformat(),
                "ends_at": ends.isoformat(), "capacity": len(volunteers) + 5,
                "checkin_policy": "assigned_only", "assigned_volunteer_ids": volunteers,
                "checkin_secret": "c2VjcmV0", "checkin_tolerance_minutes": 15,
            },
            at,
        )  # fmt: skip

    def activity(
        self, approved: bool | None = None, volunteers: list[str] | None = None
    ) -> Iterator[WireEvent]:
        """One activity: scheduled, turn-outs checked in and out, beneficiaries, approval
        and records; or, unapproved (`approved` False, or by chance when None), the same
        without approval and records. `volunteers`: who turns out (by default, as many
        new ones as `TURNOUTS` draws)."""
        r = self._random
        if approved is None:
            approved = r.randrange(UNAPPROVED_ONE_IN) != 0
        activity_id = f"act-{uuid.UUID(int=r.getrandbits(128), version=4).hex[:16]}"
        day = FIRST_DAY + timedelta(days=r.randrange(SERVICE_DAYS))
        # Starting 08:00-16:59 local (UTC+8), 00:00-08:59 UTC: never crossing local midnight.
        starts = datetime(day.year, day.month, day.day, tzinfo=UTC)
        starts += timedelta(minutes=r.randrange(9 * 60))
        ends = starts + timedelta(hours=3)
        scheduled_at = starts - timedelta(minutes=r.randrange(30, 24 * 60))
        beneficiaries_at = ends + timedelta(minutes=r.randrange(5, 60))
        approved_at = ends + timedelta(minutes=r.randrange(60, 180))
        place = r.choice(self._grids)
        if volunteers is None:
            volunteers = [
                str(uuid.UUID(int=r.getrandbits(128), version=4))
                for _ in range(r.randint(*TURNOUTS))
            ]
        stream = f"activity-{activity_id}"
        version = 1
        yield self.scheduled(activity_id, place, starts, volunteers, scheduled_at)
        for volunteer_id in volunteers:
            attendance = f"attendance-{activity_id}-{volunteer_id}"
            checked_in = starts + timedelta(seconds=r.randrange(-600, 900))
            checked_out = ends + timedelta(seconds=r.randrange(0, 1200))
            for n, (kind, at) in enumerate(
                (("attendance.checked_in", checked_in), ("attendance.checked_out", checked_out)),
                start=1,
            ):
                yield self._envelope(
                    "volunteer", attendance, "attendance", n, kind,
                    {"activity_id": activity_id, "volunteer_id": volunteer_id, "at": at.isoformat()}
                    | ({"latitude": None, "longitude": None, "proof": "code"} if n == 1 else {}),
                    at,
                )  # fmt: skip
        counts = {g.value: r.randrange(12) for g in BeneficiaryGroup}
        version += 1
        yield self._envelope(
            "dispatch", stream, "activity", version, "activity.beneficiaries_recorded",
            {"activity_id": activity_id, "counts": counts, "reason": None},
            beneficiaries_at,
        )  # fmt: skip
        if not approved:
            self.truth.activities_scheduled += 1
            return
        self.truth.activities += 1
        self.truth.beneficiaries += sum(counts.values())
        version += 1
        yield self._envelope(
            "dispatch", stream, "activity", version, "activity.hours_approved",
            {
                "activity_id": activity_id, "approved_by": "bench-organiser",
                "at": approved_at.isoformat(),
            },
            approved_at,
        )  # fmt: skip
        for n, volunteer_id in enumerate(volunteers):
            minutes = 30 * r.randint(2, 6)
            version += 1
            yield self._envelope(
                "dispatch", stream, "activity", version, "service.record_issued",
                {
                    "activity_id": activity_id, "record_id": f"{activity_id}:{volunteer_id}",
                    "volunteer_id": volunteer_id, "drive_id": None, "team_id": None,
                    "category": "environment", "place_area_id": place,
                    "service_date": day.isoformat(), "minutes": minutes,
                    "approved_by": "bench-organiser",
                },
                approved_at + timedelta(seconds=n),
            )  # fmt: skip
            self.truth.turnouts += 1
            self.truth.minutes += minutes
            self.served.append(volunteer_id)

    def events(self, approximate_total: int) -> Iterator[WireEvent]:
        """About `approximate_total` events: whole activities, registrations between them."""
        month = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC)
        while self.truth.total_events < approximate_total:
            for _ in range(REGISTRATIONS_PER_ACTIVITY):
                at = month + timedelta(seconds=self._random.randrange(SERVICE_DAYS * 86_400))
                yield self.registration(at)
            yield from self.activity()


class LogProducer:
    """A producer of generated events onto `<prefix>.<context>.events`, kept open."""

    def __init__(self, bootstrap: str, prefix: str, *, linger_ms: int = 50) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            linger_ms=linger_ms,
            max_batch_size=512 * 1024,
            acks=1,
            compression_type=None,
        )
        self._topics = {c: event_topic(prefix, c) for c in ("volunteer", "dispatch")}

    async def __aenter__(self) -> LogProducer:
        await self._producer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._producer.stop()

    async def send(self, event: WireEvent) -> asyncio.Future[Any]:
        """Queue `event`; the future resolves once the broker has appended it."""
        sent: asyncio.Future[Any] = await self._producer.send(
            self._topics[event.topic_context], event.value, key=event.key, headers=event.headers
        )
        return sent

    async def append(self, event: WireEvent) -> None:
        """Send `event` alone and wait until the broker has appended it."""
        await (await self.send(event))


async def publish_district(
    bootstrap: str, prefix: str, events: Iterator[WireEvent], *, progress: Any = None
) -> int:
    """Produce the events onto `<prefix>.<context>.events`; returns how many were sent."""
    sent = 0
    async with LogProducer(bootstrap, prefix) as producer:
        pending = []
        for event in events:
            pending.append(await producer.send(event))
            sent += 1
            if len(pending) >= 20_000:
                for future in pending:
                    await future
                pending.clear()
                if progress is not None:
                    progress(sent)
        for future in pending:
            await future
        if progress is not None:
            progress(sent)
    return sent
