"""Helpers for integration tests: reading topics back and driving the local stack."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient, monitoring

from muster_runtime.mongo import Database, Document
from muster_runtime.projections import ConsumedEvent, CounterCells
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings

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


def stack(*args: str) -> None:
    """Run the project's stack script (e.g. stop and start Kafka) with the test's env."""
    subprocess.run(
        ["bash", str(STACK), *args], check=True, env=os.environ.copy(), capture_output=True
    )


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


# Commands that read or write documents (not handshakes, pings or cursor housekeeping).
DOCUMENT_COMMANDS = {"find", "insert", "update", "delete", "findAndModify", "aggregate", "count"}


class StoreCommands(monitoring.CommandListener):
    """The document commands a client sent, as (command, collection), in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in DOCUMENT_COMMANDS:
            self.sent.append((event.command_name, str(event.command.get(event.command_name))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def take(self) -> list[tuple[str, str]]:
        """What was sent since the last `take`."""
        sent, self.sent = self.sent, []
        return sent


def counted_client(url: str, commands: StoreCommands) -> AsyncMongoClient[Document]:
    """A client of the store (as `muster_runtime.mongo.connect` makes) that reports to
    `commands`."""
    return AsyncMongoClient(
        url, tz_aware=True, uuidRepresentation="standard", event_listeners=[commands]
    )
