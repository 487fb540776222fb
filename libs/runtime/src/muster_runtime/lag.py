"""Consumer lag per partition: the topic's end offset minus the group's committed offset,
measured every few seconds from Kafka itself (so a stuck consumer shows a growing lag)."""

from __future__ import annotations

import contextlib

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from muster_runtime.metrics import CONSUMER_LAG


class ConsumerLag:
    """Measures one consumer group's lag on its topics into `muster_consumer_lag`."""

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self._bootstrap = bootstrap
        self._group = group
        self._topics = topics
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None

    async def measure(self) -> dict[TopicPartition, int]:
        if self._admin is None or self._offsets is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, request_timeout_ms=10000)
            offsets = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
            await admin.start()
            await offsets.start()
            self._admin, self._offsets = admin, offsets
        described = await self._admin.describe_topics(self._topics)
        partitions = [
            TopicPartition(topic["topic"], p["partition"])
            for topic in described
            for p in topic["partitions"]
        ]
        if not partitions:
            return {}
        committed = await self._admin.list_consumer_group_offsets(self._group)
        ends = await self._offsets.end_offsets(partitions)
        starts = await self._offsets.beginning_offsets(partitions)
        lags: dict[TopicPartition, int] = {}
        for tp in partitions:
            mark = committed.get(tp)
            position = mark.offset if mark is not None and mark.offset >= 0 else starts[tp]
            lags[tp] = max(0, ends[tp] - position)
            CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lags[tp])
        return lags

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._admin is not None:
                await self._admin.close()
        with contextlib.suppress(Exception):
            if self._offsets is not None:
                await self._offsets.stop()
        self._admin = self._offsets = None
