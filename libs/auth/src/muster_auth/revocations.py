"""Revoking a leaked token: an admin announces its `jti` on a Kafka topic that every
service process reads from the beginning (no consumer group: each process sees every
revocation), so a revocation reaches every service within one poll of its consumer.

A process is not ready until it has read the topic up to the end offsets it found at
start, so a restarted service never forgets a revocation. Revocations are forgotten once
the token would have expired anyway.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from muster_auth.auth import Principal, RevocationList, require_role
from muster_contracts.access import TokenRevoked, UnreadableRevocationError, read_revocation
from muster_contracts.envelope import Role
from muster_http.idempotency import RetrySafeRoute
from muster_runtime.errors import ServiceUnavailableError
from muster_runtime.logs import correlation_id
from muster_runtime.relay import wire_headers
from muster_runtime.tracing import end_spans, kafka_headers, start_publish_span, stored_context

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 200


class RevocationFeed:
    """Keeps a process's `RevocationList` in step with the revocation topic."""

    def __init__(self, bootstrap: str, topic: str, revocations: RevocationList) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._revocations = revocations
        self.caught_up = asyncio.Event()
        self.applied_total = 0

    async def run(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
                await self._follow(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("revocation feed interrupted", extra={"error": repr(exc)})
                await asyncio.sleep(1.0)
            finally:
                await consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        # Without a group the consumer is assigned every partition, read from the start.
        consumer.subscribe([self._topic])
        ends: dict[TopicPartition, int] | None = None
        while True:
            batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            for records in batches.values():
                for record in records:
                    self._apply(record.value)
            if self.caught_up.is_set() or not consumer.assignment():
                continue
            if ends is None:
                ends = await consumer.end_offsets(list(consumer.assignment()))
            reached = [await consumer.position(tp) >= end for tp, end in ends.items()]
            if all(reached):
                self.caught_up.set()
                log.info("revocations read", extra={"revocations": self.applied_total})

    def _apply(self, raw: bytes | None) -> None:
        try:
            # Enveloped like every event; a bare `TokenRevoked` (the older format) too.
            revoked = read_revocation(raw or b"")
        except UnreadableRevocationError:
            log.error("skipping an unreadable revocation", extra={"bytes": (raw or b"")[:200]})
            return
        self._revocations.revoke(revoked.token_id, revoked.until)
        self.applied_total += 1


async def publish_revocation(broker: Any, topic: str, revoked: TokenRevoked) -> None:
    """Publish the revocation in its envelope, with the headers every topic's messages
    carry (and the request's trace context, when traced)."""
    envelope = revoked.envelope(correlation_id())
    headers = wire_headers(envelope.type, envelope.schema_version, envelope.stream_version)
    span = start_publish_span(topic, stored_context(), {"muster.stream_id": envelope.stream_id})
    if span:
        headers.update(kafka_headers(span))
    try:
        await broker.publish(
            envelope.to_json(), topic, key=revoked.token_id.encode(), headers=headers
        )
    except BaseException as exc:
        end_spans([span] if span else [], exc)
        raise
    end_spans([span] if span else [])


class RevokeToken(BaseModel):
    token_id: str = Field(min_length=1, max_length=200, description="The token's `jti` claim.")
    until: AwareDatetime | None = Field(
        default=None,
        description="The token's expiry (`exp`); by default the configured retention from now.",
    )

    @field_validator("until", mode="before")
    @classmethod
    def _date_time_text(cls, value: object) -> object:
        # As the schema says: RFC 3339 text (pydantic alone would also take a Unix time).
        if value is not None and not isinstance(value, str):
            raise ValueError("until must be an RFC 3339 date-time with a time zone")
        return value

    reason: str = Field(default="", max_length=200)


router = APIRouter(prefix="/admin/token-revocations", tags=["access"], route_class=RetrySafeRoute)
Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]


@router.post("", status_code=201)
async def revoke_token(request: Request, form: RevokeToken, principal: Admin) -> dict[str, Any]:
    """Revoke a leaked token by its `jti`: every service refuses it within about a second.

    Answered once the revocation is stored in Kafka (503 if the broker is away).
    """
    runtime, access = request.app.state.runtime, request.app.state.access
    now = datetime.now(UTC)
    until = form.until or now + timedelta(hours=runtime.settings.revocation_default_hours)
    message = TokenRevoked(
        token_id=form.token_id,
        until=until,
        revoked_at=now,
        revoked_by=principal.actor,
        reason=form.reason,
    )
    if not runtime.broker_ready.is_set():
        raise ServiceUnavailableError("the broker is not reachable; retry shortly")
    try:
        await publish_revocation(runtime.broker, access.topic, message)
    except Exception as exc:
        log.warning("could not publish a revocation", extra={"error": repr(exc)})
        raise ServiceUnavailableError("the broker is not reachable; retry shortly") from None
    # This process refuses the token at once; the others when they read the topic.
    access.revocations.revoke(form.token_id, until)
    return message.model_dump(mode="json")


@router.get("")
async def revoked_tokens(request: Request, _: Admin) -> dict[str, Any]:
    """The token ids this process currently refuses, with when each would have expired."""
    entries = request.app.state.access.revocations.entries()
    return {"revoked": [{"token_id": k, "until": v} for k, v in sorted(entries.items())]}
