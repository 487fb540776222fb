"""The document store serves every lookup by `_id` from its primary index.

Muster's hot paths (event-store appends, stream reads, projections' guarded updates,
counter cells) are point operations keyed by `_id`, sometimes with guard conditions
beside it. MongoDB serves them from the `_id` index. The local FerretDB is built with a
patch (deploy/local/ferretdb/patches) so it does too; unpatched, each one scanned the
whole table. These tests ask the store's query planner, so they hold on either store.
"""

from __future__ import annotations

from typing import Any

import pytest

from muster_runtime.mongo import Database

# MongoDB's winning-plan stages that read through the `_id` index.
MONGODB_INDEX_STAGES = ("IDHACK", "EXPRESS_IXSCAN", "IXSCAN", "CLUSTERED_IXSCAN")


def served_by_index(explained: dict[str, Any]) -> bool:
    planner = explained.get("queryPlanner", {})
    # FerretDB (SQLite): the query plan lines of SQLite's EXPLAIN QUERY PLAN.
    if "Plan" in planner:
        return any("USING INDEX" in line for line in planner["Plan"])
    # MongoDB: a stage of the winning plan.
    return any(stage in str(planner.get("winningPlan", "")) for stage in MONGODB_INDEX_STAGES)


@pytest.fixture
async def collection(db: Database) -> Any:
    things = db["things"]
    await things.insert_many(
        [{"_id": f"thing-{i}", "version": i, "hwm": {"p0": i}} for i in range(200)]
    )
    return things


@pytest.mark.parametrize(
    "query",
    [
        {"_id": "thing-150"},
        {"_id": "thing-150", "version": {"$lt": 151}},  # a versioned document's guard
        {"_id": "thing-150", "hwm.p0": 150},  # a counter cell's high-water-mark guard
        {"_id": {"$in": ["thing-3", "thing-150"]}},
    ],
    ids=["id", "id-and-version-guard", "id-and-mark-guard", "id-in"],
)
async def test_a_query_by_id_is_served_by_the_primary_index(
    db: Database, collection: Any, query: dict[str, Any]
) -> None:
    # Updates and deletes select their documents the same way as this find.
    explained = await db.command("explain", {"find": "things", "filter": query})

    assert served_by_index(explained), explained


async def test_guarded_point_operations_still_apply_the_whole_filter(collection: Any) -> None:
    missed = await collection.update_one(
        {"_id": "thing-150", "version": {"$lt": 150}}, {"$inc": {"version": 1}}
    )
    hit = await collection.update_one({"_id": "thing-150", "hwm.p0": 150}, {"$inc": {"version": 1}})
    found = await collection.find({"_id": {"$in": ["thing-3", "thing-150", "none"]}}).to_list()
    narrowed = await collection.find(
        {"_id": {"$in": ["thing-3", "thing-150"]}, "version": 3}
    ).to_list()

    assert (missed.matched_count, hit.matched_count) == (0, 1)
    assert (await collection.find_one({"_id": "thing-150"}))["version"] == 151
    assert sorted(d["_id"] for d in found) == ["thing-150", "thing-3"]
    assert [d["_id"] for d in narrowed] == ["thing-3"]
