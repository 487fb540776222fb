"""Versions of a service's read models: each version in a database of its own beside the
service's, and one pointer document naming the version reads and writes go to.

Version 0 is the service's own database (the read models as they were before any rebuild);
version N > 0 is `<database>_v<N>`. A rebuild builds the next version while the live one
keeps serving, then moves the pointer in one update: readers never see a version half
built. Until the rebuild has also applied what arrived while it switched, the pointer
says so (`catch_up_from`, with a deadline): reports keep reading the previous version and
consumers wait, so each partition's events reach the new version in order (its cells count
an offset once by marks that only rise). Past the deadline (the rebuild died), a consumer
puts the pointer back on the previous version, which is whole: nothing wrote it since.

Which versions have a database is recorded beside the pointer (`building`, `drop`), not
listed from the store: a document store's `listDatabases` may size every database on the
server (FerretDB's reads each one's every page), which costs seconds to a minute and grows
with all the data the store holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from muster_runtime.mongo import Database, DuplicateKeyError, MongoClient

POINTERS = "read_model_versions"
# How far past the live version runs from before versions were recorded may have built one
# (each run numbered its version one past every version it found).
UNRECORDED_PAST_LIVE = 3


@dataclass(frozen=True)
class Pointer:
    version: int
    # While the version is being completed: where it is whole up to per source
    # (`topic:partition`); None once complete.
    catch_up_from: Mapping[str, int] | None = field(default=None)
    previous: int = 0
    deadline: datetime | None = None

    @property
    def complete(self) -> bool:
        return self.catch_up_from is None

    @property
    def serving(self) -> int:
        """The version reports read: the previous one until this one is complete."""
        return self.version if self.complete else self.previous


def version_name(base: str, version: int) -> str:
    """The database of a version of the read models."""
    return base if version == 0 else f"{base}_v{version}"


class ReadModelVersions:
    """The pointer of one service's read models, and the databases of their versions."""

    def __init__(self, client: MongoClient, base: str, service: str) -> None:
        self._client = client
        self.base = base
        self._service = service
        self._pointers = client[base][POINTERS]
        self._built_id = f"{service}.built"

    def database(self, version: int) -> Database:
        return self._client[version_name(self.base, version)]

    async def live(self) -> Pointer:
        """The version reads and writes go to now (0 if no rebuild ever switched)."""
        document = await self._pointers.find_one({"_id": self._service})
        if document is None:
            return Pointer(0)
        return Pointer(
            int(document["version"]),
            document.get("catch_up_from"),
            int(document.get("previous", 0)),
            document.get("deadline"),
        )

    async def built(self) -> list[int]:
        """Every version that has a database of its own (live or not), as recorded; the
        first time, for versions built before they were recorded, those found among the
        numbers up to a few past the live one (where runs before the record built them)."""
        record = await self._pointers.find_one({"_id": self._built_id})
        if record is None:
            live = (await self.live()).version
            found = [
                version
                for version in range(1, live + UNRECORDED_PAST_LIVE + 1)
                if await self.database(version).list_collection_names()
            ]
            await self._pointers.update_one(
                {"_id": self._built_id},
                {"$addToSet": {"versions": {"$each": found}}},
                upsert=True,
            )
            return found
        return sorted(int(v) for v in record.get("versions", []))

    async def building(self, version: int) -> None:
        """Record that `version` gets a database, and empty it of anything an unrecorded
        run left there (before anything is written to it)."""
        await self._pointers.update_one(
            {"_id": self._built_id}, {"$addToSet": {"versions": version}}, upsert=True
        )
        await self._client.drop_database(version_name(self.base, version))

    async def switch(
        self, old: int, new: int, catch_up_from: Mapping[str, int], within: timedelta
    ) -> bool:
        """Point at `new`, to be completed from `catch_up_from` within `within`, if the
        pointer still names `old`, complete (one update: a concurrent switch loses).
        Returns whether it switched."""
        fields = {
            "version": new,
            "previous": old,
            "catch_up_from": dict(catch_up_from),
            "deadline": datetime.now(UTC) + within,
        }
        if old == 0 and await self._pointers.find_one({"_id": self._service}) is None:
            try:
                await self._pointers.insert_one({"_id": self._service, **fields})
                return True
            except DuplicateKeyError:
                return False
        result = await self._pointers.update_one(
            {"_id": self._service, "version": old, "catch_up_from": None}, {"$set": fields}
        )
        return result.matched_count == 1

    async def completed(self, version: int) -> bool:
        """The version holds everything up to the head it caught up to; False if a consumer
        gave up waiting and went back to the previous version first."""
        result = await self._pointers.update_one(
            {"_id": self._service, "version": version, "catch_up_from": {"$ne": None}},
            {"$set": {"catch_up_from": None}},
        )
        return result.matched_count == 1

    async def revert(self, pointer: Pointer) -> None:
        """Back to the previous version: `pointer` was never completed by its deadline."""
        await self._pointers.update_one(
            {"_id": self._service, "version": pointer.version, "catch_up_from": {"$ne": None}},
            {"$set": {"version": pointer.previous, "catch_up_from": None}},
        )

    async def drop(self, version: int, collections: Sequence[str]) -> None:
        """Remove a version that is not live: its database, or in the service's own
        database (version 0) its read models' `collections`."""
        if version == 0:
            for name in collections:
                await self._client[self.base].drop_collection(name)
        else:
            await self._client.drop_database(version_name(self.base, version))
            await self._pointers.update_one(
                {"_id": self._built_id}, {"$pull": {"versions": version}}
            )
