"""A directory's pages from the document store: one indexed query per page, the next page
starting strictly after the previous one's last (moment, id) key."""

from __future__ import annotations

from typing import Any

from muster_dispatch.application.ports import DirectoryPages, PageKey
from muster_runtime.mongo import ASCENDING, DESCENDING, Collection, Document


class StoredPages(DirectoryPages):
    def __init__(self, collection: Collection) -> None:
        self._collection = collection

    async def page(
        self,
        conditions: list[dict[str, Any]],
        moment: str,
        descending: bool,
        limit: int,
        after: PageKey | None,
    ) -> list[Document]:
        beyond = "$lt" if descending else "$gt"
        if after is not None:
            conditions = [
                *conditions,
                {
                    "$or": [
                        {moment: {beyond: after[0]}},
                        {moment: after[0], "_id": {beyond: after[1]}},
                    ]
                },
            ]
        direction = DESCENDING if descending else ASCENDING
        cursor = (
            self._collection.find({"$and": conditions})
            .sort([(moment, direction), ("_id", direction)])
            .limit(limit)
        )
        return [doc async for doc in cursor]
