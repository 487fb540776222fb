"""Faults during a load run: the broker, the store, each service and a consumer-group
rebalance. After each, every report equals what the API acknowledged."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from muster_cli.bench.measure import free_port
from tests.conftest import kafka_bootstrap
from tests.e2e.conftest import RunningSystem, ready_by
from tests.faults.ledger import (
    FaultMatrix,
    FaultRow,
    Ledger,
    count_stages,
    wait_until_reported,
)
from tests.faults.load import RegistrationLoad, expected_report
from tests.integration.helpers import stack

pytestmark = pytest.mark.faults

# A commit whose append died holds its stream for 60 s; and reporting writes dozens of
# documents per event (as-of history, uniques), slow on FerretDB: a backlog of a few
# hundred events took 159 s to apply in one CI run.
CONVERGENCE_TIMEOUT = 240.0
COMMIT_GRACE = 15.0
FLOWING = 10  # registrations acknowledged before a fault is injected, and again after


def run_fault(
    system: RunningSystem,
    matrix: FaultMatrix,
    fault: str,
    street: str,
    inject: Callable[[RegistrationLoad], str],
) -> tuple[RegistrationLoad, FaultRow]:
    """Run a load, inject the fault (it returns how), recover, wait for the reports."""
    load = RegistrationLoad(system.urls["volunteer"], street, seed=matrix.seed_for(fault))
    with load:
        load.wait_acknowledged(FLOWING, timeout=30, why="before the fault")
        injected = inject(load)
        recovered = time.monotonic()  # the fault is over: the broker or process is back
        after = load.acknowledged + FLOWING
        load.wait_acknowledged(after, timeout=60, why=f"after recovering from {fault}")
        record = load.finish(resolve_within=60)
    expected = expected_report(record.acknowledged, street)
    try:
        wait_until_reported(system, street, expected, CONVERGENCE_TIMEOUT)
        converged = time.monotonic() - recovered  # from the component's return
    except AssertionError as exc:
        ledger = asyncio.run(count_stages(system, street))
        raise AssertionError(
            f"{exc}\nacknowledged {len(record.acknowledged)}, {ledger}, answers {record}"
        ) from None
    ledger = _settled(system, street, len(record.acknowledged))
    row = FaultRow(
        fault=fault,
        injected=injected,
        acknowledged=len(record.acknowledged),
        answered_503=sum(record.unavailable.values()),
        connection_errors=record.transport_errors,
        hangs=record.hangs,
        slowest_answer_s=record.slowest_answer,
        stored=ledger.stored,
        published=ledger.published,
        published_distinct=ledger.published_distinct,
        consumed=ledger.consumed,
        lag=ledger.lag,
        pooled=ledger.pooled,
        reported=ledger.reported,
        converged_s=converged,
    )
    matrix.add(row)
    # Nothing lost, nothing double-counted, nothing kept that was not acknowledged.
    assert record.server_errors == [], record.server_errors
    assert record.hangs == 0, f"{record.hangs} requests got no answer in time"
    assert record.unresolved == 0, f"{record.unresolved} registrations never got an answer"
    assert record.unavailable_without_body == 0
    assert record.unavailable_without_retry_after == 0
    n = len(record.acknowledged)
    assert (ledger.stored, ledger.published_distinct, ledger.pooled, ledger.reported) == (n,) * 4
    return load, row


def _settled(system: RunningSystem, street: str, count: int) -> Ledger:
    """The stages once dispatch has pooled every volunteer (and, within a short while,
    reporting has committed what it consumed: a commit refused during a rebalance is only
    made good by the next batch, so an idle group may stay behind; the matrix shows it)."""
    deadline = time.monotonic() + CONVERGENCE_TIMEOUT
    committed_by = time.monotonic() + COMMIT_GRACE
    while True:
        ledger = asyncio.run(count_stages(system, street))
        if ledger.pooled == count and (ledger.lag == 0 or time.monotonic() > committed_by):
            return ledger
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled within {CONVERGENCE_TIMEOUT:.0f} s: {ledger}")
        time.sleep(1)


def test_kafka_stopped_and_restarted(system: RunningSystem, fault_matrix: FaultMatrix) -> None:
    def stop_kafka_for_a_while(load: RegistrationLoad) -> str:
        stack("down", "kafka")
        try:
            during = load.acknowledged
            # The outbox keeps commands: registrations go on while the broker is away.
            load.wait_acknowledged(during + 10, timeout=30, why="while Kafka is down")
            time.sleep(2)
        finally:
            stack("up", "kafka")
        return "stack.sh down kafka; up"

    _, row = run_fault(system, fault_matrix, "kafka restart", "130203001", stop_kafka_for_a_while)
    assert row.answered_503 == 0, "the API needs no broker to acknowledge a command"


def test_store_stopped_and_restarted(system: RunningSystem, fault_matrix: FaultMatrix) -> None:
    ready_while_down: list[httpx.Response] = []

    def stop_the_store_for_a_while(load: RegistrationLoad) -> str:
        stack("down", "ferretdb")
        try:
            unavailable = sum(load.record.unavailable.values())
            deadline = time.monotonic() + 30
            while sum(load.record.unavailable.values()) < unavailable + 3:
                assert time.monotonic() < deadline, (
                    f"no 503s while the store is down: {load.record}"
                )
                time.sleep(0.1)
            ready_while_down.append(httpx.get(f"{system.urls['volunteer']}/readyz", timeout=10))
        finally:
            stack("up", "ferretdb")
        return "stack.sh down ferretdb; up"

    load, row = run_fault(
        system, fault_matrix, "store restart", "130203002", stop_the_store_for_a_while
    )
    assert set(load.record.unavailable) <= {"store_unavailable", "store_error"}
    assert row.answered_503 >= 3
    assert row.slowest_answer_s < 10
    assert ready_while_down[0].status_code == 503
    assert ready_while_down[0].json()["checks"]["store"] != "ok"


@pytest.mark.parametrize(
    ("service", "street"),
    [
        ("volunteer", "130203003"),
        ("dispatch", "130203004"),
        ("reporting", "130203005"),
    ],
)
def test_a_service_killed_and_restarted(
    system: RunningSystem, fault_matrix: FaultMatrix, service: str, street: str
) -> None:
    chance = random.Random(fault_matrix.seed_for(f"kill delay {service}"))

    def kill_and_restart(_: RegistrationLoad) -> str:
        delay = chance.uniform(0.0, 2.0)
        time.sleep(delay)
        # SIGKILL: no graceful shutdown, no outbox flush, no leaving the consumer group.
        system.processes[service].send_signal(signal.SIGKILL)
        system.processes[service].wait(timeout=15)
        system.start(service)  # the same port, database and topics
        system.wait_ready([service])
        return f"SIGKILL {service} after {delay:.1f} s more load; restart"

    run_fault(system, fault_matrix, f"kill -9 {service}", street, kill_and_restart)


def _wait_ready(url: str, timeout: float = 60) -> None:
    if not ready_by(url, time.monotonic() + timeout, "reporting"):
        raise AssertionError(f"{url} not ready within {timeout:.0f} s")


def _consumed(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(line.rpartition(" ")[2])
        for line in metrics.splitlines()
        if line.startswith("muster_events_consumed_total{")
    )


def test_repeated_and_reordered_delivery_changes_nothing(
    system: RunningSystem, fault_matrix: FaultMatrix
) -> None:
    street = "130203008"
    republished: list[int] = []

    def republish_every_record_twice(_: RegistrationLoad) -> str:
        # Each record again, in order and then in reverse (same keys, so same partitions):
        # a relay resending after a crash, and repeats of a stream's events out of order.
        republished.append(asyncio.run(_republish(system, street)))
        return f"{republished[0]} records re-published as is, then reversed"

    _, row = run_fault(system, fault_matrix, "duplicates", street, republish_every_record_twice)
    assert republished[0] >= 2 * FLOWING
    assert row.published - row.published_distinct == republished[0]


async def _republish(system: RunningSystem, street: str) -> int:
    topic = f"{system.topic_prefix}.volunteer.events"
    records = await _records_of(topic, street)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap())
    await producer.start()
    try:
        for record in [*records, *reversed(records)]:
            await producer.send(topic, record.value, key=record.key, headers=list(record.headers))
        await producer.flush()
    finally:
        await producer.stop()
    return 2 * len(records)


async def _records_of(topic: str, street: str) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap(), auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[Any] = []
    try:
        # What is there now (the load goes on meanwhile): read briefly, not to the end.
        idle, deadline = 0, time.monotonic() + 3
        while idle < 3 and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                found += [r for r in records if street.encode() in (r.value or b"")]
    finally:
        await consumer.stop()
    return found


# A rebalance waits for every member to rejoin, which a member does between batches: it
# used to stall while reporting's batches took seconds (every lookup by `_id` scanned a
# table on the development store); it completes in seconds now, so this is no longer xfail.
def test_a_second_reporting_consumer_joins_and_leaves(
    system: RunningSystem, fault_matrix: FaultMatrix
) -> None:
    consumed_by_second: list[float] = []

    def join_then_leave(load: RegistrationLoad) -> str:
        # A second instance of reporting: another port; the same database, topics and group.
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with (system.logs / "reporting-2.log").open("ab") as log:
            second = subprocess.Popen(
                [sys.executable, "-m", "muster_reporting"],
                env=system.environments["reporting"] | {"MUSTER_HTTP_PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_ready(url)
            # Joining takes a rebalance: wait (bounded) until the newcomer applied events.
            deadline = time.monotonic() + 45
            while (consumed := _consumed(url)) == 0 and time.monotonic() < deadline:
                time.sleep(0.5)
            consumed_by_second.append(consumed)
        finally:
            second.terminate()  # SIGTERM: it leaves the group
            second.wait(timeout=20)
        return "reporting-2 joins the group, then leaves (SIGTERM)"

    run_fault(system, fault_matrix, "rebalance", "130203006", join_then_leave)
    assert consumed_by_second[0] > 0, "the second consumer never got a partition"
