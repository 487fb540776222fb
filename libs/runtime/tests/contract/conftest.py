"""The contract suites run each contract on every adapter: in memory, and on the real
store (an integration test) under each profile of the store adapters, in a database of
the test's own (`MUSTER_MONGO_URL`, the development FerretDB by default), dropped after."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from muster_runtime.adapters.mongodb.profile import StoreProfile
from muster_runtime.mongo import Database, scratch_database


@pytest.fixture(
    params=[
        pytest.param(None, id="memory"),
        pytest.param("ferretdb", id="store-ferretdb-profile", marks=pytest.mark.integration),
        pytest.param("mongodb", id="store-mongodb-profile", marks=pytest.mark.integration),
    ]
)
def store_profile(request: pytest.FixtureRequest) -> StoreProfile | None:
    """None for the in-memory adapter; else the document-store adapters' profile."""
    profile: StoreProfile | None = request.param
    return profile


@pytest.fixture
async def scratch_db(store_profile: StoreProfile | None) -> AsyncIterator[Database | None]:
    """None for the in-memory adapter; a database of the test's own for the real store."""
    if store_profile is None:
        yield None
        return
    url = os.environ.get(
        "MUSTER_MONGO_URL", f"mongodb://127.0.0.1:{os.environ.get('MUSTER_MONGO_PORT', '27017')}/"
    )
    async with scratch_database(url, "muster_contract") as db:
        yield db
