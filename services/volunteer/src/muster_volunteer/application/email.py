"""Email, owned here because the address is personal data: the volunteer gives (or
withdraws) an address with consent, and notify's requests are fulfilled from an outbox.

A request read from Kafka is only recorded (one document per delivery id) so the consumer
never waits on an SMTP server; the courier beside it sends what is due, leased so that a
process stopped mid-send hands its work to the next, retries with backoff, and records
each request's outcome once, as an event notify counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter

from muster_contracts.envelope import Actor, Role
from muster_contracts.events import decode_payload
from muster_contracts.events.contacts import (
    EMAIL_DELIVERY_STREAM,
    EmailDeliveryRecorded,
    EmailOutcome,
    EmailRequested,
)
from muster_contracts.events.volunteer import VOLUNTEER_STREAM
from muster_runtime.errors import GoneError, RuleViolationError
from muster_runtime.eventstore import CommandContext, ConcurrencyError, EventStore
from muster_runtime.mongo import ASCENDING, Database, Document, insert_absent
from muster_runtime.projections import ConsumedEvent
from muster_volunteer.application.ports import PersonalDataErasedError, PersonalDataSafe
from muster_volunteer.application.registration import fold, stream_id
from muster_volunteer.domain.email import Email, EmailContact, compose, remove_email, set_email
from muster_volunteer.domain.volunteer import VolunteerRuleError

log = logging.getLogger(__name__)

EMAILS = Counter("muster_volunteer_emails_total", "Email requests by outcome", ["outcome"])
COURIER = Actor(subject="email-courier", role=Role.ADMIN)


class MailError(Exception):
    """The SMTP server refused or could not be reached; `permanent`: never worth a retry."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailer(ABC):
    @abstractmethod
    async def send(self, to: str, email: Email, message_id: str) -> None:
        """Hand the email to the mail server (MailError if it is not accepted)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class EmailAddresses:
    """The volunteer's own address: given with consent, read back, withdrawn."""

    def __init__(self, store: EventStore, vault: PersonalDataSafe) -> None:
        self._store = store
        self._vault = vault

    async def give(
        self, volunteer_id: str, address: str, consent: bool, context: CommandContext
    ) -> str:
        contact = EmailContact(email=address)
        stream = await self._store.read_stream(stream_id(volunteer_id))
        state = fold(volunteer_id, stream)
        sealed = await self._vault.seal(volunteer_id, contact)
        try:
            events = set_email(state, sealed, consent, utc_now())
        except VolunteerRuleError as exc:
            raise RuleViolationError(str(exc), code=exc.rule, field=exc.field) from None
        await self._store.append_after(stream, VOLUNTEER_STREAM, events, context)
        return contact.email

    async def withdraw(self, volunteer_id: str, context: CommandContext) -> None:
        stream = await self._store.read_stream(stream_id(volunteer_id))
        try:
            events = remove_email(fold(volunteer_id, stream))
        except VolunteerRuleError as exc:
            raise GoneError(str(exc), code="erased") from None
        if events:
            await self._store.append_after(stream, VOLUNTEER_STREAM, events, context)

    async def read(self, volunteer_id: str) -> str | None:
        state = fold(volunteer_id, await self._store.read_stream(stream_id(volunteer_id)))
        if state.email is None or state.erased:
            return None
        try:
            return (await self._vault.unseal_as(state.email, EmailContact)).email
        except PersonalDataErasedError:
            return None


@dataclass(frozen=True)
class Courier:
    max_attempts: int = 5
    first_retry: timedelta = timedelta(seconds=5)
    lease: timedelta = timedelta(seconds=60)
    batch: int = 100
    in_flight: int = 8


