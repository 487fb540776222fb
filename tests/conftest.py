"""Shared fixtures: the real Kafka broker and document store started by `make test`.

Each test gets its own database and topic prefix, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest
from _pytest.terminal import TerminalReporter

from muster_runtime.mongo import Database, connect
from muster_runtime.settings import DEV_JWT_SECRET, ServiceSettings
from muster_runtime.topics import delete_topics

# Tests run in development mode with the development JWT secret, set here explicitly so that
# the tokens they issue in-process and the service processes they start (which inherit this
# environment) agree, whatever secrets a local stack keeps under .state/.
os.environ["MUSTER_DEV_MODE"] = "1"
os.environ.setdefault("MUSTER_JWT_SECRET", DEV_JWT_SECRET)

if TYPE_CHECKING:
    from tests.faults.ledger import FaultMatrix

# The fault suites' matrix, and the seed their randomness derives from: printed in the
# header and under the matrix; `MUSTER_FAULT_SEED=<seed>` replays a run.
MATRIX: pytest.StashKey[FaultMatrix] = pytest.StashKey()
SEED = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    given = os.environ.get("MUSTER_FAULT_SEED", "")
    config.stash[SEED] = int(given) if given else random.SystemRandom().randrange(10**9)


def pytest_report_header(config: pytest.Config) -> str:
    return f"fault seed: {config.stash[SEED]} (replay: MUSTER_FAULT_SEED={config.stash[SEED]})"


def pytest_terminal_summary(terminalreporter: TerminalReporter, config: pytest.Config) -> None:
    matrix = config.stash.get(MATRIX, None)
    if matrix is None or not (matrix.rows or matrix.notes):
        return
    terminalreporter.write_sep("=", "fault matrix")
    terminalreporter.write(matrix.render())
    terminalreporter.write_line(
        f"(written to {matrix.path}; seed {matrix.seed}, replay: MUSTER_FAULT_SEED={matrix.seed})"
    )


# Topic prefixes this session created topics under: removed when it ends.
_TOPIC_PREFIXES: set[str] = set()


def kafka_bootstrap() -> str:
    return os.environ.get(
        "MUSTER_KAFKA_BOOTSTRAP", f"127.0.0.1:{os.environ.get('MUSTER_KAFKA_PORT', '9092')}"
    )


def mongo_url() -> str:
    return os.environ.get(
        "MUSTER_MONGO_URL", f"mongodb://127.0.0.1:{os.environ.get('MUSTER_MONGO_PORT', '27017')}/"
    )


def topic_prefix(name: str) -> str:
    """`muster-<name>`, a prefix for a test's topics, removed when the session ends."""
    prefix = f"muster-{name}"
    _TOPIC_PREFIXES.add(prefix)
    return prefix


@pytest.fixture(scope="session", autouse=True)
def _remove_test_topics() -> Iterator[None]:
    """Tests make thousands of partitions: left behind, runs pile them up until the
    broker takes minutes to start."""
    yield
    if not _TOPIC_PREFIXES:
        return
    try:
        asyncio.run(asyncio.wait_for(delete_topics(kafka_bootstrap(), *_TOPIC_PREFIXES), 60))
    except Exception as error:  # tidying only: never fail the run that made them
        warnings.warn(f"test topics left on the broker: {error!r}", stacklevel=1)


@pytest.fixture
def isolation() -> str:
    """A short unique name for this test's database and topics."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(isolation: str) -> ServiceSettings:
    return ServiceSettings(
        service_name="testsvc",
        kafka_bootstrap=kafka_bootstrap(),
        mongo_url=mongo_url(),
        mongo_db=f"muster_{isolation}",
        topic_prefix=topic_prefix(isolation),
        topic_partitions=3,
        relay_poll_seconds=0.2,
        log_json=False,
    )


@pytest.fixture
async def db(settings: ServiceSettings) -> AsyncIterator[Database]:
    client = connect(settings.mongo_url)
    try:
        yield client[settings.database_name]
    finally:
        await client.drop_database(settings.database_name)
        for name in await client.list_database_names():  # read models' versions (rebuilds)
            if name.startswith(f"{settings.database_name}_v"):
                await client.drop_database(name)
        await client.close()
