"""The channels' ports on the document store: preferences by volunteer, webhook
subscriptions, and planned pushes (one document each, `_id` the delivery id). Organisers'
counts per drive and activity are read from the pushes themselves: each push carries its
own tallies, moved by the same write that settles it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

from pymongo import ASCENDING

from muster_notify.adapters.store import IN_CHUNK
from muster_notify.application.channels import (
    PreferenceBook,
    Push,
    Pushes,
    PushState,
    Settlement,
    Subscription,
    Subscriptions,
    message_doc,
    message_of,
)
from muster_notify.domain.messages import Language, MessageKind
from muster_notify.domain.preferences import Channel, Preferences, QuietHours
from muster_notify.domain.rules import BUCKET_SECONDS, bucket_of, bucket_start, buckets_from
from muster_runtime.mongo import Database, Document, insert_absent, update_or_insert


def preferences_doc(preferences: Preferences) -> Document:
    return {
        "language": preferences.language.value if preferences.language else None,
        "quiet_start": preferences.quiet.start.strftime("%H:%M"),
        "quiet_end": preferences.quiet.end.strftime("%H:%M"),
        "time_zone": preferences.quiet.time_zone,
        "off": sorted(f"{kind.value}:{channel.value}" for kind, channel in preferences.off),
    }


def preferences_of(doc: Document) -> Preferences:
    off = set()
    for pair in doc.get("off", []):
        kind, channel = str(pair).rsplit(":", 1)
        off.add((MessageKind(kind), Channel(channel)))
    return Preferences(
        language=Language(doc["language"]) if doc.get("language") else None,
        quiet=QuietHours(
            start=time.fromisoformat(doc["quiet_start"]),
            end=time.fromisoformat(doc["quiet_end"]),
            time_zone=doc["time_zone"],
        ),
        off=frozenset(off),
    )


class MongoPreferenceBook(PreferenceBook):
    def __init__(self, db: Database) -> None:
        self._preferences = db["notification_preferences"]

    async def of(self, volunteer_ids: Sequence[str]) -> dict[str, Preferences]:
        found: dict[str, Preferences] = {}
        for start in range(0, len(volunteer_ids), IN_CHUNK):
            chunk = list(volunteer_ids[start : start + IN_CHUNK])
            async for doc in self._preferences.find({"_id": {"$in": chunk}}):
                found[str(doc["_id"])] = preferences_of(doc)
        return found

    async def keep(self, volunteer_id: str, preferences: Preferences) -> None:
        doc = preferences_doc(preferences)
        await update_or_insert(self._preferences, volunteer_id, {"$set": doc}, doc)

    async def forget(self, volunteer_id: str) -> None:
        await self._preferences.delete_one({"_id": volunteer_id})


class MongoSubscriptions(Subscriptions):
    def __init__(self, db: Database) -> None:
        self._subscriptions = db["webhook_subscriptions"]

    async def add(self, subscription: Subscription) -> None:
        await self._subscriptions.insert_one(
            {
                "_id": subscription.subscription_id,
                "area_id": subscription.area_id,
                "url": subscription.url,
                "secret": subscription.secret,
                "created_by": subscription.created_by,
                "kinds": sorted(k.value for k in subscription.kinds),
            }
        )

    async def remove(self, subscription_id: str) -> bool:
        result = await self._subscriptions.delete_one({"_id": subscription_id})
        return bool(result.deleted_count)

    async def get(self, subscription_id: str) -> Subscription | None:
        doc = await self._subscriptions.find_one({"_id": subscription_id})
        return _subscription(doc) if doc else None

    async def active(self) -> list[Subscription]:
        # Few (organisations' systems, not volunteers): read whole.
        return [_subscription(doc) async for doc in self._subscriptions.find({})]


def _subscription(doc: Document) -> Subscription:
    return Subscription(
        subscription_id=str(doc["_id"]),
        area_id=str(doc["area_id"]),
        url=str(doc["url"]),
        secret=str(doc["secret"]),
        created_by=str(doc["created_by"]),
        kinds=frozenset(MessageKind(k) for k in doc.get("kinds", [])),
    )


def _scopes(push: Push) -> list[str]:
    message = push.message
    if message.activity_id:
        return [f"activity:{message.activity_id}"]
    if message.drive_id:
        return [f"drive:{message.drive_id}"]
    return []


# Buckets read per claim at most (an hour): a long outage is caught up over a few claims.
BUCKETS_PER_CLAIM = 360
WINDOWS_PER_CLAIM = 24
SETTLE = timedelta(seconds=30)

COUNTED = (
    "planned",
    "sent",
    "failed",
    "dead",
    "withdrawn",
    "redriven",
    "delivered",
    "no_address",
    "erased",
)
# A push's own tallies (moved in the write that settles or re-drives it) and the counts
# they sum to.
TALLIES = {"failures": "failed", "dead_letters": "dead", "redrives": "redriven"}
# Counted by the state a push is in.
BY_STATE = {PushState.SENT.value: "sent", PushState.WITHDRAWN.value: "withdrawn"}
# The volunteer service's report of an email, as counted.
REPORTED = ("delivered", "no_address", "erased", "failed")


def scope_filter(scope: str) -> Document:
    """The pushes counted for `drive:<id>` (those of no activity) or `activity:<id>`."""
    kind, _, scope_id = scope.partition(":")
    if kind == "activity":
        return {"message.activity_id": scope_id}
    return {"message.drive_id": scope_id, "message.activity_id": None}


class MongoPushes(Pushes):
    """`pushes`: one document per delivery, found for sending through `push_due` (each
    channel's time buckets of delivery ids and its cursor, the earliest bucket to read).

    Counts are never kept apart from the pushes (a process stopped between two writes
    would lose or double one): a push's state, its reported email outcome and its
    tallies of failed tries, dead-letterings and re-drives are written by the one update
    that changes it, and `counts` sums them in one aggregation with one accumulator
    (FerretDB 1.24 computes only the first accumulator of a `$group` right)."""

    def __init__(self, db: Database) -> None:
        self._pushes = db["pushes"]
        self._due = db["push_due"]

    async def create_indexes(self) -> None:
        await self._pushes.create_index([("volunteer_id", ASCENDING), ("state", ASCENDING)])
        await self._pushes.create_index([("message.drive_id", ASCENDING)])
        await self._pushes.create_index([("message.activity_id", ASCENDING)])

    async def plan(self, pushes: Sequence[Push]) -> int:
        docs: list[Document] = [
            {
                "_id": push.delivery_id,
                "channel": push.channel.value,
                "target": push.target,
                "volunteer_id": push.message.volunteer_id,
                "area_id": push.area_id,
                "message": message_doc(push.message),
                "state": PushState.PENDING.value,
                "not_before": push.not_before,
                "bucket": bucket_of(push.not_before),
                "leased_until": None,
                "attempts": 0,
                "errors": [],
            }
            for push in pushes
        ]
        new = 0
        for start in range(0, len(docs), IN_CHUNK):
            chunk = docs[start : start + IN_CHUNK]
            taken = await insert_absent(self._pushes, chunk)
            fresh = [pushes[start + i] for i in range(len(chunk)) if i not in taken]
            new += len(fresh)
            await self._file([(p.channel, p.delivery_id, bucket_of(p.not_before)) for p in fresh])
            # Planned before (a redelivered message): a restart between its insert and its
            # filing left it unfiled, so those still pending are filed again where they are.
            taken_ids = [str(chunk[i]["_id"]) for i in taken]
            if taken_ids:
                await self._file(
                    [
                        (Channel(doc["channel"]), str(doc["_id"]), str(doc["bucket"]))
                        async for doc in self._pushes.find(
                            {"_id": {"$in": taken_ids}, "state": PushState.PENDING.value}
                        )
                    ]
                )
        return new

    async def _file(self, entries: Sequence[tuple[Channel, str, str]]) -> None:
        """Put delivery ids in their channel's time buckets.

        The channel's cursor goes back to the earliest bucket first (a stop after it
        leaves nothing behind the cursor), and its `filed` count moves before and after
        the buckets are written: a walk that read the cursor meanwhile fails its guarded
        move past a bucket it may have read before the ids came."""
        by_bucket: dict[tuple[Channel, str], list[str]] = {}
        for channel, delivery_id, bucket in entries:
            by_bucket.setdefault((channel, bucket), []).append(delivery_id)
        earliest: dict[Channel, str] = {}
        for channel, bucket in by_bucket:
            earliest[channel] = min(bucket, earliest.get(channel, bucket))
        for channel, bucket in earliest.items():
            await update_or_insert(
                self._due,
                f"cursor:{channel.value}",
                {"$min": {"bucket": bucket}, "$inc": {"filed": 1}},
                {"bucket": bucket, "filed": 1},
            )
        for (channel, bucket), ids in by_bucket.items():
            await update_or_insert(
                self._due,
                f"{channel.value}:{bucket}",
                {"$addToSet": {"ids": {"$each": ids}}},
                {"ids": sorted(set(ids))},
            )
        for channel in earliest:
            await self._due.update_one({"_id": f"cursor:{channel.value}"}, {"$inc": {"filed": 1}})

    async def _unfile(self, entries: Sequence[tuple[str, str, str]]) -> None:
        """Take delivery ids (channel value, id, bucket) out of their buckets."""
        by_bucket: dict[str, list[str]] = {}
        for channel, delivery_id, bucket in entries:
            by_bucket.setdefault(f"{channel}:{bucket}", []).append(delivery_id)
        await asyncio.gather(
            *(
                self._due.update_one({"_id": key}, {"$pull": {"ids": {"$in": ids}}})
                for key, ids in by_bucket.items()
            )
        )

    async def claim_due(
        self, channel: Channel, now: datetime, lease: timedelta, limit: int
    ) -> list[Push]:
        free: list[Document] = []
        # An hour of buckets at a time; a stretch of empty ones (a quiet night) is
        # walked past, up to a day per claim.
        for _ in range(WINDOWS_PER_CLAIM):
            moved = await self._walk(channel, now, limit, free)
            if free or not moved:
                break
        free = free[:limit]
        if not free:
            return []
        # One write leases them all, for this claim's token; a push another courier
        # leased meanwhile does not match (its lease is in the future). A lease that ran
        # out unsettled is a try cut short (its process stopped mid-try): counted as a
        # failed try by the write that takes the push back.
        token = uuid.uuid4().hex
        lease_it = {"leased_until": now + lease, "lease_token": token}
        claimed_ids = [doc["_id"] for doc in free]
        cut_short = [doc["_id"] for doc in free if doc.get("leased_until") is not None]
        fresh = [doc["_id"] for doc in free if doc.get("leased_until") is None]
        pending = {"state": PushState.PENDING.value}
        if fresh:
            await self._pushes.update_many(
                {"_id": {"$in": fresh}, **pending, "leased_until": None}, {"$set": lease_it}
            )
        if cut_short:
            await self._pushes.update_many(
                {"_id": {"$in": cut_short}, **pending, "leased_until": {"$lte": now}},
                {
                    "$set": lease_it,
                    "$inc": {"failures": 1},
                    "$push": {"errors": f"{now.isoformat()} cut short: its lease ran out"},
                },
            )
        leased = self._pushes.find({"_id": {"$in": claimed_ids}, "lease_token": token})
        return sorted([_push(doc) async for doc in leased], key=lambda p: p.not_before)

    async def _walk(
        self, channel: Channel, now: datetime, limit: int, free: list[Document]
    ) -> bool:
        """Collect due, unleased pushes from the channel's buckets into `free`; moves the
        cursor past buckets done. True if it moved past every bucket it read."""
        cursor_doc = await self._due.find_one({"_id": f"cursor:{channel.value}"})
        if cursor_doc is None:
            return False  # nothing was ever filed
        cursor, filed = str(cursor_doc["bucket"]), cursor_doc.get("filed")
        keys = buckets_from(cursor, now, BUCKETS_PER_CLAIM)
        found = {
            str(doc["_id"]).split(":", 1)[1]: list(doc.get("ids", []))
            async for doc in self._due.find(
                {"_id": {"$in": [f"{channel.value}:{k}" for k in keys]}}
            )
        }
        stale: list[tuple[str, str, str]] = []
        next_cursor: str | None = None
        settled = True
        for key in keys:
            ids = found.get(key, [])
            gone: set[str] = set()  # settled, moved to another bucket, or missing
            for start in range(0, len(ids), IN_CHUNK):
                if len(free) >= limit:
                    break
                chunk = ids[start : start + IN_CHUNK]
                gone.update(chunk)
                async for doc in self._pushes.find({"_id": {"$in": chunk}}):
                    pending = doc.get("state") == PushState.PENDING.value
                    leased = doc.get("leased_until") is not None and doc["leased_until"] > now
                    if pending and doc.get("bucket") != key and leased:
                        # Being tried: a retry is filed here before the push moves here.
                        gone.discard(str(doc["_id"]))
                    if pending and doc.get("bucket") == key:
                        gone.discard(str(doc["_id"]))
                        if doc["not_before"] <= now and (
                            doc.get("leased_until") is None or doc["leased_until"] <= now
                        ):
                            free.append(doc)
            stale.extend((channel.value, delivery_id, key) for delivery_id in gone)
            ends = bucket_start(key) + timedelta(seconds=BUCKET_SECONDS)
            emptied = gone == set(ids)
            # Past a bucket only once it is empty and older than the settling time (a
            # replica's clock a little behind may still file into it).
            if settled and emptied and ends <= now - SETTLE:
                next_cursor = bucket_of(ends)
            else:
                settled = False
        if stale:
            await self._unfile(stale)
        if next_cursor is None:
            return False
        moved = await self._due.update_one(
            {"_id": f"cursor:{channel.value}", "bucket": cursor, "filed": filed},
            {"$set": {"bucket": next_cursor}},
        )
        return bool(moved.modified_count) and next_cursor == bucket_of(
            bucket_start(keys[-1]) + timedelta(seconds=BUCKET_SECONDS)
        )

    async def settle(self, settlements: Sequence[Settlement], at: datetime) -> list[bool]:
        # A retry is filed in the bucket of its next try before the push moves there: a
        # stop in between leaves it in both, and the walk drops the one it is not in.
        await self._file(
            [
                (s.push.channel, s.push.delivery_id, bucket_of(s.retry))
                for s in settlements
                if s.retry
            ]
        )

        async def one(settlement: Settlement) -> bool:
            push, state = settlement.push, settlement.state
            tallies = {
                "attempts": 0 if state is PushState.WITHDRAWN else 1,
                # A failed try: one to retry, or the last (a dead-lettering with an error).
                "failures": int(
                    state is PushState.PENDING
                    or (state is PushState.DEAD and bool(settlement.error))
                ),
                "dead_letters": int(state is PushState.DEAD),
            }
            update: dict[str, Any] = {
                "$set": {"state": state.value, "leased_until": None, "settled_at": at},
                "$inc": tallies,
            }
            if settlement.retry is not None:
                update["$set"]["not_before"] = settlement.retry
                update["$set"]["bucket"] = bucket_of(settlement.retry)
            if settlement.error:
                update["$push"] = {"errors": f"{at.isoformat()} {settlement.error}"[:500]}
            result = await self._pushes.update_one(
                {
                    "_id": push.delivery_id,
                    "state": PushState.PENDING.value,
                    "attempts": push.attempts,
                },
                update,
            )
            return bool(result.modified_count)

        changed = list(await asyncio.gather(*(one(s) for s in settlements)))
        recorded = [s for s, c in zip(settlements, changed, strict=True) if c]
        # Out of the bucket it was due in (a stop before this: the walk drops it there).
        await self._unfile(
            [
                (s.push.channel.value, s.push.delivery_id, bucket_of(s.push.not_before))
                for s in recorded
                if s.retry is None or bucket_of(s.retry) != bucket_of(s.push.not_before)
            ]
        )
        return changed

    async def withdraw_volunteer(self, volunteer_id: str) -> dict[Channel, int]:
        withdrawn: dict[Channel, int] = {}
        async for doc in self._pushes.find(
            {"volunteer_id": volunteer_id, "state": PushState.PENDING.value}
        ):
            push = _push(doc)
            result = await self._pushes.update_one(
                {"_id": doc["_id"], "state": PushState.PENDING.value},
                {"$set": {"state": PushState.WITHDRAWN.value, "leased_until": None}},
            )
            if result.modified_count:
                withdrawn[push.channel] = withdrawn.get(push.channel, 0) + 1
                await self._unfile([(push.channel.value, push.delivery_id, str(doc["bucket"]))])
        return withdrawn

    async def counts(self, scope: str) -> dict[str, dict[str, int]]:
        found = {channel.value: dict.fromkeys(COUNTED, 0) for channel in Channel}
        # One aggregation, one accumulator: pushes grouped by all they are counted by
        # (tallies included, few distinct values), each group's tallies times its size.
        fields = ("channel", "state", "outcome", *TALLIES)
        pipeline = [
            {"$match": scope_filter(scope)},
            {"$group": {"_id": {f: f"${f}" for f in fields}, "n": {"$sum": 1}}},
        ]
        async for doc in await self._pushes.aggregate(pipeline):
            key = doc["_id"]
            if key.get("channel") not in found:
                continue
            counts, n = found[key["channel"]], int(doc["n"])
            counts["planned"] += n
            if key.get("state") in BY_STATE:
                counts[BY_STATE[key["state"]]] += n
            if key.get("outcome") in REPORTED and key["outcome"] != "failed":
                counts[key["outcome"]] += n
            for field, name in TALLIES.items():
                counts[name] += n * int(key.get(field) or 0)
        return found

    async def record_outcome(self, delivery_id: str, outcome: str) -> None:
        await self._pushes.update_one({"_id": delivery_id}, {"$set": {"outcome": outcome}})

    async def dead(self, channel: Channel, limit: int) -> list[Push]:
        found = self._pushes.find(
            {"channel": channel.value, "state": PushState.DEAD.value}, limit=limit
        )
        return [_push(doc) async for doc in found]

    async def redrive(self, delivery_ids: Sequence[str], at: datetime) -> int:
        # Filed first (a stop before the update leaves only an entry the walk drops).
        await self._file(
            [
                (Channel(doc["channel"]), str(doc["_id"]), bucket_of(at))
                async for doc in self._pushes.find(
                    {"_id": {"$in": list(delivery_ids)}, "state": PushState.DEAD.value},
                    {"channel": 1},
                )
            ]
        )
        redriven = 0
        for delivery_id in delivery_ids:
            result = await self._pushes.update_one(
                {"_id": delivery_id, "state": PushState.DEAD.value},
                {
                    "$set": {
                        "state": PushState.PENDING.value,
                        "not_before": at,
                        "bucket": bucket_of(at),
                        "attempts": 0,
                        "leased_until": None,
                    },
                    "$inc": {"redrives": 1},
                },
            )
            redriven += result.modified_count
        return redriven


def _push(doc: Document) -> Push:
    return Push(
        channel=Channel(doc["channel"]),
        target=str(doc["target"]),
        message=message_of(doc["message"]),
        area_id=doc.get("area_id"),
        not_before=doc["not_before"],
        attempts=int(doc.get("attempts", 0)),
        errors=tuple(doc.get("errors", [])),
    )
