"""The conformance run: schemathesis against the running services (`make test-conformance`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import RunningSystem, running_system


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/conformance/" in str(item.path):
            item.add_marker(pytest.mark.conformance)
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    with running_system(tmp_path_factory) as running:
        yield running
