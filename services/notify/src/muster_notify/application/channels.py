"""Messages beyond the inbox: each inbox message is planned, once, onto the channels the
volunteer's preferences allow (email, the organisations' webhooks), at the moment quiet
hours allow; couriers, one per channel, send what is due, retry with backoff and
dead-letter after a limit. A failing channel never holds up the inbox or another channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from prometheus_client import Counter

from muster_contracts.areas import AreaTree
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityScheduled,
    ActivityVolunteersAssigned,
)
from muster_contracts.events.contacts import EmailDeliveryRecorded, EmailOutcome
from muster_notify.application.delivery import Delivery, LiveFeed, utc_now
from muster_notify.application.ports import Facts, Inboxes, Outcome, Tallies
from muster_notify.domain.messages import Cause, Message, MessageKind
from muster_notify.domain.preferences import TIME_BOUND, Channel, Preferences, send_at
from muster_notify.domain.rules import timer_messages, timers_for
from muster_notify.domain.webhooks import retry_at
from muster_runtime.projections import ConsumedEvent

log = logging.getLogger(__name__)

EMAIL_OUTCOMES = {
    EmailOutcome.SENT: "delivered",
    EmailOutcome.NO_ADDRESS: "no_address",
    EmailOutcome.ERASED: "erased",
    EmailOutcome.FAILED: "failed",
}

# What plans a time-bound push ahead: scheduling, assigning, and moving an activity.
PLANNED_AHEAD = frozenset(
    {
        ActivityScheduled.event_type,
        ActivityVolunteersAssigned.event_type,
        ActivityAmended.event_type,
    }
)

DELIVERIES = Counter(
    "muster_notify_deliveries_total",
    "Deliveries beyond the inbox by channel and outcome (sent, retrying, dead, withdrawn)",
    ["channel", "outcome"],
)


class PushState(StrEnum):
    PENDING = "pending"  # due at `not_before`, or being tried
    SENT = "sent"  # the counterpart accepted it
    DEAD = "dead"  # failed `max_attempts` times: waits for a re-drive
    WITHDRAWN = "withdrawn"  # not to be sent (the volunteer was erased, or opted out)


@dataclass(frozen=True)
class Subscription:
    """An organisation's system that receives the messages about an area (and below)."""

    subscription_id: str
    area_id: str
    url: str
    secret: str
    created_by: str
    kinds: frozenset[MessageKind] = frozenset()  # none named: every kind

    def wants(self, kind: MessageKind) -> bool:
        return not self.kinds or kind in self.kinds


@dataclass(frozen=True)
class Push:
    """One message on one channel to one target (the volunteer's address, or a subscription)."""

    channel: Channel
    target: str
    message: Message
    area_id: str | None
    not_before: datetime
    attempts: int = 0
    errors: tuple[str, ...] = field(default=())

    @property
    def delivery_id(self) -> str:
        # Deterministic: a message planned again (redelivery, restart) is the same delivery.
        return f"{self.message.message_id}:{self.channel.value}:{self.target}"


@dataclass(frozen=True)
class Settlement:
    """What became of one try: the push's new state, and the outcome counted."""

    push: Push
    state: PushState
    outcome: str  # sent, retrying, dead, withdrawn
    error: str = ""
    retry: datetime | None = None


class Sent(StrEnum):
    ACCEPTED = "accepted"
    FAILED = "failed"  # worth trying again
    REFUSED = "refused"  # never worth trying again (e.g. a destination not allowed)


@dataclass(frozen=True)
class Attempt:
    result: Sent
    detail: str = ""


class ChannelSender(ABC):
    """Sends one push on its channel; never raises for the counterpart's failures."""

    channel: Channel

    @abstractmethod
    async def send(self, push: Push) -> Attempt: ...


class PreferenceBook(ABC):
    @abstractmethod
    async def of(self, volunteer_ids: Sequence[str]) -> dict[str, Preferences]:
        """Stored preferences (volunteers with none are absent: they have the defaults)."""

    @abstractmethod
    async def keep(self, volunteer_id: str, preferences: Preferences) -> None: ...

    @abstractmethod
    async def forget(self, volunteer_id: str) -> None: ...


