"""The email channel's sender: a request to the volunteer service, which holds the
address, appended to notify's own event stream (`email-request-<delivery id>`) and
relayed to Kafka by the outbox. A request appended twice is refused by the stream's
version: it is one request. It counts as sent only once its commit is stored (an append
refused by the marker of one that never finished is tried again later)."""

from __future__ import annotations

from muster_contracts.envelope import Actor, Role
from muster_contracts.events.contacts import EMAIL_REQUEST_STREAM, EmailRequested
from muster_notify.application.channels import Attempt, ChannelSender, PreferenceBook, Push, Sent
from muster_notify.application.ports import Inboxes
from muster_notify.domain.messages import Language
from muster_notify.domain.preferences import Channel
from muster_notify.domain.texts import render
from muster_runtime.eventstore import CommandContext, ConcurrencyError, EventStore

NOTIFY = Actor(subject="notify", role=Role.ADMIN)


class EmailRequester(ChannelSender):
    channel = Channel.EMAIL

    def __init__(self, store: EventStore, preferences: PreferenceBook, inboxes: Inboxes) -> None:
        self._store = store
        self._preferences = preferences
        self._inboxes = inboxes

    async def _language(self, volunteer_id: str) -> Language:
        chosen = (await self._preferences.of([volunteer_id])).get(volunteer_id)
        if chosen is not None and chosen.language is not None:
            return chosen.language
        inbox = await self._inboxes.read(volunteer_id)
        return inbox.language if inbox and inbox.language else Language.ZH_CN

    async def send(self, push: Push) -> Attempt:
        message = push.message
        language = await self._language(message.volunteer_id)
        subject, text = render(message.kind, message.params, language)
        request = EmailRequested(
            delivery_id=push.delivery_id,
            volunteer_id=message.volunteer_id,
            kind=message.kind.value,
            language=language.value,
            subject=subject,
            text=text,
            drive_id=message.drive_id,
            activity_id=message.activity_id,
        )
        stream = f"{EMAIL_REQUEST_STREAM}-{push.delivery_id}"
        try:
            await self._store.append(
                stream, EMAIL_REQUEST_STREAM, 0, [request], CommandContext(NOTIFY)
            )
        except ConcurrencyError:
            # Refused by the outbox marker of an earlier append: requested before a
            # restart only if that append stored its commit too. A process stopped
            # between the two left a marker alone, swept once it is old: tried again then.
            if not (await self._store.read_stream(stream)).version:
                return Attempt(Sent.FAILED, "an earlier request of it is unfinished")
        return Attempt(Sent.ACCEPTED)
