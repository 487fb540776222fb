"""A node of the three-broker cluster goes, under registration load: its partitions'
leadership moves to the other replicas, and each case ends as the single-broker faults do,
acknowledged = stored = published once = reported, within 30 s of the node's return."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.e2e.conftest import RunningSystem
from tests.faults.ledger import FaultMatrix, FaultRow
from tests.faults.load import RegistrationLoad
from tests.faults.test_faults_under_load import FLOWING, run_fault
from tests.local_kafka import LocalKafka

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

CONVERGED_WITHIN = 30.0  # seconds from the node's return
UNAVAILABLE_WINDOW = 10.0  # the longest a client may see 503s
AWAY = 8.0  # seconds a node stays away: beyond the 6 s session timeout that fences it
REPLICAS = 3


async def _partitions(bootstrap: str, topic: str) -> list[dict[str, object]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        partitions: list[dict[str, object]] = (await admin.describe_topics([topic]))[0][
            "partitions"
        ]
        return partitions
    finally:
        await admin.close()


async def _end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


def leader_of_busiest_partition(cluster: LocalKafka, topic: str) -> tuple[int, int]:
    """(partition, node leading it) of the topic's partition with the most records."""
    partitions = asyncio.run(_partitions(cluster.bootstrap, topic))
    ends = asyncio.run(_end_offsets(cluster.bootstrap, topic, len(partitions)))
    busiest = max(partitions, key=lambda p: ends[int(str(p["partition"]))])
    return int(str(busiest["partition"])), int(str(busiest["leader"]))


def active_controller(cluster: LocalKafka) -> int:
    """The node whose controller leads the KRaft quorum (not the random broker a client's
    metadata names as "controller")."""
    out = cluster.stack(
        "kafka-tool",
        "org.apache.kafka.tools.MetadataQuorumCommand",
        "--bootstrap-server",
        cluster.bootstrap,
        "describe",
        "--status",
    )
    found = re.search(r"^LeaderId:\s+(\d+)", out, re.MULTILINE)
    assert found, out
    return int(found.group(1))


def wait_fully_replicated(cluster: LocalKafka, topics: list[str], timeout: float = 90) -> None:
    """Until every partition of `topics` has all its replicas in sync again."""
    deadline = time.monotonic() + timeout
    while True:
        lagging = [
            (topic, p["partition"], p["isr"])
            for topic in topics
            for p in asyncio.run(_partitions(cluster.bootstrap, topic))
            if len(p["isr"]) < REPLICAS  # type: ignore[arg-type]
        ]
        if not lagging:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"replicas not back in sync within {timeout:.0f} s: {lagging}")
        time.sleep(1)


def _cluster_case(
    system: RunningSystem,
    cluster: LocalKafka,
    matrix: FaultMatrix,
    fault: str,
    street: str,
    take_away: Callable[[LocalKafka, RunningSystem], tuple[int, str]],
) -> FaultRow:
    topics = [f"{system.topic_prefix}.{c}.events" for c in ("volunteer", "dispatch")]
    wait_fully_replicated(cluster, topics)
    loads: list[RegistrationLoad] = []

    def inject(load: RegistrationLoad) -> str:
        loads.append(load)
        node, how = take_away(cluster, system)
        gone = time.monotonic()
        try:
            during = load.acknowledged
            # Registrations go on while the node is away (the outbox keeps the events).
            load.wait_acknowledged(during + FLOWING, timeout=30, why=f"while {how}")
            time.sleep(max(0.0, AWAY - (time.monotonic() - gone)))
        finally:
            cluster.up(node)
        return f"{how}; back after {AWAY:.0f} s+"

    _, row = run_fault(system, matrix, fault, street, inject)
    window = loads[0].unavailable_window
    assert window <= UNAVAILABLE_WINDOW, f"503s for {window:.1f} s"
    assert row.converged_s <= CONVERGED_WITHIN, (
        f"converged {row.converged_s:.1f} s after the node's return"
    )
    # Published once: the relay's idempotent producer and its resends left no repeats.
    assert row.published == row.published_distinct == row.acknowledged, row
    return row


def test_the_leader_of_a_busy_partition_killed(
    system: RunningSystem, cluster: LocalKafka, fault_matrix: FaultMatrix
) -> None:
    def kill_the_leader(cluster: LocalKafka, system: RunningSystem) -> tuple[int, str]:
        topic = f"{system.topic_prefix}.volunteer.events"
        partition, node = leader_of_busiest_partition(cluster, topic)
        cluster.kill(node)
        return node, f"SIGKILL kafka-{node}, leader of volunteer partition {partition}"

    _cluster_case(system, cluster, fault_matrix, "kill -9 leader", "130203001", kill_the_leader)