class Subscriptions(ABC):
    @abstractmethod
    async def add(self, subscription: Subscription) -> None: ...

    @abstractmethod
    async def remove(self, subscription_id: str) -> bool: ...

    @abstractmethod
    async def get(self, subscription_id: str) -> Subscription | None: ...

    @abstractmethod
    async def active(self) -> list[Subscription]: ...


class Pushes(ABC):
    """Planned pushes, each stored once by its delivery id."""

    @abstractmethod
    async def plan(self, pushes: Sequence[Push]) -> int:
        """Store the pushes not stored yet; returns how many were new."""

    @abstractmethod
    async def claim_due(
        self, channel: Channel, now: datetime, lease: timedelta, limit: int
    ) -> list[Push]:
        """Pending pushes due by `now`, leased to this caller (a crashed caller's lease
        runs out and another takes them)."""

    @abstractmethod
    async def settle(self, settlements: Sequence[Settlement], at: datetime) -> list[bool]:
        """Record tries' outcomes (a `retry`: pending again from then); for each, False
        if the push had been settled meanwhile."""

    @abstractmethod
    async def withdraw_volunteer(self, volunteer_id: str) -> dict[Channel, int]:
        """Withdraw every push to the volunteer not sent yet; how many per channel."""

    @abstractmethod
    async def counts(self, scope: str) -> dict[str, dict[str, int]]:
        """For `drive:<id>` or `activity:<id>`: per channel, planned, sent, failed tries,
        dead-letterings, withdrawn, re-drives and the reported outcomes, derived from the
        pushes themselves (so a stop between two writes never loses or doubles one)."""

    @abstractmethod
    async def dead(self, channel: Channel, limit: int) -> list[Push]: ...

    @abstractmethod
    async def record_outcome(self, delivery_id: str, outcome: str) -> None:
        """Record on the push what the counterpart reported of it (an email's final
        outcome); recorded again, it is counted once."""

    @abstractmethod
    async def redrive(self, delivery_ids: Sequence[str], at: datetime) -> int:
        """Dead pushes pending again from `at` with their attempts reset."""


# --- planning -------------------------------------------------------------------------------------


def area_of(message: Message, facts_area: dict[str, str | None]) -> str | None:
    key = f"activity:{message.activity_id}" if message.activity_id else f"drive:{message.drive_id}"
    return facts_area.get(key)


def plan_pushes(
    message: Message,
    preferences: Preferences,
    area_id: str | None,
    subscriptions: Sequence[Subscription],
    areas: AreaTree,
    planned_at: datetime,
    enabled: frozenset[Channel] = frozenset(Channel),
) -> list[Push]:
    """The pushes one inbox message makes: email if the volunteer leaves it on (whether
    they have an address is the volunteer service's business), and one per subscription
    covering the message's area if they leave webhooks on, each when quiet hours allow."""
    pushes: list[Push] = []
    moment = message.cause.at
    not_before = send_at(preferences, message.kind, moment, planned_at)
    if Channel.EMAIL in enabled and preferences.wants(message.kind, Channel.EMAIL):
        pushes.append(Push(Channel.EMAIL, message.volunteer_id, message, area_id, not_before))
    webhooks = Channel.WEBHOOK in enabled and preferences.wants(message.kind, Channel.WEBHOOK)
    if webhooks and area_id and area_id in areas:
        for subscription in subscriptions:
            if (
                subscription.wants(message.kind)
                and subscription.area_id in areas
                and areas.is_within(area_id, subscription.area_id)
            ):
                pushes.append(
                    Push(
                        Channel.WEBHOOK,
                        subscription.subscription_id,
                        message,
                        area_id,
                        not_before,
                    )
                )
    return pushes


