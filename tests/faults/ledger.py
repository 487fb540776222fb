"""Counting one street's registrations at every stage: stored, published, consumed, reported.

The fault matrix is printed at the end of the run (and written to a file) from these rows.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from muster_contracts.envelope import Role
from muster_contracts.events import VolunteerRegistered
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.mongo import connect
from tests.conftest import kafka_bootstrap, mongo_url
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_register_to_report import auth

PARTITIONS = 3  # of every topic of the system under test (tests/e2e/conftest.py)


@dataclass(frozen=True)
class Ledger:
    stored: int  # registrations in the volunteer service's event store
    published: int  # records on the volunteer topic (at least once: repeats possible)
    published_distinct: int  # distinct events among them
    consumed: int  # records of the volunteer topic the reporting group consumed (all phases)
    lag: int  # records of the volunteer topic it has not consumed yet
    pooled: int  # volunteers in dispatch's own projection
    reported: int  # the street's count in the report


@dataclass(frozen=True)
class FaultRow:
    fault: str
    injected: str
    acknowledged: int
    answered_503: int
    connection_errors: int
    hangs: int
    slowest_answer_s: float
    stored: int
    published: int
    published_distinct: int
    consumed: int
    lag: int
    pooled: int
    reported: int
    converged_s: float


class FaultMatrix:
    def __init__(self, path: Path, seed: int) -> None:
        self.path = path
        self.seed = seed  # every fault's randomness derives from it (seed_for)
        self.rows: list[FaultRow] = []
        self.notes: list[str] = []  # findings printed under the table

    def note(self, line: str) -> None:
        self.notes.append(line)
        self.path.write_text(self.render())

    def seed_for(self, fault: str) -> int:
        """A fault's own seed: the same run seed gives each fault the same draws."""
        return zlib.crc32(f"{self.seed}:{fault}".encode())

    def add(self, row: FaultRow) -> None:
        self.rows.append(row)
        self.path.write_text(self.render())

    def render(self) -> str:
        names = [f.name for f in fields(FaultRow)]
        lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
        for row in self.rows:
            values = asdict(row)
            lines.append(
                "| "
                + " | ".join(
                    f"{v:.1f}" if isinstance(v, float) else str(v) for v in values.values()
                )
                + " |"
            )
        return "\n".join([*lines, *(f"- {n}" for n in self.notes)]) + "\n"


def database(system: RunningSystem, service: str) -> str:
    return next(name for name in system.databases if name.endswith(f"_{service}"))


def street_report(system: RunningSystem, street: str) -> dict[str, dict[str, Any]]:
    """The street's row and its communities' rows: registered and by category, by area."""
    response = httpx.get(
        f"{system.urls['reporting']}/reports/volunteers",
        params={"area_id": street},
        headers=auth(Role.LEADER),
        timeout=10,
    )
    response.raise_for_status()
    body = response.json()
    return {
        row["area_id"]: {"registered": row["registered"], "by_category": row["by_category"]}
        for row in [body["area"], *body["children"]]
        if row["registered"]
    }


def wait_until_reported(
    system: RunningSystem, street: str, expected: dict[str, dict[str, Any]], timeout: float
) -> float:
    """Seconds until the report equals `expected`; fails with both if it never does."""
    started = time.monotonic()
    seen: dict[str, dict[str, Any]] = {}
    while time.monotonic() - started < timeout:
        try:
            seen = street_report(system, street)
        except httpx.HTTPError as exc:
            seen = {"error": {"registered": -1, "by_category": {"": str(exc)}}}
        if seen == expected:
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(
        f"the report of {street} did not converge within {timeout:.0f} s:\n"
        f"expected {expected}\nreported {seen}"
    )


async def count_stages(system: RunningSystem, street: str) -> Ledger:
    client = connect(mongo_url())
    try:
        volunteer_db = client[database(system, "volunteer")]
        ids = {
            str(e.event_id)
            async for e in MongoEventStore(volunteer_db).read_all()
            if e.type == VolunteerRegistered.event_type
            and str(e.payload["home_area_id"]).startswith(street)
        }
        topic = f"{system.topic_prefix}.volunteer.events"
        published = await _published_in(topic, street)
        consumed, lag = await _consumed(topic, f"{system.topic_prefix}.reporting")
    finally:
        await client.close()
    pooled = await count_pooled(system, street)
    reported = street_report(system, street).get(street, {"registered": 0})["registered"]
    return Ledger(
        stored=len(ids),
        published=len(published),
        published_distinct=len(set(published)),
        consumed=consumed,
        lag=lag,
        pooled=pooled,
        reported=reported,
    )


async def _published_in(topic: str, street: str) -> list[str]:
    """Event ids of the street's registrations on `topic`, one per record, to the end."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap(), auto_offset_reset="earliest"
    )
    await consumer.start()
    ids: list[str] = []
    try:
        ends: dict[TopicPartition, int] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                        envelope = orjson.loads(record.value or b"")
                        if str(envelope["payload"].get("home_area_id", "")).startswith(street):
                            ids.append(envelope["event_id"])
            if not ends and consumer.assignment():
                ends = await consumer.end_offsets(list(consumer.assignment()))
            if ends and all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                return ids
        raise AssertionError(f"could not read {topic} to its end within 30 s")
    finally:
        await consumer.stop()


async def _consumed(topic: str, group: str) -> tuple[int, int]:
    """Records of `topic` the group has committed, and how many it has still to consume."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap())
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap())
    await admin.start()
    await consumer.start()
    try:
        committed = {
            tp: meta.offset
            for tp, meta in (await admin.list_consumer_group_offsets(group)).items()
            if tp.topic == topic
        }
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
        await admin.close()
    consumed = sum(max(committed.get(tp, 0), 0) for tp in partitions)
    return consumed, sum(ends.values()) - consumed


async def count_pooled(system: RunningSystem, street: str) -> int:
    """Volunteers of the street in dispatch's own projection of the volunteer topic."""
    client = connect(mongo_url())
    try:
        pool = client[database(system, "dispatch")]["volunteer_pool"]
        return await pool.count_documents({"lineage": street})
    finally:
        await client.close()
