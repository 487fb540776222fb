"""The drive funnel's facts in the document store: small per-key documents read and written
by `_id` only (insert first, then update), held per batch and counted in memory during a
rebuild."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from muster_reporting.application.ports import FunnelFacts
from muster_runtime.adapters.mongodb.bulk_documents import BulkFolded
from muster_runtime.mongo import Collection, Document, DuplicateKeyError


class StoredFunnelFacts(BulkFolded[Document], FunnelFacts):
    """Small per-key documents read and written by `_id` only (insert first, then update).

    Between `begin` and `commit`, writes are held in memory (and read back from there), so
    a batch's facts reach the store only after its counts and their history: a redelivered
    batch then finds the facts as they were and recomputes the same changes.
    """

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self._buffer: dict[str, Document] | None = None
        self._held: dict[str, Document] | None = None
        self._dirty: dict[str, set[str]] = {}

    def _document(self, key: str, folded: Document) -> Document:
        return folded

    def _folded(self, document: Document) -> Document:
        return document

    def begin(self) -> None:
        """Hold writes until `commit` (not while buffering: a rebuild has nothing to redo)."""
        self._held = None if self._buffer is not None else {}
        self._dirty = {}

    async def commit(self) -> None:
        held, self._held = self._held, None
        for key, fields in self._dirty.items():
            assert held is not None
            await self._write(key, {f: held[key][f] for f in fields})
        self._dirty = {}

    async def get(self, key: str) -> Document | None:
        if self._held is not None:
            return await self._holding(key)  # read once a batch, then from memory
        if self._buffer is not None:
            await self._read_back([key])
            return self._buffer.get(key)
        return await self.collection.find_one({"_id": key})

    async def set(self, key: str, fields: Mapping[str, Any], *, now: bool = False) -> None:
        """Set `fields`; `now` writes through at once even inside a batch."""
        if self._held is not None:
            document = await self._holding(key)
            document.update(fields)
            if now:
                await self._write(key, fields)
            else:
                self._dirty.setdefault(key, set()).update(fields)
            return
        if self._buffer is not None:
            await self._read_back([key])
            self._buffer.setdefault(key, {"_id": key}).update(fields)
            return
        await self._write(key, fields)

    async def add_to_set(self, key: str, field: str, value: str) -> None:
        if self._held is None and self._buffer is not None:
            await self._read_back([key])
        document = (
            await self._holding(key)
            if self._held is not None
            else self._buffer.setdefault(key, {"_id": key})
            if self._buffer is not None
            else None
        )
        if document is None:
            with contextlib.suppress(DuplicateKeyError):
                await self.collection.insert_one({"_id": key, field: [value]})
                return
            await self.collection.update_one({"_id": key}, {"$addToSet": {field: value}})
            return
        values = list(document.get(field, []))
        if value not in values:
            document[field] = [*values, value]
            if self._held is not None:
                self._dirty.setdefault(key, set()).add(field)

    async def _holding(self, key: str) -> Document:
        """The fact as this batch holds it (`{"_id": key}` alone for one never stored)."""
        assert self._held is not None
        if key not in self._held:
            stored = await self.collection.find_one({"_id": key})
            self._held[key] = dict(stored) if stored else {"_id": key}
        return self._held[key]

    async def _write(self, key: str, fields: Mapping[str, Any]) -> None:
        try:
            await self.collection.insert_one({"_id": key, **fields})
        except DuplicateKeyError:
            await self.collection.update_one({"_id": key}, {"$set": dict(fields)})