class ChannelDelivery(Delivery):
    """Delivery to the inbox, then planned onto the other channels. A message already in
    the inbox (a redelivery after a crash) is planned again: the plan is stored once."""

    def __init__(
        self,
        inboxes: Inboxes,
        tallies: Tallies,
        live: LiveFeed,
        *,
        facts: Facts,
        preferences: PreferenceBook,
        subscriptions: Subscriptions,
        pushes: Pushes,
        areas: AreaTree,
        enabled: frozenset[Channel] = frozenset({Channel.WEBHOOK}),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(inboxes, tallies, live, clock)
        # Only channels with a courier: email waits for its sender (see docs/architecture.md).
        self._enabled = enabled
        self._facts = facts
        self._preferences = preferences
        self._subscriptions = subscriptions
        self._pushes = pushes
        self._areas = areas
        self._clock_of_plans = clock
        self.couriers: list[Courier] = []

    async def send(self, messages: Sequence[Message]) -> list[Outcome]:
        outcomes = await super().send(messages)
        reached = [m for m, o in zip(messages, outcomes, strict=True) if o is not Outcome.NO_INBOX]
        if reached:
            await self.plan(reached)
        return outcomes

    async def plan(self, messages: Sequence[Message]) -> int:
        now = self._clock_of_plans()
        subscriptions = await self._subscriptions.active()
        if Channel.EMAIL not in self._enabled and not subscriptions:
            return 0  # no channel beyond the inbox: nothing to read or plan
        chosen = await self._preferences.of(sorted({m.volunteer_id for m in messages}))
        places = await self._places(messages)
        pushes = [
            push
            for message in messages
            for push in plan_pushes(
                message,
                chosen.get(message.volunteer_id, Preferences()),
                area_of(message, places),
                subscriptions,
                self._areas,
                now,
                self._enabled,
            )
        ]
        planned = await self._pushes.plan(pushes) if pushes else 0
        if planned:
            for courier in self.couriers:
                courier.wake()
        return planned

    async def _places(self, messages: Sequence[Message]) -> dict[str, str | None]:
        places: dict[str, str | None] = {}
        for message in messages:
            if message.activity_id and f"activity:{message.activity_id}" not in places:
                activity = await self._facts.activity(message.activity_id)
                places[f"activity:{message.activity_id}"] = (
                    activity.place_area_id if activity else None
                )
            elif message.drive_id and f"drive:{message.drive_id}" not in places:
                drive = await self._facts.drive(message.drive_id) or {}
                places[f"drive:{message.drive_id}"] = drive.get("scope_area_id")
        return places

    async def close(self, volunteer_id: str) -> None:
        """Erasure stops every channel: the inbox closes, planned pushes are withdrawn and
        the preferences forgotten."""
        await super().close(volunteer_id)
        withdrawn = await self._pushes.withdraw_volunteer(volunteer_id)
        for channel, count in withdrawn.items():
            DELIVERIES.labels(channel.value, PushState.WITHDRAWN.value).inc(count)
        await self._preferences.forget(volunteer_id)


# --- sending --------------------------------------------------------------------------------------


class Courier:
    """Sends one channel's due pushes, a batch at a time, `in_flight` at once."""

    def __init__(
        self,
        pushes: Pushes,
        sender: ChannelSender,
        *,
        max_attempts: int = 8,
        first_retry: timedelta = timedelta(seconds=5),
        lease: timedelta = timedelta(seconds=60),
        batch: int = 200,
        in_flight: int = 32,
        idle_seconds: float = 1.0,
        worth_sending: Callable[[Push], Awaitable[bool]] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._pushes = pushes
        self._sender = sender
        self._max_attempts = max_attempts
        self._first_retry = first_retry
        self._lease = lease
        self._batch = batch
        self._in_flight = asyncio.Semaphore(in_flight)
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._worth_sending = worth_sending
        self._due = asyncio.Event()

    @property
    def channel(self) -> Channel:
        return self._sender.channel

    def wake(self) -> None:
        self._due.set()

    async def run(self) -> None:
        while True:
            self._due.clear()
            try:
                if await self.work() == self._batch:
                    continue  # more may be due at once
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("courier failed; retrying", extra={"channel": self.channel.value})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), self._idle_seconds)

    async def work(self) -> int:
        """Send one batch of due pushes; returns how many were tried."""
        claimed = await self._pushes.claim_due(
            self.channel, self._clock(), self._lease, self._batch
        )
        if not claimed:
            return 0
        settlements = await asyncio.gather(*(self._try(push) for push in claimed))
        recorded = await self._pushes.settle(settlements, self._clock())
        for settlement, changed in zip(settlements, recorded, strict=True):
            if changed:
                DELIVERIES.labels(self.channel.value, settlement.outcome).inc()
        return len(claimed)

    async def _try(self, push: Push) -> Settlement:
        if self._worth_sending is not None and not await self._worth_sending(push):
            return Settlement(push, PushState.WITHDRAWN, "withdrawn", "no longer relevant")
        async with self._in_flight:
            try:
                attempt = await self._sender.send(push)
            except Exception as exc:  # a sender's own bug must not stop the others
                log.exception("sender failed", extra={"channel": self.channel.value})
                attempt = Attempt(Sent.FAILED, repr(exc))
        now = self._clock()
        tries = push.attempts + 1
        if attempt.result is Sent.ACCEPTED:
            state, retry, outcome = PushState.SENT, None, "sent"
        elif attempt.result is Sent.REFUSED or tries >= self._max_attempts:
            state, retry, outcome = PushState.DEAD, None, "dead"
        else:
            state, retry = PushState.PENDING, retry_at(tries, now, self._first_retry)
            outcome = "retrying"
        return Settlement(push, state, outcome, attempt.detail, retry)


