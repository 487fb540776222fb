"""The versioned-documents port in memory: documents in a dict, updated by
`apply_in_memory` (the port's update subset, exactly)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from muster_runtime.ports.versioned_documents import Document, VersionedDocuments, holds
from muster_runtime.projections import apply_in_memory


class InMemoryVersionedDocuments(VersionedDocuments):
    def __init__(self) -> None:
        self._documents: dict[str, Document] = {}

    async def get(self, doc_id: str) -> Document | None:
        doc = self._documents.get(doc_id)
        return None if doc is None else copy.deepcopy(doc)

    async def get_many(self, doc_ids: Iterable[str]) -> dict[str, Document]:
        return {i: copy.deepcopy(self._documents[i]) for i in set(doc_ids) if i in self._documents}

    async def matching(self, fields: Mapping[str, Any]) -> list[Document]:
        return matching_in(self._documents, fields)

    async def apply(
        self, doc_id: str, version: int, update: Mapping[str, Any], *, create: bool = False
    ) -> bool:
        update = copy.deepcopy(dict(update))  # nothing stored shares the caller's values
        return apply_versioned(self._documents, doc_id, version, update, create)

    async def insert(self, document: Document) -> bool:
        return insert_new(self._documents, document)

    async def set_fields(
        self, doc_id: str, fields: Mapping[str, Any], *, where: Mapping[str, Any] | None = None
    ) -> bool:
        return set_fields_of(self._documents, doc_id, fields, where)

    async def ensure_index(self, name: str, fields: Sequence[tuple[str, bool]]) -> None:
        pass

    def buffer(self) -> None:
        pass

    async def flush(self) -> None:
        pass


def apply_versioned(
    documents: dict[str, Document],
    doc_id: str,
    version: int,
    update: Mapping[str, Any],
    create: bool,
) -> bool:
    """`VersionedDocuments.apply` on documents held in memory."""
    if create:
        documents.setdefault(doc_id, {"_id": doc_id, "_v": 0})
    doc = documents.get(doc_id)
    if doc is None or doc["_v"] >= version:
        return False
    apply_in_memory(doc, update)
    doc["_v"] = version
    return True


def matching_in(documents: dict[str, Document], fields: Mapping[str, Any]) -> list[Document]:
    """`VersionedDocuments.matching` on documents held in memory (copies of them)."""
    return [copy.deepcopy(d) for d in documents.values() if holds(d, fields)]


def insert_new(documents: dict[str, Document], document: Document) -> bool:
    """`VersionedDocuments.insert` on documents held in memory."""
    if document["_id"] in documents:
        return False
    documents[document["_id"]] = copy.deepcopy(document)
    return True


def set_fields_of(
    documents: dict[str, Document],
    doc_id: str,
    fields: Mapping[str, Any],
    where: Mapping[str, Any] | None,
) -> bool:
    """`VersionedDocuments.set_fields` on documents held in memory."""
    doc = documents.get(doc_id)
    if doc is None or not holds(doc, where or {}):
        return False
    apply_in_memory(doc, {"$set": copy.deepcopy(dict(fields))})
    return True
