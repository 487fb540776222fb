"""The rebuild's check that no consumer holds its group, on a broker that is still making its
group coordinator (pure: the admin client is a stand-in that answers as Kafka does)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import GroupCoordinatorNotAvailableError

from muster_runtime import rebuild


class FreshBroker:
    """Answers COORDINATOR_NOT_AVAILABLE to the first `not_ready` describes, then a group."""

    def __init__(self, not_ready: int, members: list[Any]) -> None:
        self.not_ready = not_ready
        self.members = members
        self.describes = 0

    def __call__(self, **_: Any) -> FreshBroker:
        return self

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def describe_consumer_groups(self, group_ids: list[str]) -> list[Any]:
        self.describes += 1
        if self.describes <= self.not_ready:
            raise GroupCoordinatorNotAvailableError()
        group = (0, group_ids[0], "Stable", "consumer", "range", self.members)
        return [SimpleNamespace(groups=[group])]


@pytest.mark.parametrize(("members", "empty"), [([], True), ([("member-1",)], False)])
async def test_waits_for_the_coordinator_then_answers(
    monkeypatch: pytest.MonkeyPatch, members: list[Any], empty: bool
) -> None:
    broker = FreshBroker(not_ready=2, members=members)
    monkeypatch.setattr(rebuild, "AIOKafkaAdminClient", broker)
    monkeypatch.setattr(rebuild, "COORDINATOR_RETRY_SECONDS", 0.0)

    assert await rebuild.group_is_empty("kafka:9092", "reporting") is empty
    assert broker.describes == 3


async def test_gives_up_when_the_coordinator_never_comes(monkeypatch: pytest.MonkeyPatch) -> None:
    broker = FreshBroker(not_ready=10**6, members=[])
    monkeypatch.setattr(rebuild, "AIOKafkaAdminClient", broker)
    monkeypatch.setattr(rebuild, "COORDINATOR_RETRY_SECONDS", 0.0)

    with pytest.raises(GroupCoordinatorNotAvailableError):
        await rebuild.group_is_empty("kafka:9092", "reporting", coordinator_wait_seconds=0.01)
