"""A volunteer's inbox as their app reads it: pages, unread count, read marks, language,
and the messages after a stream position (for the live stream).

A team message names its leader by volunteer id; the leader's name is personal data the
volunteer service keeps sealed, so it is never stored here. When a message is read, the
names are asked of the volunteer service with the reader's own token (`LeaderNames`),
which names a volunteer's own team leaders to them, and shown in the text; without an
answer the text shows the id, as it is stored."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from muster_notify.application.ports import (
    Facts,
    Inboxes,
    InboxView,
    LeaderNames,
    StoredMessage,
)
from muster_notify.domain.messages import Language, MessageKind
from muster_notify.domain.texts import language_of, render
from muster_runtime.errors import NotFoundError
from muster_runtime.volunteer_names import NamesUnavailableError


@dataclass(frozen=True)
class Reader:
    """Who reads: the volunteer their login speaks for, and the language they read in."""

    volunteer_id: str
    language: Language
    # The reader's `Authorization` header, to ask for names with their own rights.
    authorization: str | None = None


log = logging.getLogger(__name__)


def leaders_named(messages: Sequence[StoredMessage]) -> list[str]:
    """The leaders team messages name, other than the reader (who is told "you")."""
    return list(
        dict.fromkeys(
            str(m.params["leader_id"])
            for m in messages
            if m.kind == MessageKind.TEAM_ASSIGNED.value
            and m.params.get("leader_id")
            and not m.params.get("is_leader")
        )
    )


def message_view(
    message: StoredMessage,
    language: Language,
    leaders: Mapping[str, tuple[str, str | None]] | None = None,
) -> dict[str, Any]:
    """How a message reads; `leaders`: (status, name) by volunteer id, for team messages."""
    params = message.params
    shown = (leaders or {}).get(str(params.get("leader_id")))
    if shown is not None:
        status, name = shown
        params = params | {"leader_status": status, "leader_name": name}
    title, body = render(MessageKind(message.kind), params, language)
    return {
        "message_id": message.message_id,
        "position": message.position,
        "kind": message.kind,
        "title": title,
        "body": body,
        "language": language.value,
        "read": message.read,
        "drive_id": message.drive_id,
        "activity_id": message.activity_id,
        "cause": message.cause,
        "caused_at": message.caused_at.isoformat(),
        "delivered_at": message.delivered_at.isoformat(),
        "params": message.params,
    }


class InboxDesk:
    def __init__(self, inboxes: Inboxes, facts: Facts, names: LeaderNames | None = None) -> None:
        self._inboxes = inboxes
        self._facts = facts
        self._names = names

    async def volunteer_of(self, subject: str) -> str:
        volunteer_id = await self._facts.volunteer_of(subject)
        if volunteer_id is None:
            raise NotFoundError(
                "no volunteer is registered with this login (yet)", code="not_registered"
            )
        return volunteer_id

    async def reader(
        self, subject: str, accept_language: str | None, authorization: str | None = None
    ) -> Reader:
        volunteer_id = await self.volunteer_of(subject)
        inbox = await self._inboxes.read(volunteer_id)
        chosen = inbox.language.value if inbox and inbox.language else None
        return Reader(volunteer_id, language_of(chosen, accept_language), authorization)

    async def _views(
        self, reader: Reader, messages: Sequence[StoredMessage]
    ) -> list[dict[str, Any]]:
        """The messages as the reader reads them, their team leaders named."""
        leaders: dict[str, tuple[str, str | None]] = {}
        wanted = leaders_named(messages)
        if wanted and self._names is not None and reader.authorization:
            try:
                found = await self._names.names(wanted, reader.authorization)
            except NamesUnavailableError as exc:
                log.warning("leader names unavailable", extra={"error": str(exc)})
            else:
                leaders = {v: (n.status, n.name) for v, n in found.items() if n.status != "unknown"}
        return [message_view(m, reader.language, leaders) for m in messages]

    async def _inbox(self, volunteer_id: str) -> InboxView:
        inbox = await self._inboxes.read(volunteer_id)
        return inbox or InboxView(volunteer_id, [], 0, None)

    async def page(
        self, reader: Reader, *, before: int | None, limit: int, unread_only: bool
    ) -> dict[str, Any]:
        """Newest first; `before` a position (the previous page's `next_before`)."""
        inbox = await self._inbox(reader.volunteer_id)
        messages = [
            m
            for m in reversed(inbox.messages)
            if (before is None or m.position < before) and (not unread_only or not m.read)
        ]
        shown = messages[:limit]
        more = len(messages) > limit
        return {
            "messages": await self._views(reader, shown),
            "unread": inbox.unread,
            "total": len(inbox.messages),
            "next_before": shown[-1].position if more and shown else None,
        }

    async def unread(self, reader: Reader) -> int:
        return (await self._inbox(reader.volunteer_id)).unread

    async def after(self, reader: Reader, position: int) -> list[dict[str, Any]]:
        """The messages delivered after stream `position`, oldest first."""
        inbox = await self._inbox(reader.volunteer_id)
        return await self._views(reader, inbox.messages[max(position, 0) :])

    async def mark_read(self, reader: Reader, message_ids: Sequence[str] | None) -> int:
        """Mark the messages read (all of them when `message_ids` is None); returns the
        unread count after. Ids not in the inbox are refused."""
        inbox = await self._inbox(reader.volunteer_id)
        held = {m.message_id for m in inbox.messages}
        if message_ids is None:
            message_ids = [m.message_id for m in inbox.messages if not m.read]
        unknown = [i for i in message_ids if i not in held]
        if unknown:
            raise NotFoundError(
                f"no message {unknown[0]} in your inbox",
                code="unknown_message",
                field="message_ids",
            )
        await self._inboxes.mark_read(reader.volunteer_id, message_ids)
        return (await self._inbox(reader.volunteer_id)).unread

    async def choose_language(self, reader: Reader, language: Language) -> None:
        await self._inboxes.choose_language(reader.volunteer_id, language)
