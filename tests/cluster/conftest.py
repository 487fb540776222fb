"""The cluster fault suite (`make test-cluster`): the services run against a three-node
KRaft cluster this suite starts itself (deploy/local/stack.sh with MUSTER_KAFKA_NODES=3, a
temporary state directory, free ports), with the store the tests were given. Topics have
three replicas and `min.insync.replicas=2`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _TOPIC_PREFIXES
from tests.e2e.conftest import RunningSystem, running_system
from tests.faults.conftest import fault_matrix
from tests.local_kafka import LocalKafka

__all__ = ["fault_matrix"]

REPLICAS = 3


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    kafka = LocalKafka(Path(tmp_path_factory.mktemp("kafka-cluster")), nodes=REPLICAS)
    kafka.up()
    given = os.environ.get("MUSTER_KAFKA_BOOTSTRAP")
    # Everything the suite reads (ledgers, topics) it reads from the cluster.
    os.environ["MUSTER_KAFKA_BOOTSTRAP"] = kafka.bootstrap
    try:
        yield kafka
    finally:
        if given is None:
            os.environ.pop("MUSTER_KAFKA_BOOTSTRAP", None)
        else:
            os.environ["MUSTER_KAFKA_BOOTSTRAP"] = given
        kafka.close()


@pytest.fixture(scope="module")
def system(
    cluster: LocalKafka, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    settings = {"MUSTER_KAFKA_BOOTSTRAP": cluster.bootstrap, "MUSTER_TOPIC_REPLICATION": "3"}
    with running_system(tmp_path_factory, settings) as running:
        yield running
    # Its topics go with the cluster: nothing to remove from the broker the tests were given.
    _TOPIC_PREFIXES.discard(running.topic_prefix)
