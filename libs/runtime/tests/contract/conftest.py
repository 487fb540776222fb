"""The contract suites run each contract on every adapter: in memory, and on the real
store (an integration test) in a database of the test's own (`MUSTER_MONGO_URL`, the
development FerretDB by default), dropped after."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from muster_runtime.mongo import Database, scratch_database


@pytest.fixture(
    params=[pytest.param("memory"), pytest.param("mongodb", marks=pytest.mark.integration)]
)
async def scratch_db(request: pytest.FixtureRequest) -> AsyncIterator[Database | None]:
    """None for the in-memory adapter; a database of the test's own for the real store."""
    if request.param == "memory":
        yield None
        return
    url = os.environ.get(
        "MUSTER_MONGO_URL", f"mongodb://127.0.0.1:{os.environ.get('MUSTER_MONGO_PORT', '27017')}/"
    )
    async with scratch_database(url, "muster_contract") as db:
        yield db