def test_a_broker_stopped_cleanly(
    system: RunningSystem, cluster: LocalKafka, fault_matrix: FaultMatrix
) -> None:
    def stop_the_leader(cluster: LocalKafka, system: RunningSystem) -> tuple[int, str]:
        topic = f"{system.topic_prefix}.volunteer.events"
        partition, node = leader_of_busiest_partition(cluster, topic)
        cluster.down(node)  # SIGTERM: a controlled shutdown hands its leadership over
        return node, f"stack.sh down kafka-{node}, leader of volunteer partition {partition}"

    _cluster_case(system, cluster, fault_matrix, "clean stop", "130203002", stop_the_leader)


def test_the_active_controller_killed(
    system: RunningSystem, cluster: LocalKafka, fault_matrix: FaultMatrix
) -> None:
    def kill_the_controller(cluster: LocalKafka, _: RunningSystem) -> tuple[int, str]:
        node = active_controller(cluster)
        cluster.kill(node)  # a broker too: controllers are combined with brokers
        return node, f"SIGKILL kafka-{node}, the active controller (and a broker)"

    row = _cluster_case(
        system, cluster, fault_matrix, "kill -9 controller", "130203003", kill_the_controller
    )
    assert row.answered_503 == 0, "the API needs no broker to acknowledge a command"


def test_the_idempotent_producer_across_a_leader_failover(
    cluster: LocalKafka, fault_matrix: FaultMatrix
) -> None:
    """aiokafka 0.14's idempotent producer (acks=all, as the relay sends) on Kafka 4.x: one
    producer keeps sending to one partition while its leader is killed and comes back.
    Every acknowledged record is on the topic exactly once; the failed ones may be lost
    (the relay resends those with a fresh producer, which consumers skip as repeats)."""
    sent, acknowledged, failed, found = asyncio.run(_send_through_a_failover(cluster))
    repeats = sum(n - 1 for n in found.values() if n > 1)
    missing = sorted(set(acknowledged) - set(found))
    fault_matrix.note(
        f"idempotent producer (aiokafka 0.14, acks=all) across a killed leader: {sent} sent, "
        f"{len(acknowledged)} acknowledged, {failed} failed, {len(found)} on the topic, "
        f"{repeats} repeated, {len(missing)} acknowledged but missing"
    )
    assert missing == [], f"acknowledged, then lost: {missing[:20]}"
    assert repeats == 0, f"{repeats} records written twice by one idempotent producer"
    assert set(found) <= set(range(sent))


async def _send_through_a_failover(
    cluster: LocalKafka,
) -> tuple[int, list[int], int, Counter[int]]:
    topic = f"muster-idempotence-{int(time.time())}"
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=REPLICAS)])
    finally:
        await admin.close()
    await asyncio.sleep(1)
    leader = int(str((await _partitions(cluster.bootstrap, topic))[0]["leader"]))
    producer = AIOKafkaProducer(
        bootstrap_servers=cluster.bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        request_timeout_ms=15000,
    )
    await producer.start()
    acknowledged: list[int] = []
    failed = 0
    sent = 0
    pending: list[tuple[int, asyncio.Future[object]]] = []
    try:
        started = time.monotonic()
        killed = returned = False
        while time.monotonic() - started < 20:
            elapsed = time.monotonic() - started
            if not killed and elapsed > 2:
                await asyncio.to_thread(cluster.kill, leader)
                killed = True
            if killed and not returned and elapsed > 2 + AWAY:
                await asyncio.to_thread(cluster.up, leader)
                returned = True
            try:
                pending.append((sent, await producer.send(topic, str(sent).encode(), key=b"k")))
                sent += 1
            except Exception:
                failed += 1  # refused before it was queued (e.g. the buffer is full)
            await asyncio.sleep(0.01)
        for number, future in pending:
            try:
                await asyncio.wait_for(future, 60)
                acknowledged.append(number)
            except Exception:
                failed += 1
    finally:
        await producer.stop()
    found: Counter[int] = Counter()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=cluster.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        end = (await consumer.end_offsets([TopicPartition(topic, 0)]))[TopicPartition(topic, 0)]
        deadline = time.monotonic() + 60
        while await consumer.position(TopicPartition(topic, 0)) < end:
            assert time.monotonic() < deadline, "could not read the probe topic to its end"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.update(int(r.value or b"-1") for r in records)
    finally:
        await consumer.stop()
    return sent, acknowledged, failed, found