class EmailOutbox:
    """`email_outbox`: one document per request (`_id` its delivery id) until its outcome
    is recorded (then removed: the outcome's stream remembers it, so a request read again
    from Kafka later is recognised and not sent twice). The outbox holds only what is
    pending, so finding what is due stays cheap on a store that scans."""

    def __init__(
        self,
        db: Database,
        store: EventStore,
        vault: PersonalDataSafe,
        mailer: Mailer,
        courier: Courier = Courier(),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._outbox = db["email_outbox"]
        self._store = store
        self._vault = vault
        self._mailer = mailer
        self._courier = courier
        self._clock = clock
        self._slots = asyncio.Semaphore(courier.in_flight)
        self._due = asyncio.Event()

    async def create_indexes(self) -> None:
        await self._outbox.create_index([("done", ASCENDING), ("not_before", ASCENDING)])

    async def apply(self, events: list[ConsumedEvent]) -> None:
        """Record notify's requests (the consumer's part: no SMTP here)."""
        docs: list[Document] = []
        for consumed in events:
            envelope = consumed.envelope
            if envelope.type != EmailRequested.event_type:
                continue
            request = decode_payload(envelope.type, envelope.schema_version, envelope.payload)
            assert isinstance(request, EmailRequested)
            docs.append(
                {
                    "_id": request.delivery_id,
                    "request": request.model_dump(mode="json"),
                    "done": False,
                    "not_before": self._clock(),
                    "leased_until": None,
                    "attempts": 0,
                }
            )
        if docs:
            await insert_absent(self._outbox, docs)  # a request read twice is one request
            self._due.set()

    async def run(self) -> None:
        while True:
            self._due.clear()
            try:
                if await self.work() == self._courier.batch:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("email courier failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), 1.0)

    async def work(self) -> int:
        """Send one batch of due requests; returns how many were tried."""
        now = self._clock()
        claimed: list[Document] = []
        found = self._outbox.find(
            {"done": False, "not_before": {"$lte": now}},
            sort=[("not_before", ASCENDING)],
            limit=self._courier.batch * 2,
        )
        async for doc in found:
            if len(claimed) >= self._courier.batch:
                break
            leased = doc.get("leased_until")
            if leased is not None and leased > now:
                continue
            result = await self._outbox.update_one(
                {"_id": doc["_id"], "done": False, "leased_until": leased},
                {"$set": {"leased_until": now + self._courier.lease}},
            )
            if result.modified_count:
                claimed.append(doc)
        await asyncio.gather(*(self._fulfil(doc) for doc in claimed))
        return len(claimed)

    async def _fulfil(self, doc: Document) -> None:
        request = EmailRequested.model_validate(doc["request"])
        if (await self._store.read_stream(_outcome_stream(request.delivery_id))).version:
            await self._outbox.delete_one({"_id": request.delivery_id})  # fulfilled before
            return
        attempts = int(doc.get("attempts", 0)) + 1
        async with self._slots:
            outcome, detail = await self._try(request)
        retry = outcome is EmailOutcome.FAILED and not detail.startswith("permanent")
        if retry and attempts < self._courier.max_attempts:
            wait = min(self._courier.first_retry * 2 ** (attempts - 1), timedelta(hours=1))
            await self._outbox.update_one(
                {"_id": request.delivery_id},
                {
                    "$set": {
                        "attempts": attempts,
                        "not_before": self._clock() + wait,
                        "leased_until": None,
                        "last_error": detail[:300],
                    }
                },
            )
            EMAILS.labels("retrying").inc()
            return
        await self._record(request, outcome, attempts, detail)
        await self._outbox.delete_one({"_id": request.delivery_id})

    async def _try(self, request: EmailRequested) -> tuple[EmailOutcome, str]:
        stream = await self._store.read_stream(stream_id(request.volunteer_id))
        state = fold(request.volunteer_id, stream)
        if state.erased:
            return EmailOutcome.ERASED, ""
        if state.email is None:
            return EmailOutcome.NO_ADDRESS, ""
        try:
            contact = await self._vault.unseal_as(state.email, EmailContact)
        except PersonalDataErasedError:
            return EmailOutcome.ERASED, ""
        email = compose(request.language, request.subject, request.text)
        try:
            await self._mailer.send(contact.email, email, request.delivery_id)
        except MailError as error:
            return EmailOutcome.FAILED, f"{'permanent: ' if error.permanent else ''}{error}"
        return EmailOutcome.SENT, ""

    async def _record(
        self, request: EmailRequested, outcome: EmailOutcome, attempts: int, detail: str
    ) -> None:
        event = EmailDeliveryRecorded(
            delivery_id=request.delivery_id,
            volunteer_id=request.volunteer_id,
            outcome=outcome,
            attempts=attempts,
            detail=detail[:300],
            drive_id=request.drive_id,
            activity_id=request.activity_id,
        )
        with contextlib.suppress(ConcurrencyError):  # recorded before a restart
            await self._store.append(
                _outcome_stream(request.delivery_id),
                EMAIL_DELIVERY_STREAM,
                0,
                [event],
                CommandContext(COURIER),
            )
            EMAILS.labels(outcome.value).inc()

    async def pending(self) -> list[dict[str, Any]]:
        return [doc async for doc in self._outbox.find({})]


def _outcome_stream(delivery_id: str) -> str:
    return f"{EMAIL_DELIVERY_STREAM}-{delivery_id}"
