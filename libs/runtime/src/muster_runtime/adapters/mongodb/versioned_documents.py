"""The versioned-documents port on the document store: one collection, each document
written by a guarded update (`_v` below the event's version) in one round trip, a
stream's first event by one insert; a rebuild folds in memory and inserts in bulk (every
read and write between `buffer` and `flush` goes to what it folded, never around it; a
document an earlier part of it wrote is read back before it is folded into)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pymongo.errors import DuplicateKeyError

from muster_runtime.adapters.memory.versioned_documents import (
    apply_versioned,
    insert_new,
    matching_in,
    set_fields_of,
)
from muster_runtime.adapters.mongodb.bulk_documents import BulkFolded, by_ids
from muster_runtime.mongo import ASCENDING, DESCENDING, Collection, Document
from muster_runtime.ports.versioned_documents import VersionedDocuments
from muster_runtime.projections import apply_in_memory


class FoldedDocuments(BulkFolded[Document]):
    """Documents of one collection by `_id` that a rebuild into an empty collection keeps
    in memory (`buffer`) and then writes in bulk (`flush`), as live applying leaves them."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self._buffer = None

    def _document(self, doc_id: str, folded: Document) -> Document:
        return folded

    def _folded(self, document: Document) -> Document:
        return document


class StoredVersionedDocuments(FoldedDocuments, VersionedDocuments):
    """Per-stream documents in one collection, guarded by the stream version."""

    async def get(self, doc_id: str) -> Document | None:
        if self._buffer is not None:
            await self._read_back([doc_id])
            return self._buffer.get(doc_id)
        return await self.collection.find_one({"_id": doc_id})

    async def get_many(self, doc_ids: Iterable[str]) -> dict[str, Document]:
        ids = sorted(set(doc_ids))
        if not ids:
            return {}
        if self._buffer is not None:
            await self._read_back(ids)
            return {i: self._buffer[i] for i in ids if i in self._buffer}
        return {str(doc["_id"]): doc async for doc in self.collection.find(by_ids(ids))}

    async def matching(self, fields: Mapping[str, Any]) -> list[Document]:
        if self._buffer is not None:
            return matching_in(self._buffer, fields)
        return [doc async for doc in self.collection.find(dict(fields))]

    async def apply(
        self, doc_id: str, version: int, update: Mapping[str, Any], *, create: bool = False
    ) -> bool:
        if self._buffer is not None:
            await self._read_back([doc_id])
            return apply_versioned(self._buffer, doc_id, version, update, create)
        if create:
            # A stream's first event creates the document: inserted as the update leaves
            # it (an upsert that matches nothing costs a collection scan on some stores).
            try:
                created = apply_in_memory({"_id": doc_id}, update) | {"_v": version}
            except ValueError:
                created = {"_id": doc_id, "_v": 0}  # a stub the update below fills
            try:
                await self.collection.insert_one(created)
                if created["_v"] == version:
                    return True
            except DuplicateKeyError:
                pass  # a redelivery, or a stub left by an earlier attempt
        update = dict(update)
        update["$set"] = {**update.get("$set", {}), "_v": version}
        result = await self.collection.update_one({"_id": doc_id, "_v": {"$lt": version}}, update)
        return result.modified_count == 1

    async def insert(self, document: Document) -> bool:
        if self._buffer is not None:
            return insert_new(self._buffer, document)
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def set_fields(
        self, doc_id: str, fields: Mapping[str, Any], *, where: Mapping[str, Any] | None = None
    ) -> bool:
        if self._buffer is not None:
            return set_fields_of(self._buffer, doc_id, fields, where)
        result = await self.collection.update_one(
            {**(where or {}), "_id": doc_id}, {"$set": dict(fields)}
        )
        return result.matched_count == 1

    async def ensure_index(self, name: str, fields: Sequence[tuple[str, bool]]) -> None:
        keys = [(field, DESCENDING if descending else ASCENDING) for field, descending in fields]
        await self.collection.create_index(keys, name=name)
