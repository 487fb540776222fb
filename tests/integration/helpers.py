"""Helpers for integration tests: reading topics back and driving the local stack."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from aiokafka import AIOKafkaConsumer

from muster_contracts.envelope import Actor, EventEnvelope, Role
from muster_contracts.events.activities import AttendanceCheckedIn, AttendanceCheckedOut
from muster_contracts.events.registry import DomainEvent
from muster_runtime.adapters.mongodb.counter_cells import CounterCells
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings
from tests.conftest import kafka_bootstrap, mongo_url

STACK = Path(__file__).resolve().parents[2] / "deploy" / "local" / "stack.sh"


async def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[Any]:
    """Read `topic` from the beginning until `expected` records arrived (or time ran out)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 30, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def stack(action: str, component: str) -> None:
    """Stop or start the broker or the store the tests were given, through the project's
    stack script (with the test's environment).

    Refuses, before touching anything, unless the stack script manages exactly what the
    tests talk to and started it itself: with `MUSTER_KAFKA_BOOTSTRAP` or `MUSTER_MONGO_URL`
    pointing elsewhere, `stack.sh down` would stop a component the tests were not given.
    """
    assert action in ("down", "up"), action
    assert component in ("kafka", "ferretdb"), component
    given = kafka_bootstrap() if component == "kafka" else mongo_url()
    managed = _stack("bootstrap").strip() if component == "kafka" else _stack_mongo_url()
    if given.rstrip("/") != managed.rstrip("/"):
        raise RuntimeError(
            f"refusing to {action} {component}: the tests were given {given}, while "
            f"{STACK.name} (MUSTER_STATE_DIR={os.environ.get('MUSTER_STATE_DIR', '.state')}) "
            f"manages {managed}"
        )
    if action == "down" and f"{component} " not in _running_in_stack():
        raise RuntimeError(f"refusing to stop {component}: {STACK.name} did not start it")
    _stack(action, component)


def _stack(*args: str) -> str:
    return subprocess.run(
        ["bash", str(STACK), *args],
        check=True,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
    ).stdout


def _stack_mongo_url() -> str:
    return f"mongodb://127.0.0.1:{os.environ.get('MUSTER_MONGO_PORT', '27017')}/"


def _running_in_stack() -> str:
    """The components `stack.sh status` shows running (started from its state directory)."""
    lines = _stack("status").splitlines()[1:]
    return "".join(f"{line.split()[0]} " for line in lines if line.split()[2] == "running")


class ThingCounter:
    """A projection for tests: every consumed event counts once in a single cell."""

    def __init__(self, db: Database) -> None:
        self.cells = CounterCells(db["thing_counts"])

    async def count(self, events: list[ConsumedEvent]) -> None:
        await self.cells.apply([(e, "total", {"things": 1}, {}) for e in events])

    async def total(self) -> int:
        doc = await self.cells.collection.find_one({"_id": "total"})
        # A cell exists as a stub (no counts yet) between its creation and its first count.
        return int(doc.get("things", 0)) if doc else 0

    async def reached(self, wanted: int) -> bool:
        return await self.total() >= wanted


def counting_consumer(settings: ServiceSettings) -> ServiceRuntime:
    """A service of its own that consumes the `thing` topic (register a handler before start)."""
    return ServiceRuntime(
        settings.model_copy(update={"service_name": "counter"}), consumes=("thing",)
    )


def attendance_event(
    activity_id: str, volunteer_id: str, at: datetime, *, out: bool = False
) -> ConsumedEvent:
    """A volunteer's check-in (version 1 of the attendance stream) or check-out (2) as
    dispatch consumes it."""
    event: AttendanceCheckedIn | AttendanceCheckedOut = (
        AttendanceCheckedOut(activity_id=activity_id, volunteer_id=volunteer_id, at=at)
        if out
        else AttendanceCheckedIn(
            activity_id=activity_id, volunteer_id=volunteer_id, at=at, proof="code"
        )
    )
    version = 2 if out else 1
    envelope = EventEnvelope(
        event_id=uuid4(), type=event.event_type, schema_version=1,
        stream_id=f"attendance-{activity_id}-{volunteer_id}", stream_type="attendance",
        stream_version=version, position=version, occurred_at=at, recorded_at=at,
        correlation_id=uuid4(), actor=Actor(subject=volunteer_id, role=Role.VOLUNTEER),
        payload=event.model_dump(mode="json"),
    )  # fmt: skip
    return ConsumedEvent(envelope, "muster.volunteer.events", 0, version)


def organiser_event(
    stream_id: str, version: int, event: DomainEvent, at: datetime
) -> ConsumedEvent:
    """An organiser's event at `version` of a dispatch stream, as its readers consume it."""
    envelope = EventEnvelope(
        event_id=uuid4(), type=event.event_type, schema_version=event.schema_version,
        stream_id=stream_id, stream_type=event.stream_type, stream_version=version,
        position=version, occurred_at=at, recorded_at=at, correlation_id=uuid4(),
        actor=Actor(subject="organiser-li", role=Role.ORGANISER),
        payload=event.model_dump(mode="json"),
    )  # fmt: skip
    return ConsumedEvent(envelope, "muster.test.dispatch.events", 0, version)
