"""The versioned-documents port's contract on every adapter: an event changes its
stream's document once, in version order, live and between `buffer` and `flush` alike;
reads by id and by fields find what was written."""

from __future__ import annotations

import pytest

from muster_runtime.adapters.memory.versioned_documents import InMemoryVersionedDocuments
from muster_runtime.adapters.mongodb.versioned_documents import StoredVersionedDocuments
from muster_runtime.mongo import Database
from muster_runtime.ports.versioned_documents import VersionedDocuments


@pytest.fixture
def documents(scratch_db: Database | None) -> VersionedDocuments:
    if scratch_db is None:
        return InMemoryVersionedDocuments()
    return StoredVersionedDocuments(scratch_db["documents"])


def edited(name: str) -> dict[str, dict[str, object]]:
    return {"$set": {"name": name}, "$inc": {"edits": 1}}


async def test_old_and_repeated_versions_change_nothing(documents: VersionedDocuments) -> None:
    assert await documents.apply("v-1", 1, edited("first"), create=True)
    assert await documents.apply("v-1", 2, edited("second"))
    assert not await documents.apply("v-1", 2, edited("again"))
    assert not await documents.apply("v-1", 1, edited("stale"), create=True)
    assert not await documents.apply("v-2", 1, edited("never created"))

    doc = await documents.get("v-1")
    assert doc is not None
    assert (doc["name"], doc["edits"], doc["_v"]) == ("second", 2, 2)
    assert await documents.get("v-2") is None


async def test_every_operator_of_the_subset_applies_as_documented(
    documents: VersionedDocuments,
) -> None:
    created = {
        "$set": {"activity_id": "a1", "place.area": "130203"},
        "$inc": {"edits": 1},
        "$push": {"events": {"type": "in"}},
        "$addToSet": {"tags": {"$each": ["x", "y"]}},
    }
    assert await documents.apply("a1", 1, created, create=True)
    assert await documents.apply(
        "a1",
        2,
        {"$push": {"events": {"type": "out"}}, "$addToSet": {"tags": "x"}, "$inc": {"edits": 2}},
    )
    assert await documents.apply("a1", 3, {"$addToSet": {"tags": "z"}})

    assert await documents.get("a1") == {
        "_id": "a1",
        "_v": 3,
        "activity_id": "a1",
        "place": {"area": "130203"},
        "edits": 3,
        "events": [{"type": "in"}, {"type": "out"}],
        "tags": ["x", "y", "z"],
    }


async def test_documents_are_found_by_ids_and_by_fields(documents: VersionedDocuments) -> None:
    for n, (owner, tags) in enumerate([("ana", ["red"]), ("bo", ["red", "blue"]), ("ana", [])]):
        update = {"$set": {"owner": owner, "tags": tags, "open": n < 2}}
        await documents.apply(f"d{n}", 1, update, create=True)

    assert set(await documents.get_many(["d0", "d2", "d9"])) == {"d0", "d2"}
    assert await documents.get_many([]) == {}
    assert {d["_id"] for d in await documents.matching({"owner": "ana"})} == {"d0", "d2"}
    assert {d["_id"] for d in await documents.matching({"tags": "red", "open": True})} == {
        "d0",
        "d1",
    }
    assert await documents.matching({"owner": "cy"}) == []


async def test_an_inserted_document_is_written_once_and_set_only_where_it_matches(
    documents: VersionedDocuments,
) -> None:
    assert await documents.insert({"_id": "s1", "_v": 0, "owner": "ana", "status": "new"})
    assert not await documents.insert({"_id": "s1", "_v": 0, "owner": "bo", "status": "new"})

    assert not await documents.set_fields("s1", {"flag": True}, where={"owner": "bo"})
    assert not await documents.set_fields("s9", {"flag": True})
    assert await documents.set_fields("s1", {"flag": True}, where={"owner": "ana"})
    assert await documents.apply("s1", 1, {"$set": {"status": "accepted"}})

    assert await documents.get("s1") == {
        "_id": "s1",
        "_v": 1,
        "owner": "ana",
        "status": "accepted",
        "flag": True,
    }


async def test_a_rebuild_between_buffer_and_flush_leaves_what_live_applying_leaves(
    documents: VersionedDocuments,
) -> None:
    await documents.ensure_index("owner_edits", [("owner", False), ("edits", True)])
    documents.buffer()
    assert await documents.apply("r1", 1, {"$set": {"owner": "ana"}}, create=True)
    assert await documents.apply("r1", 2, edited("renamed"))
    assert not await documents.apply("r1", 2, edited("repeated"))
    assert not await documents.apply("r2", 1, edited("never created"))
    read_while_buffered = await documents.get("r1")
    await documents.flush()

    expected = {"_id": "r1", "_v": 2, "owner": "ana", "name": "renamed", "edits": 1}
    assert read_while_buffered == expected
    assert await documents.get("r1") == expected
    assert await documents.get_many(["r1", "r2"]) == {"r1": expected}


async def test_reads_and_writes_between_buffer_and_flush_go_to_the_folded_documents(
    documents: VersionedDocuments,
) -> None:
    """A rebuild that inserts, sets fields or reads by fields while it folds sees what it
    folded, and its flush writes one document per id, as live applying leaves them."""
    documents.buffer()
    assert await documents.apply("b1", 1, {"$set": {"owner": "ana", "open": True}}, create=True)
    assert await documents.insert({"_id": "b2", "_v": 0, "owner": "ana", "open": False})
    assert not await documents.insert({"_id": "b1", "_v": 0, "owner": "bo", "open": False})
    assert await documents.set_fields("b1", {"flag": True}, where={"owner": "ana"})
    assert not await documents.set_fields("b1", {"flag": False}, where={"owner": "bo"})
    assert not await documents.set_fields("b9", {"flag": True})
    assert await documents.apply("b2", 1, {"$set": {"open": True}})
    folded = {d["_id"] for d in await documents.matching({"owner": "ana", "open": True})}
    await documents.flush()

    assert folded == {"b1", "b2"}
    assert await documents.get_many(["b1", "b2", "b9"]) == {
        "b1": {"_id": "b1", "_v": 1, "owner": "ana", "open": True, "flag": True},
        "b2": {"_id": "b2", "_v": 1, "owner": "ana", "open": True},
    }
    assert {d["_id"] for d in await documents.matching({"flag": True})} == {"b1"}
