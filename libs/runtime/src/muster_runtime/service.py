"""One service process: store, broker, outbox relay and projections, started and stopped
together in the FastAPI lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from tenacity import AsyncRetrying, RetryCallState, wait_exponential

from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.adapters.mongodb.profile import DocumentStoreOptions
from muster_runtime.adapters.mongodb.seen_events import RepeatFilter
from muster_runtime.consumer import (
    EventHandler,
    PoisonMessage,
    Stage,
    apply_or_set_aside,
    apply_stages,
    decode_records,
)
from muster_runtime.lag import ConsumerLag
from muster_runtime.logs import CORRELATION_ID
from muster_runtime.metrics import (
    DEAD_LETTERS,
    EVENTS_CONSUMED,
    PROJECTION_APPLY_SECONDS,
    PROJECTION_FAILURES,
    PROJECTION_SECONDS,
    RELAY_BACKLOG,
    RELAY_OLDEST_SECONDS,
)
from muster_runtime.mongo import Database, connect, ping
from muster_runtime.projections import ConsumedEvent, batch_offsets
from muster_runtime.relay import OutboxRelay
from muster_runtime.settings import ServiceSettings
from muster_runtime.topics import dead_letter_topic, ensure_topics, event_topic
from muster_runtime.tracing import (
    BatchSpans,
    configure_tracing,
    record_headers,
    shutdown_tracing,
)

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0


def _broker_unreachable(attempt: RetryCallState) -> None:
    error = attempt.outcome.exception() if attempt.outcome else None
    backoff = attempt.next_action.sleep if attempt.next_action else None
    log.warning("kafka not reachable yet", extra={"error": repr(error), "backoff_s": backoff})


async def _no_body(_: Any) -> None:
    # Handlers read the raw records; faststream must not try to JSON-decode poison.
    return None


def _projection_name(handler: EventHandler) -> str:
    owner = getattr(handler, "__self__", None)
    return type(owner).__name__ if owner is not None else handler.__name__


def _record_attributes(record: Any) -> dict[str, Any]:
    headers = record_headers(record)
    return {
        "messaging.kafka.destination.partition": record.partition,
        "messaging.kafka.message.offset": record.offset,
        "muster.stream_id": (record.key or b"").decode("utf-8", "replace"),
        "muster.event_type": headers.get("event-type", ""),
    }


def consumer_group(settings: ServiceSettings) -> str:
    """One consumer group per consuming service."""
    return f"{settings.topic_prefix}.{settings.service_name}"


class ServiceRuntime:
    """Wires the shared machinery for one bounded context.

    Args:
        settings: the process settings.
        produces: the context whose event topic this service writes (it owns an event store).
        consumes: contexts whose event topics this service reads, in one consumer group.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        produces: str | None = None,
        consumes: tuple[str, ...] = (),
    ) -> None:
        settings.refuse_insecure_secrets()
        self.settings = settings
        configure_tracing(settings)
        self.client = connect(settings.mongo_url, settings.mongo_max_pool)
        self.db: Database = self.client[settings.database_name]
        producer_options: dict[str, Any] = {
            "enable_idempotence": True,
            "acks": "all",
            "linger_ms": 2,
            "request_timeout_ms": 15000,
            "client_id": f"muster-{settings.service_name}",
        }
        # A list: given "a:9092,b:9092" as one string, FastStream would try it as one host.
        self.broker = KafkaBroker(settings.kafka_brokers, logger=None, **producer_options)
        self.topic = event_topic(settings.topic_prefix, produces) if produces else None
        self.store_options = DocumentStoreOptions.of(settings.store_profile)
        self.store = MongoEventStore(self.db, options=self.store_options) if produces else None
        self.relay = (
            OutboxRelay(
                self.store,
                lambda: AIOKafkaProducer(
                    bootstrap_servers=settings.kafka_bootstrap, **producer_options
                ),
                self.topic,
                batch_size=settings.relay_batch_size,
                poll_seconds=settings.relay_poll_seconds,
            )
            if self.store and self.topic
            else None
        )
        self.consumed_topics = [event_topic(settings.topic_prefix, c) for c in consumes]
        self.dead_letters = dead_letter_topic(settings.topic_prefix, settings.service_name)
        self.broker_ready = asyncio.Event()
        self.consumed_total = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._periodic: list[tuple[float, Callable[[], Awaitable[None]], str]] = []
        self._alongside: list[tuple[Callable[[], Coroutine[Any, Any, None]], str]] = []
        self._connected: list[tuple[Callable[[], Coroutine[Any, Any, None]], str]] = []
        self._their_topics: list[str] = []
        self._checks: dict[str, Callable[[], str]] = {}
        self.lag = ConsumerLag(
            settings.kafka_bootstrap, consumer_group(settings), self.consumed_topics
        )
        if self.store:
            self.every(settings.metrics_poll_seconds, self._measure_backlog, "relay-backlog")
        if self.consumed_topics:
            self.every(settings.metrics_poll_seconds, self._measure_lag, "consumer-lag")

    def every(self, seconds: float, job: Callable[[], Awaitable[None]], name: str) -> None:
        """Run `job` periodically while the service runs (register before start)."""
        self._periodic.append((seconds, job, name))

    def alongside(self, job: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        """Run `job` while the service runs, cancelled when it stops (register before
        start); it must handle its own failures."""
        self._alongside.append((job, name))

    def once_connected(
        self,
        job: Callable[[], Coroutine[Any, Any, None]],
        name: str,
        *,
        topics: Sequence[str] = (),
    ) -> None:
        """Create `topics` with the service's own, and run `job` once the broker is
        connected, cancelled when the service stops (register before start; e.g. the
        revocation feed of `muster_auth`)."""
        self._their_topics.extend(topics)
        self._connected.append((job, name))

    def ready_when(self, check: str, status: Callable[[], str]) -> None:
        """Report `status()` as `check` in the readiness answer; the service is ready only
        while it says "ok" (register before start)."""
        self._checks[check] = status

    async def _run_periodic(
        self, seconds: float, job: Callable[[], Awaitable[None]], name: str
    ) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                log.exception("periodic job failed", extra={"job": name})

    def consume_with(self, *projections: Stage) -> None:
        """Apply each consumed batch with `projections`, in order (register before start); a
        tuple of projections of independent read models is applied concurrently.

        Each is traced as `project <its class>` under every consumed message's span.
        """
        if not self.consumed_topics:
            raise ValueError("this service consumes no topics")
        subscriber = self.broker.subscriber(
            *self.consumed_topics,
            group_id=consumer_group(self.settings),
            batch=True,
            max_records=self.settings.consumer_batch_size,
            # An empty poll is followed by a pause as long (faststream): keep both short.
            batch_timeout_ms=self.settings.consumer_wait_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_no_body,
        )
        repeats = RepeatFilter(self.db, consumer_group(self.settings))

        async def consume(message: KafkaMessage) -> None:
            raw = message.raw_message
            records = raw if isinstance(raw, tuple) else (raw,)
            spans = BatchSpans(
                [(r.topic, record_headers(r), _record_attributes(r)) for r in records]
            )
            events, poison = decode_records(records)
            started = time.perf_counter()
            for bad in poison:
                await self._set_aside(bad)
            # A batch of one event (usual under light load) logs under its request's id.
            correlation = CORRELATION_ID.set(
                events[0].envelope.correlation_id if len(events) == 1 else None
            )

            async def project(projection: EventHandler, events: list[ConsumedEvent]) -> None:
                name = _projection_name(projection)
                applying = time.perf_counter()
                with spans.projection(name):
                    await projection(events)
                PROJECTION_APPLY_SECONDS.labels(name).observe(time.perf_counter() - applying)

            async def apply(events: list[ConsumedEvent]) -> None:
                await apply_stages(projections, events, project)

            try:
                events, seen = await repeats.fresh(events, batch_offsets(records))
                set_aside = await apply_or_set_aside(apply, events, records, self._set_aside)
                # Not remembered as seen: a set-aside event is applied once re-driven.
                await repeats.remember(seen.without(set_aside))
            except Exception as exc:
                spans.end(exc)
                # Redelivered after a pause (nack seeks back): the store may be briefly away.
                PROJECTION_FAILURES.inc()
                log.exception("projection failed; the batch will be redelivered")
                await asyncio.sleep(1.0)
                raise
            finally:
                CORRELATION_ID.reset(correlation)
            spans.end()
            self.consumed_total += len(events)
            PROJECTION_SECONDS.observe(time.perf_counter() - started)
            for event in events:
                EVENTS_CONSUMED.labels(event.topic).inc()

        subscriber(consume)

    async def _set_aside(self, bad: PoisonMessage) -> None:
        DEAD_LETTERS.inc()
        log.error("dead-lettering a poison message", extra=bad.headers())
        await self.broker.publish(
            bad.record.value, self.dead_letters, key=bad.record.key, headers=bad.headers()
        )

    async def _measure_backlog(self) -> None:
        assert self.store is not None
        RELAY_BACKLOG.set(await self.store.count_unpublished())
        RELAY_OLDEST_SECONDS.set(await self.store.oldest_unpublished_age())

    async def _measure_lag(self) -> None:
        if self.broker_ready.is_set():
            await self.lag.measure()

    async def start(self) -> None:
        await ping(self.db)
        if self.store:
            await self.store.create_indexes()
        self._tasks.append(asyncio.create_task(self._connect_broker(), name="connect-broker"))
        if self.relay:
            self._tasks.append(asyncio.create_task(self._run_relay(), name="outbox-relay"))
        for seconds, job, name in self._periodic:
            self._tasks.append(
                asyncio.create_task(self._run_periodic(seconds, job, name), name=name)
            )
        for job, name in self._alongside:
            self._tasks.append(asyncio.create_task(job(), name=name))

    async def _connect_broker(self) -> None:
        topics = [t for t in [self.topic, *self.consumed_topics] if t]
        topics += [self.dead_letters, *self._their_topics]
        # Until it answers: 0.2 s after the first failure, doubling up to MAX_BACKOFF_SECONDS.
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=0.2, max=MAX_BACKOFF_SECONDS),
            before_sleep=_broker_unreachable,
        )
        async for attempt in retrying:
            with attempt:
                await ensure_topics(
                    self.settings.kafka_bootstrap,
                    topics,
                    self.settings.topic_partitions,
                    self.settings.topic_replication,
                )
                await self.broker.start()
        self.broker_ready.set()
        for job, name in self._connected:
            self._tasks.append(asyncio.create_task(job(), name=name))
        if self.relay:
            self.relay.broker_ready.set()
        log.info("kafka connected", extra={"topics": topics})

    async def _run_relay(self) -> None:
        assert self.relay is not None
        await self.relay.run()

    async def stop(self) -> None:
        if self.relay and self.broker_ready.is_set():
            # Flush what is already stored, briefly: the next start would catch up anyway.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.relay.flush(), 3)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.lag.close()
        if self.relay:
            await self.relay.close()
        if self.broker_ready.is_set():
            await self.broker.stop()
        await self.client.close()
        shutdown_tracing()

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(ping(self.db), 2)
            checks["store"] = "ok"
        except Exception as exc:
            checks["store"] = f"unreachable: {exc!r}"
        if not self.broker_ready.is_set():
            checks["broker"] = "connecting"
        else:
            checks["broker"] = "ok" if await self.broker.ping(2) else "unreachable"
        for check, status in self._checks.items():
            checks[check] = status()
        if self.store and self.relay and checks["store"] == "ok":
            checks["outbox_backlog"] = await self.store.count_unpublished()
            checks["relay"] = {
                "stage": self.relay.stage,
                "published": self.relay.published_total,
                "last_error": self.relay.last_error,
            }
        return checks

    def ready(self, checks: Mapping[str, Any]) -> bool:
        """Whether `readiness()`'s answer lets the service take requests."""
        return all(checks.get(c) == "ok" for c in ("store", "broker", *self._checks))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()
