"""Which versions of a service's read models have a database is recorded beside the
pointer: after a first look at the store (for versions built before the record), asking
sends no `listDatabases`, which on the development store sizes every database there is."""

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
    await client[version_name(base, 3)]["documents"].insert_one({"_id": "left by an old run"})
    try:
        assert await versions.built() == [3]  # found in the store, once

        commands.take()
        await versions.building(4)
        await client[version_name(base, 4)]["documents"].insert_one({"_id": "built"})
        assert await versions.built() == [3, 4]
        await versions.drop(3, ["documents"])
        assert await versions.built() == [4]
        sent = {name for name, _ in commands.take()}

        assert "listDatabases" not in sent
        assert await client[version_name(base, 3)].list_collection_names() == []
    finally:
        for version in (3, 4):
            await client.drop_database(version_name(base, version))
