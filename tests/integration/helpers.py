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
