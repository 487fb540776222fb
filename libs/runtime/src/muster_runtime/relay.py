"""Outbox relay: publishes stored commits to Kafka, at least once, in per-stream order.

Woken by every local append (no sleeping poll on the hot path); a short fallback poll
picks up commits written by other processes or left over from a failed attempt. Kafka
being down never fails a command: the relay backs off and catches up when it returns.

The relay has a producer of its own and replaces it after a failed send: an idempotent
producer whose batches died with the broker keeps sequence numbers the restarted broker
refuses (`OutOfOrderSequenceNumber`), and aiokafka's sender then stops for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from pymongo.errors import PyMongoError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_incrementing

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiokafka import AIOKafkaProducer

    from muster_runtime.ports.event_store import Outbox, StoredCommit

from muster_runtime.metrics import (
    RELAY_DELAY_SECONDS,
    RELAY_PUBLISH_SECONDS,
    RELAY_PUBLISHED,
)
from muster_runtime.tracing import enabled as tracing_enabled
from muster_runtime.tracing import end_spans, kafka_headers, start_publish_span

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0
# Longer than a relay round plus its poll, so a live holder never loses the lease.
LEASE_SECONDS = 10.0
STEP_TIMEOUT = 30.0


def wire_headers(event_type: str, schema_version: int, stream_version: int) -> dict[str, str]:
    """The Kafka headers of every Muster message, whatever its topic (with `traceparent`
    added when the message is traced)."""
    return {
        "event-type": event_type,
        "schema-version": str(schema_version),
        "stream-version": str(stream_version),
        "content-type": "application/json",
    }


def wire_message(commit: StoredCommit, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The Kafka value and headers of one stored event (the envelope as JSON)."""
    body = orjson.dumps({**event, "position": commit["position"]})
    headers = wire_headers(event["type"], event["schema_version"], event["stream_version"])
    return body, headers


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # naive means UTC


def _span_attributes(commit: StoredCommit) -> dict[str, Any]:
    recorded_at = _aware(commit["recorded_at"])
    return {
        "muster.stream_id": commit["stream_id"],
        "muster.event_types": [e["type"] for e in commit["events"]],
        "messaging.batch.message_count": len(commit["events"]),
        "muster.outbox_wait_ms": round((datetime.now(UTC) - recorded_at).total_seconds() * 1000, 1),
    }


class OutboxRelay:
    def __init__(
        self,
        store: Outbox,
        new_producer: Callable[[], AIOKafkaProducer],
        topic: str,
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.5,
    ) -> None:
        self._store = store
        self._new_producer = new_producer
        self._producer: AIOKafkaProducer | None = None
        self._topic = topic
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self.broker_ready = asyncio.Event()
        self.published_total = 0
        self.last_error: str | None = None
        self.stage = "starting"
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._lease_renewed_at = -LEASE_SECONDS

    async def run(self) -> None:
        backoff = 0.1
        await self.broker_ready.wait()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._store.appended.wait(), self._poll_seconds)
            self._store.appended.clear()
            try:
                if not await self._hold_lease():
                    self.stage = "standby (another replica relays)"
                    continue
                # A short batch took everything stored: later appends wake the relay again.
                while await self.publish_pending() >= self._batch_size:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = repr(exc)
                log.warning(
                    "relay: publish failed, retrying",
                    extra={"error": repr(exc), "backoff_s": backoff, "stage": self.stage},
                )
                if self.stage in ("connecting", "sending", "awaiting acks"):
                    await self.close()  # a fresh producer next round: see the module doc
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                self._store.appended.set()
            else:
                backoff = 0.1
                self.last_error = None

    async def _hold_lease(self) -> bool:
        """Renew the lease at most every third of its length (each renewal is a store write)."""
        now = time.monotonic()
        if now - self._lease_renewed_at < LEASE_SECONDS / 3:
            return True
        if await self._store.hold_relay_lease(self.owner, LEASE_SECONDS):
            self._lease_renewed_at = now
            return True
        return False

    async def close(self) -> None:
        """Stop the producer (a new one starts when the relay publishes again)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), STEP_TIMEOUT)

    async def _started_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self.stage = "connecting"
            producer = self._new_producer()
            try:
                await asyncio.wait_for(producer.start(), STEP_TIMEOUT)
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def flush(self) -> None:
        """Publish what is stored, if this relay holds the lease (at shutdown)."""
        if await self._store.hold_relay_lease(self.owner, LEASE_SECONDS):
            await self.publish_pending()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished commits; returns how many were published."""
        self.stage = "reading"
        commits = await asyncio.wait_for(self._store.unpublished(self._batch_size), STEP_TIMEOUT)
        if not commits:
            return 0
        producer = await self._started_producer()
        started = time.perf_counter()
        pending = []
        self.stage = "sending"
        spans = []
        for commit in commits:
            # Continues the trace of the request that appended the commit, if it was traced.
            span = (
                start_publish_span(self._topic, commit.get("trace"), _span_attributes(commit))
                if tracing_enabled()
                else None
            )
            trace_headers = kafka_headers(span) if span else {}
            if span:
                spans.append(span)
            for event in commit["events"]:
                body, headers = wire_message(commit, event)
                headers.update(trace_headers)
                # Sent without waiting: the idempotent producer keeps per-partition order.
                pending.append(
                    await producer.send(
                        self._topic,
                        body,
                        key=commit["stream_id"].encode(),
                        headers=[(name, value.encode()) for name, value in headers.items()],
                    )
                )
        self.stage = "awaiting acks"
        try:
            # Bounded: a send future that never resolves must not stall the relay for good.
            await asyncio.wait_for(asyncio.gather(*pending), STEP_TIMEOUT)
        except BaseException as exc:
            end_spans(spans, exc)
            raise
        end_spans(spans)
        acknowledged = datetime.now(UTC)
        for commit in commits:
            RELAY_DELAY_SECONDS.observe(
                (acknowledged - _aware(commit["recorded_at"])).total_seconds()
            )
        self.stage = "marking"
        # Retried on its own (three tries, 0.5 s then 1 s apart): republishing after a
        # failed mark would send duplicates.
        marking = AsyncRetrying(
            retry=retry_if_exception_type((TimeoutError, PyMongoError)),
            stop=stop_after_attempt(3),
            wait=wait_incrementing(start=0.5, increment=0.5),
            reraise=True,
        )
        async for attempt in marking:
            with attempt:
                await asyncio.wait_for(
                    self._store.mark_published([c["_id"] for c in commits]), STEP_TIMEOUT
                )
        self.stage = "idle"
        RELAY_PUBLISHED.inc(len(pending))
        RELAY_PUBLISH_SECONDS.observe(time.perf_counter() - started)
        self.published_total += len(pending)
        log.debug(
            "relay: published",
            extra={"events": len(pending), "ms": round((time.perf_counter() - started) * 1000, 1)},
        )
        return len(commits)
