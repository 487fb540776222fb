"""The versioned-documents port: one document per stream, changed by the stream's events
once each, in order of the stream version.

A document keeps in `_v` the stream version of the last event applied to it; `apply`
changes it only for a newer version, in the same atomic step, so a redelivered or replayed
event changes nothing. Updates are the small subset of the document store's update
operators that `projections.apply_in_memory` honours exactly: `$set`, `$inc`, `$push` of
one value, `$addToSet` of one value or of `$each` (dotted paths create what they pass
through). Between `buffer` and `flush` (a rebuild into an empty collection) an adapter
may keep the documents in memory; after `flush` they read as applying them one by one
would have left them.

Reads are by id, or by fields that equal a value (`matching`: for a field holding a list,
one that holds the value). Adapters: `adapters.mongodb.versioned_documents` (the document
store) and `adapters.memory.versioned_documents`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Document = dict[str, Any]


class VersionedDocuments(ABC):
    @abstractmethod
    async def get(self, doc_id: str) -> Document | None:
        """The document `doc_id` (None: none)."""

    @abstractmethod
    async def get_many(self, doc_ids: Iterable[str]) -> dict[str, Document]:
        """The documents of `doc_ids` that exist, by id."""

    @abstractmethod
    async def matching(self, fields: Mapping[str, Any]) -> list[Document]:
        """The documents whose every field of `fields` equals its value (a list field:
        holds it), in no particular order."""

    @abstractmethod
    async def apply(
        self, doc_id: str, version: int, update: Mapping[str, Any], *, create: bool = False
    ) -> bool:
        """Apply `update` if `version` is newer than what the document has seen.

        Pass `create` for the event that brings the document into being; other events
        expect it to exist. Returns whether it was applied (False: a redelivery or replay
        of an old event, or no document).
        """

    @abstractmethod
    async def insert(self, document: Document) -> bool:
        """Write a new document (with its `_id` and `_v`); False if its id is taken."""

    @abstractmethod
    async def set_fields(
        self, doc_id: str, fields: Mapping[str, Any], *, where: Mapping[str, Any] | None = None
    ) -> bool:
        """Set `fields` of the document `doc_id` outside any stream version (its `_v`
        kept), if it exists and its fields equal `where`. Returns whether it matched."""

    @abstractmethod
    async def ensure_index(self, name: str, fields: Sequence[tuple[str, bool]]) -> None:
        """Make reads by these fields (each with whether it runs descending) fast; an
        adapter that needs no index does nothing."""

    @abstractmethod
    def buffer(self) -> None:
        """Keep the documents in memory from now on (a rebuild into an empty collection)."""

    @abstractmethod
    async def flush(self) -> None:
        """Write the buffered documents, as applying them one by one would have left them."""


def holds(document: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    """Whether every field of `fields` equals its value in `document` (a list: holds it)."""
    for name, value in fields.items():
        present = document.get(name)
        if present != value and not (isinstance(present, list) and value in present):
            return False
    return True