def message_of(doc: dict[str, Any]) -> Message:
    """A stored message back (the pushes store keeps it to send it later)."""
    return Message(
        str(doc["volunteer_id"]),
        MessageKind(doc["kind"]),
        Cause(str(doc["cause_id"]), doc["caused_at"]),
        dict(doc.get("params") or {}),
        drive_id=doc.get("drive_id"),
        activity_id=doc.get("activity_id"),
    )


def message_doc(message: Message) -> dict[str, Any]:
    return {
        "volunteer_id": message.volunteer_id,
        "kind": message.kind.value,
        "cause_id": message.cause.cause_id,
        "caused_at": message.cause.at,
        "params": message.params,
        "drive_id": message.drive_id,
        "activity_id": message.activity_id,
    }


# --- reminders planned ahead ------------------------------------------------------------------


class ReminderPlanner:
    """Plans the reminders' and the check-in window's pushes when an activity is scheduled
    or volunteers are assigned, not when their timers fire: a reminder that falls in a
    volunteer's quiet hours goes out before they begin, hours before its timer. The timer's
    own inbox message later plans the same deliveries again, which stores nothing new."""

    def __init__(
        self,
        facts: Facts,
        delivery: ChannelDelivery,
        *,
        lead_times: tuple[timedelta, ...],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._facts = facts
        self._delivery = delivery
        self._lead_times = lead_times
        self._clock = clock

    async def apply(self, events: list[ConsumedEvent]) -> None:
        for consumed in events:
            envelope = consumed.envelope
            if envelope.type not in PLANNED_AHEAD:
                continue
            activity_id = str(envelope.payload.get("activity_id", ""))
            activity = await self._facts.activity(activity_id)
            if activity is None:
                continue
            now = self._clock()
            messages = [
                message
                for timer in timers_for(activity, self._lead_times, envelope.occurred_at, now)
                # As the timer will send it at its moment: the same ids, the same deliveries.
                for message in timer_messages(timer, activity, timer.due_at, timedelta(0))
            ]
            if messages:
                await self._delivery.plan(messages)


async def still_worth_sending(facts: Facts, push: Push) -> bool:
    """A push planned ahead about an activity is sent only if the activity still starts
    when it did and the volunteer is still assigned."""
    message = push.message
    if message.kind not in TIME_BOUND or not message.activity_id:
        return True
    activity = await facts.activity(message.activity_id)
    return (
        activity is not None
        and not activity.cancelled
        and activity.starts_at.isoformat() == message.params.get("starts_at")
        and message.volunteer_id in activity.assigned
    )


class EmailOutcomes:
    """Records on each email's push what the volunteer service reports of it (counted
    per drive and activity from the pushes; an event read again changes nothing)."""

    def __init__(self, pushes: Pushes) -> None:
        self._pushes = pushes

    async def apply(self, events: list[ConsumedEvent]) -> None:
        for consumed in events:
            envelope = consumed.envelope
            if envelope.type != EmailDeliveryRecorded.event_type:
                continue
            recorded = EmailDeliveryRecorded.model_validate(envelope.payload)
            outcome = EMAIL_OUTCOMES[recorded.outcome]
            DELIVERIES.labels(Channel.EMAIL.value, outcome).inc()
            await self._pushes.record_outcome(recorded.delivery_id, outcome)
