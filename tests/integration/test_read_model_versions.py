"""Which versions of a service's read models have a database is recorded beside the
pointer, and asked without `listDatabases` (which on the development store sizes every
database there is): the first time, versions built before the record are found by number;
a version about to be built is emptied of anything an unrecorded run left there."""

from __future__ import annotations

from muster_runtime.adapters.mongodb.read_model_versions import ReadModelVersions, version_name
from muster_runtime.mongo import Database
from tests.integration.conftest import Commands


async def test_versions_built_are_recorded_and_asked_without_listing_the_store(
    listened: tuple[Database, Commands],
) -> None:
    db, commands = listened
    client, base = db.client, db.name
    versions = ReadModelVersions(client, base, "bench")
    await client[version_name(base, 2)]["documents"].insert_one({"_id": "left by an old run"})
    await client[version_name(base, 3)]["documents"].insert_one({"_id": "left, unfinished"})
    try:
        commands.take()
        assert await versions.built() == [2, 3]  # found by number, once

        await versions.drop(3, ["documents"])
        await versions.building(4)
        await client[version_name(base, 4)]["documents"].insert_one({"_id": "built"})
        assert await versions.built() == [2, 4]
        await versions.drop(2, ["documents"])
        assert await versions.built() == [4]
        sent = {name for name, _ in commands.take()}

        assert "listDatabases" not in sent
        assert await client[version_name(base, 2)].list_collection_names() == []
    finally:
        for version in (2, 3, 4):
            await client.drop_database(version_name(base, version))


async def test_a_version_about_to_be_built_is_emptied_of_what_an_unrecorded_run_left(
    db: Database,
) -> None:
    versions = ReadModelVersions(db.client, db.name, "bench")
    client, base = db.client, db.name
    left = client[version_name(base, 1)]["documents"]
    await left.insert_one({"_id": "half-built"})
    try:
        await versions.building(1)

        assert await left.count_documents({}) == 0
        assert await versions.built() == [1]
    finally:
        await client.drop_database(version_name(base, 1))
