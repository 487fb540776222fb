"""A volunteer reads and changes their notification preferences; organisers and admins
register the webhooks of their area."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from datetime import time
from typing import Any

from muster_notify.application.channels import PreferenceBook, Subscription, Subscriptions
from muster_notify.application.ports import Inboxes
from muster_notify.domain.messages import Language, MessageKind
from muster_notify.domain.preferences import Channel, Preferences, QuietHours


def preferences_view(preferences: Preferences, language: Language | None) -> dict[str, Any]:
    return {
        "language": language.value if language else None,
        "time_zone": preferences.quiet.time_zone,
        "quiet_start": preferences.quiet.start.strftime("%H:%M"),
        "quiet_end": preferences.quiet.end.strftime("%H:%M"),
        "channels": {
            kind.value: {channel.value: preferences.wants(kind, channel) for channel in Channel}
            for kind in MessageKind
        },
    }


class PreferenceDesk:
    def __init__(self, book: PreferenceBook, inboxes: Inboxes) -> None:
        self._book = book
        self._inboxes = inboxes

    async def read(self, volunteer_id: str) -> Preferences:
        return (await self._book.of([volunteer_id])).get(volunteer_id, Preferences())

    async def view(self, volunteer_id: str) -> dict[str, Any]:
        preferences = await self.read(volunteer_id)
        inbox = await self._inboxes.read(volunteer_id)
        return preferences_view(preferences, inbox.language if inbox else None)

    async def change(
        self,
        volunteer_id: str,
        *,
        language: Language | None = None,
        time_zone: str | None = None,
        quiet_start: time | None = None,
        quiet_end: time | None = None,
        channels: dict[MessageKind, dict[Channel, bool]] | None = None,
    ) -> dict[str, Any]:
        """Change what is given and keep the rest (PreferenceError names what cannot be)."""
        current = await self.read(volunteer_id)
        quiet = QuietHours(
            start=quiet_start if quiet_start is not None else current.quiet.start,
            end=quiet_end if quiet_end is not None else current.quiet.end,
            time_zone=time_zone or current.quiet.time_zone,
        )
        off = set(current.off)
        for kind, chosen in (channels or {}).items():
            for channel, on in chosen.items():
                (off.discard if on else off.add)((kind, channel))
        changed = replace(current, quiet=quiet, off=frozenset(off))
        if language is not None:
            changed = replace(changed, language=language)
            # The inbox reads in the same language.
            await self._inboxes.choose_language(volunteer_id, language)
        await self._book.keep(volunteer_id, changed)
        return await self.view(volunteer_id)


class WebhookDesk:
    def __init__(self, subscriptions: Subscriptions) -> None:
        self._subscriptions = subscriptions

    async def register(
        self, area_id: str, url: str, kinds: frozenset[MessageKind], created_by: str
    ) -> Subscription:
        subscription = Subscription(
            subscription_id=uuid.uuid4().hex[:16],
            area_id=area_id,
            url=url,
            secret=secrets.token_urlsafe(32),
            created_by=created_by,
            kinds=kinds,
        )
        await self._subscriptions.add(subscription)
        return subscription
