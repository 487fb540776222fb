"""Notify's ports on the document store. Every read and write names documents by `_id`
(the development store serves only those from an index); guards in the filter make each
write idempotent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from muster_contracts.eligibility import VolunteerProfile
from muster_contracts.teams import Team
from muster_notify.application.ports import (
    Broadcasts,
    Facts,
    Inboxes,
    InboxView,
    Outcome,
    StoredMessage,
    Tallies,
    Timers,
)
from muster_notify.domain.messages import Language, Message, MessageKind
from muster_notify.domain.rules import Activity, Timer
from muster_runtime.adapters.mongodb.team_documents import TeamDocuments
from muster_runtime.mongo import Database, Document, insert_absent, update_or_insert

# Reads by `$in` take at most this many ids at once.
IN_CHUNK = 200
# Inbox updates sent at once by one delivery.
WRITES_IN_FLIGHT = 8


def _message_doc(message: Message, at: datetime) -> Document:
    return {
        "id": message.message_id,
        "kind": message.kind.value,
        "params": message.params,
        "cause": message.cause.cause_id,
        "caused_at": message.cause.at,
        "delivered_at": at,
        "drive_id": message.drive_id,
        "activity_id": message.activity_id,
    }


class MongoInboxes(Inboxes):
    """One document per volunteer: its messages in delivery order and the unread ids."""

    def __init__(self, db: Database) -> None:
        self._inboxes = db["inboxes"]

    async def deliver(self, messages: Sequence[Message], at: datetime) -> list[Outcome]:
        results: dict[int, Outcome] = {}
        # One write per inbox per round: a volunteer's messages go one after another.
        pending = list(enumerate(messages))
        while pending:
            seen: set[str] = set()
            round_: list[tuple[int, Message]] = []
            later: list[tuple[int, Message]] = []
            for index, message in pending:
                (later if message.volunteer_id in seen else round_).append((index, message))
                seen.add(message.volunteer_id)
            await self._deliver_round(round_, at, results)
            pending = later
        return [results[i] for i in range(len(messages))]

    async def _deliver_round(
        self, round_: list[tuple[int, Message]], at: datetime, results: dict[int, Outcome]
    ) -> None:
        """Read which inboxes hold their message already (one read by `_id`s), then write the
        others, each write guarded by the message's absence (another writer may be first)."""
        found = await self._find({m.volunteer_id for _, m in round_})
        writes: list[tuple[int, Message]] = []
        first: list[tuple[int, Message]] = []
        for index, message in round_:
            doc = found.get(message.volunteer_id)
            if doc is None:
                first.append((index, message))
            elif doc["erased"]:
                results[index] = Outcome.NO_INBOX
            elif message.message_id in doc["ids"]:
                results[index] = Outcome.DUPLICATE
            else:
                writes.append((index, message))
        if first:
            # Inboxes that do not exist yet are created with their first message, together.
            taken = await insert_absent(self._inboxes, [_new_inbox(m, at) for _, m in first])
            for position, (index, message) in enumerate(first):
                results[index] = (
                    await self._deliver_missed(message, at)
                    if position in taken
                    else Outcome.DELIVERED
                )
        if not writes:
            return
        # One update per message (no bulk of updates: see the README's store limits),
        # a few at a time.
        limit = asyncio.Semaphore(WRITES_IN_FLIGHT)

        async def write(index: int, message: Message) -> None:
            async with limit:
                written = await self._inboxes.update_one(*_guarded_push(message, at))
            results[index] = (
                Outcome.DELIVERED
                if written.modified_count
                else await self._deliver_missed(message, at)
            )

        await asyncio.gather(*(write(index, message) for index, message in writes))

    async def _find(self, volunteer_ids: set[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        ids = sorted(volunteer_ids)
        for start in range(0, len(ids), IN_CHUNK):
            cursor = self._inboxes.find(
                {"_id": {"$in": ids[start : start + IN_CHUNK]}}, {"messages.id": 1, "erased": 1}
            )
            async for doc in cursor:
                found[doc["_id"]] = {
                    "ids": {m["id"] for m in doc.get("messages", [])},
                    "erased": bool(doc.get("erased")),
                }
        return found

    async def _deliver_missed(self, message: Message, at: datetime) -> Outcome:
        """The guarded write matched nothing: the message is there, the volunteer was
        erased, or the inbox does not exist yet (then it is created with the message)."""
        for _ in range(3):
            doc = await self._inboxes.find_one(
                {"_id": message.volunteer_id}, {"messages.id": 1, "erased": 1}
            )
            if doc is not None:
                if doc.get("erased"):
                    return Outcome.NO_INBOX
                if any(m["id"] == message.message_id for m in doc.get("messages", [])):
                    return Outcome.DUPLICATE
                written = await self._inboxes.update_one(
                    {"_id": message.volunteer_id, "messages.id": {"$ne": message.message_id}},
                    {
                        "$push": {
                            "messages": _message_doc(message, at),
                            "unread": message.message_id,
                        }
                    },
                )
                return Outcome.DELIVERED if written.modified_count else Outcome.DUPLICATE
            try:
                await self._inboxes.insert_one(_new_inbox(message, at))
                return Outcome.DELIVERED
            except DuplicateKeyError:
                continue
        return Outcome.DUPLICATE

    async def read(self, volunteer_id: str) -> InboxView | None:
        doc = await self._inboxes.find_one({"_id": volunteer_id})
        if doc is None or doc.get("erased"):
            return None
        unread = set(doc.get("unread", []))
        messages = [
            StoredMessage(
                position=position,
                message_id=m["id"],
                kind=m["kind"],
                params=m.get("params", {}),
                cause=m["cause"],
                caused_at=m["caused_at"],
                delivered_at=m["delivered_at"],
                drive_id=m.get("drive_id"),
                activity_id=m.get("activity_id"),
                read=m["id"] not in unread,
            )
            for position, m in enumerate(doc.get("messages", []), start=1)
        ]
        language = doc.get("language")
        return InboxView(
            volunteer_id,
            messages,
            len(unread),
            Language(language) if language in {lang.value for lang in Language} else None,
        )

    async def mark_read(self, volunteer_id: str, message_ids: Sequence[str]) -> None:
        for message_id in dict.fromkeys(message_ids):
            await self._inboxes.update_one(
                {"_id": volunteer_id, "unread": message_id}, {"$pull": {"unread": message_id}}
            )

    async def choose_language(self, volunteer_id: str, language: Language) -> None:
        await update_or_insert(
            self._inboxes,
            volunteer_id,
            {"$set": {"language": language.value}},
            {"messages": [], "unread": [], "language": language.value},
            guard={"erased": {"$ne": True}},
        )

    async def close(self, volunteer_id: str) -> None:
        await update_or_insert(
            self._inboxes,
            volunteer_id,
            {"$set": {"erased": True, "messages": [], "unread": []}},
            {"erased": True, "messages": [], "unread": []},
        )


def _new_inbox(message: Message, at: datetime) -> Document:
    return {
        "_id": message.volunteer_id,
        "messages": [_message_doc(message, at)],
        "unread": [message.message_id],
    }


def _guarded_push(message: Message, at: datetime) -> tuple[Document, Document]:
    return (
        {
            "_id": message.volunteer_id,
            "messages.id": {"$ne": message.message_id},
            "erased": {"$ne": True},
        },
        {"$push": {"messages": _message_doc(message, at), "unread": message.message_id}},
    )


def _profile(doc: dict[str, Any]) -> VolunteerProfile:
    return VolunteerProfile.model_validate(doc)


def _activity(doc: Document) -> Activity:
    return Activity(
        activity_id=doc["_id"],
        title=doc["title"],
        starts_at=doc["starts_at"],
        ends_at=doc["ends_at"],
        checkin_opens_at=doc["checkin_opens_at"],
        drive_id=doc.get("drive_id"),
        place_area_id=doc.get("place_area_id"),
        assigned=frozenset(doc.get("assigned", [])),
        checked_in=frozenset(doc.get("checked_in", [])),
        cancelled=bool(doc.get("cancelled")),
    )


class MongoFacts(Facts):
    """Volunteers by home area (`residents`: one document per area, a map of volunteer id to
    eligibility facts), logins, approved minutes, drives, teams and activities."""

    def __init__(self, db: Database) -> None:
        self._residents = db["residents"]
        self._volunteers = db["volunteers"]
        self._logins = db["logins"]
        self._drives = db["drives"]
        self._teams = TeamDocuments(db["teams"])
        self._activities = db["activities"]

    async def enrol(self, volunteer_id: str, profile: VolunteerProfile) -> None:
        facts = profile.model_dump(mode="json")
        area = profile.home_area_id
        await update_or_insert(
            self._volunteers,
            volunteer_id,
            {"$set": {"home_area_id": area}},
            {"home_area_id": area, "minutes": 0, "counted": {}},
            guard={"erased": {"$ne": True}},
        )
        known = await self._volunteers.find_one({"_id": volunteer_id}, {"erased": 1})
        if (known or {}).get("erased"):
            return
        await update_or_insert(
            self._residents,
            area,
            {"$set": {f"members.{volunteer_id}": facts}},
            {"members": {volunteer_id: facts}},
        )

    async def forget(self, volunteer_id: str) -> None:
        doc = await self._volunteers.find_one({"_id": volunteer_id})
        await update_or_insert(
            self._volunteers,
            volunteer_id,
            {"$set": {"erased": True}},
            {"erased": True, "minutes": 0, "counted": {}},
        )
        if doc is not None and doc.get("home_area_id"):
            await self._residents.update_one(
                {"_id": doc["home_area_id"]}, {"$unset": {f"members.{volunteer_id}": ""}}
            )

    async def bind_login(self, volunteer_id: str, subject: str) -> None:
        doc = await self._volunteers.find_one({"_id": volunteer_id}, {"subject": 1})
        earlier = (doc or {}).get("subject")
        if earlier and earlier != subject:  # one login per volunteer
            await self._logins.delete_one({"_id": earlier, "volunteer_id": volunteer_id})
        await update_or_insert(
            self._volunteers,
            volunteer_id,
            {"$set": {"subject": subject}},
            {"subject": subject, "minutes": 0, "counted": {}},
        )
        await update_or_insert(
            self._logins,
            subject,
            {"$set": {"volunteer_id": volunteer_id}},
            {"volunteer_id": volunteer_id},
        )

    async def unbind_login(self, volunteer_id: str, subject: str | None) -> None:
        if subject is None:
            doc = await self._volunteers.find_one({"_id": volunteer_id}, {"subject": 1})
            subject = (doc or {}).get("subject")
        if subject is None:
            return
        await self._logins.delete_one({"_id": subject, "volunteer_id": volunteer_id})
        await self._volunteers.update_one(
            {"_id": volunteer_id, "subject": subject}, {"$set": {"subject": None}}
        )

    async def residents(self, area_ids: Sequence[str]) -> list[tuple[str, VolunteerProfile]]:
        found: list[tuple[str, VolunteerProfile]] = []
        ids = list(area_ids)
        for start in range(0, len(ids), IN_CHUNK):
            async for doc in self._residents.find({"_id": {"$in": ids[start : start + IN_CHUNK]}}):
                for volunteer_id, facts in sorted(doc.get("members", {}).items()):
                    found.append((volunteer_id, _profile(facts)))
        return found

    async def volunteer_of(self, subject: str) -> str | None:
        doc = await self._logins.find_one({"_id": subject})
        return str(doc["volunteer_id"]) if doc else None

    async def count_minutes(self, volunteer_id: str, event_id: str, minutes: int) -> int:
        await update_or_insert(
            self._volunteers,
            volunteer_id,
            {"$inc": {"minutes": minutes}, "$set": {f"counted.{event_id}": minutes}},
            {"minutes": minutes, "counted": {event_id: minutes}},
            guard={f"counted.{event_id}": {"$exists": False}},
        )
        doc = await self._volunteers.find_one({"_id": volunteer_id}, {"minutes": 1})
        return int((doc or {}).get("minutes", 0))

    async def keep_drive(self, drive_id: str, fields: dict[str, Any]) -> None:
        await update_or_insert(self._drives, drive_id, {"$set": fields}, fields)

    async def close_drive(self, drive_id: str) -> None:
        await update_or_insert(self._drives, drive_id, {"$set": {"closed": True}}, {"closed": True})

    async def drive(self, drive_id: str) -> dict[str, Any] | None:
        return await self._drives.find_one({"_id": drive_id})

    async def teams(self, team_ids: Sequence[str]) -> tuple[dict[str, Team], int]:
        return await self._teams.read(team_ids)

    async def keep_teams(self, teams: dict[str, Team], version: int) -> None:
        await self._teams.keep(teams, version)

    async def activity(self, activity_id: str) -> Activity | None:
        doc = await self._activities.find_one({"_id": activity_id})
        return _activity(doc) if doc and "title" in doc else None

    async def keep_activity(self, activity: Activity, version: int) -> bool:
        fields = {
            "title": activity.title,
            "starts_at": activity.starts_at,
            "ends_at": activity.ends_at,
            "checkin_opens_at": activity.checkin_opens_at,
            "drive_id": activity.drive_id,
            "place_area_id": activity.place_area_id,
            "assigned": sorted(activity.assigned),
            "cancelled": activity.cancelled,
            "_v": version,
        }
        return await update_or_insert(
            self._activities,
            activity.activity_id,
            {"$set": fields},
            {**fields, "checked_in": []},
            guard={"_v": {"$lt": version}},
        )

    async def checked_in(self, activity_id: str, volunteer_id: str) -> None:
        await update_or_insert(
            self._activities,
            activity_id,
            {"$addToSet": {"checked_in": volunteer_id}},
            {"checked_in": [volunteer_id], "_v": 0},
        )


def _timer_doc(timer: Timer) -> Document:
    return {
        "activity_id": timer.activity_id,
        "kind": timer.kind.value,
        "lead_minutes": timer.lead_minutes,
        "starts_at": timer.starts_at,
        "due_at": timer.due_at,
    }


class MongoTimers(Timers):
    """`timer_buckets`: one document per 10-second bucket (`_id` its start, sortable);
    `timer_cursor`: the first bucket not yet wholly done."""

    CURSOR = "cursor"

    def __init__(self, db: Database) -> None:
        self._buckets = db["timer_buckets"]
        self._cursor = db["timer_cursor"]

    async def file(self, timers: Sequence[Timer], bucket: str) -> None:
        if not timers:
            return
        docs = [_timer_doc(t) for t in timers]
        await update_or_insert(
            self._buckets,
            bucket,
            {"$addToSet": {"timers": {"$each": docs}}},
            {"timers": docs, "fired": []},
        )

    async def buckets(self, keys: Sequence[str]) -> dict[str, tuple[list[Timer], set[str]]]:
        found: dict[str, tuple[list[Timer], set[str]]] = {}
        ids = list(keys)
        for start in range(0, len(ids), IN_CHUNK):
            async for doc in self._buckets.find({"_id": {"$in": ids[start : start + IN_CHUNK]}}):
                timers = [
                    Timer(
                        t["activity_id"],
                        MessageKind(t["kind"]),
                        int(t["lead_minutes"]),
                        t["starts_at"],
                        t["due_at"],
                    )
                    for t in doc.get("timers", [])
                ]
                found[doc["_id"]] = (timers, set(doc.get("fired", [])))
        return found

    async def fired(self, bucket: str, timer_id: str) -> None:
        await self._buckets.update_one({"_id": bucket}, {"$addToSet": {"fired": timer_id}})

    async def cursor(self) -> str | None:
        doc = await self._cursor.find_one({"_id": self.CURSOR})
        return str(doc["bucket"]) if doc else None

    async def advance(self, bucket: str) -> None:
        await update_or_insert(
            self._cursor,
            self.CURSOR,
            {"$set": {"bucket": bucket}},
            {"bucket": bucket},
            guard={"bucket": {"$lt": bucket}},
        )


class MongoTallies(Tallies):
    """`told`: per drive or activity, the volunteers told of each kind (small sets: a
    drive's sign-ups, an activity's assigned; broadcasts count in their own document)."""

    def __init__(self, db: Database) -> None:
        self._told = db["told"]

    async def tally(self, messages: Sequence[Message]) -> None:
        by_scope: dict[str, dict[str, list[str]]] = {}
        for message in messages:
            if message.kind is MessageKind.DRIVE_LAUNCHED:
                continue
            scopes = []
            if message.activity_id:
                scopes.append(f"activity:{message.activity_id}")
            elif message.drive_id:
                scopes.append(f"drive:{message.drive_id}")
            for scope in scopes:
                by_scope.setdefault(scope, {}).setdefault(message.kind.value, []).append(
                    message.volunteer_id
                )
        for scope, kinds in by_scope.items():
            await update_or_insert(
                self._told,
                scope,
                {"$addToSet": {k: {"$each": v} for k, v in kinds.items()}},
                {k: sorted(set(v)) for k, v in kinds.items()},
            )

    async def told(self, scope: str) -> dict[str, int]:
        doc = await self._told.find_one({"_id": scope}) or {}
        return {k: len(v) for k, v in doc.items() if k != "_id"}


class MongoBroadcasts(Broadcasts):
    """`broadcasts`: one document per drive launched (`_id` the launch event's id): the
    drive, how many areas of its scope are done (`cursor`), and how many were told."""

    def __init__(self, db: Database) -> None:
        self._broadcasts = db["broadcasts"]
        self._drives = db["drives"]

    async def start(self, broadcast_id: str, drive: dict[str, Any]) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self._broadcasts.insert_one(
                {
                    "_id": broadcast_id,
                    "drive_id": drive["drive_id"],
                    "drive": drive,
                    "cursor": 0,
                    "told": 0,
                    "done": False,
                }
            )

    async def unfinished(self) -> list[dict[str, Any]]:
        # Few documents (one per drive); a drive's broadcast is found again by its id.
        return [doc async for doc in self._broadcasts.find({"done": False})]

    async def advance(
        self, broadcast_id: str, cursor: int, next_cursor: int, told: int, done: bool
    ) -> bool:
        result = await self._broadcasts.find_one_and_update(
            {"_id": broadcast_id, "cursor": cursor},
            {"$set": {"cursor": next_cursor, "done": done}, "$inc": {"told": told}},
            return_document=ReturnDocument.AFTER,
        )
        return result is not None

    async def of_drive(self, drive_id: str) -> dict[str, Any] | None:
        drive = await self._drives.find_one({"_id": drive_id})
        if drive is None or "broadcast_id" not in drive:
            return None
        return await self._broadcasts.find_one({"_id": drive["broadcast_id"]})
