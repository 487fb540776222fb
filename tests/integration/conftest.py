"""Integration tests talk to the real broker and store; they are marked as such."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from muster_runtime.mongo import Database, Document
from muster_runtime.settings import ServiceSettings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


class Commands(monitoring.CommandListener):
    """Every command a client sends (but the driver's own handshakes and pings)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Document]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in ("endSessions", "hello", "isMaster", "ping"):
            self.seen.append((event.command_name, dict(event.command)))

    def take(self) -> list[tuple[str, str]]:
        """The command and collection of each command sent since the last `take`."""
        sent = [(name, str(command.get(name))) for name, command in self.seen]
        self.seen.clear()
        return sent

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


@pytest.fixture
async def listened(settings: ServiceSettings) -> AsyncIterator[tuple[Database, Commands]]:
    """The test's database through a client that records every command it sends."""
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        settings.mongo_url, event_listeners=[commands], tz_aware=True, maxPoolSize=8
    )
    try:
        yield client[settings.database_name], commands
    finally:
        await client.drop_database(settings.database_name)
        await client.close()
