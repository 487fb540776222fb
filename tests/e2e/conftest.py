"""End-to-end: the four services run as real processes on fresh ports, databases and topics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import httpx
import pytest

from muster_auth.keys import LocalKeyFile
from muster_cli.bench.measure import free_ports
from muster_dispatch.domain.hours import HoursPolicy
from tests.conftest import kafka_bootstrap, mongo_url, topic_prefix

SERVICES = ("volunteer", "dispatch", "reporting", "notify")
# The people's pages: started only by the tests that open them (`RunningSystem.start_pages`).
PAGES = "pages"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.path) or "/faults/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


def next_minute() -> datetime:
    """Wait for the next UTC minute to begin and return its start: figures as of it count
    everything recorded before the wait and nothing recorded after (as-of is to the minute)."""
    now = datetime.now(UTC)
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    time.sleep((start - now).total_seconds() + 0.1)
    return start


def served_from(earliest: datetime, minutes: int) -> datetime:
    """When to start `minutes` of service, from `earliest` on, so that they stay inside one
    local day of the hours policy's time zone: hours are rounded per local day, so a span
    over midnight would credit less than `minutes` (an activity three hours back crosses
    it between about 16:00 and 19:00 UTC in Asia/Shanghai)."""
    zone = HoursPolicy().zone
    local = earliest.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), dtime(0), tzinfo=zone)
    if earliest + timedelta(minutes=minutes) <= midnight:
        return earliest
    return midnight.astimezone(UTC)


def ready_by(url: str, deadline: float, service: str) -> bool:
    """Whether `service` answers `/readyz` at `url` with 200 before `deadline` (monotonic).

    The name is checked: a process that could not bind its port must not pass as ready
    because another service answers there.
    """
    while True:
        try:
            response = httpx.get(f"{url}/readyz", timeout=2)
            if response.status_code == 200:
                answering = response.json().get("service")
                if answering != service:
                    raise RuntimeError(f"{url} is {answering}, not {service}")
                return True
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


@dataclass(frozen=True)
class RunningSystem:
    urls: dict[str, str]
    logs: Path
    topic_prefix: str
    databases: list[str]
    environments: dict[str, dict[str, str]] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", f"muster_{name}"],
            env=self.environments[name],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()

    def start_pages(self, settings: dict[str, str] | None = None) -> str:
        """Start the pages service in front of the others (`settings`: more of its
        environment, e.g. an identity provider) and answer its address."""
        self.environments[PAGES] |= settings or {}
        self.start(PAGES)
        self.wait_ready([PAGES])
        return self.urls[PAGES]

    def wait_ready(self, names: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            if not ready_by(self.urls[name], deadline, name):
                log = (self.logs / f"{name}.log").read_text()[-2000:]
                raise RuntimeError(f"{name} not ready: {log}")

    def command(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a service's command line (e.g. `rebuild`) with the service's settings."""
        return subprocess.run(
            [sys.executable, "-m", f"muster_{name}", *args],
            env=self.environments[name],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    with running_system(tmp_path_factory) as running:
        yield running


@contextmanager
def running_system(
    tmp_path_factory: pytest.TempPathFactory, settings: dict[str, str] | None = None
) -> Iterator[RunningSystem]:
    """The services on fresh ports, databases and topics (`settings`: more of the
    services' environment, e.g. a topic replication factor), stopped on exit."""
    run_id = f"e{os.getpid()}{int(time.time()) % 100000}"
    logs = tmp_path_factory.mktemp("service-logs")
    running = RunningSystem(
        {}, logs, topic_prefix(run_id), [f"muster_{run_id}_{n}" for n in SERVICES]
    )
    # Verification keys by kid, beside the development secret: tests rotate them on disk.
    (logs / "jwks.json").write_text('{"keys": []}')
    # The key-encryption key of the volunteers' data keys: outside the store, as in production.
    LocalKeyFile.create(logs / "kek.json")
    *ports, pages_port = free_ports(len(SERVICES) + 1)
    running.urls[PAGES] = f"http://127.0.0.1:{pages_port}"
    for name, port in zip(SERVICES, ports, strict=True):
        running.environments[name] = os.environ | {
            "MUSTER_HTTP_PORT": str(port),
            "MUSTER_KAFKA_BOOTSTRAP": kafka_bootstrap(),
            "MUSTER_MONGO_URL": mongo_url(),
            "MUSTER_MONGO_DB": f"muster_{run_id}_{name}",
            "MUSTER_TOPIC_PREFIX": running.topic_prefix,
            "MUSTER_TOPIC_PARTITIONS": "3",
            # Every service writes its spans beside its log: tests read traces back.
            "MUSTER_TRACE_EXPORTER": "file",
            "MUSTER_TRACE_FILE": str(logs / f"{name}.traces.jsonl"),
            # Started first, so reporting can ask it for display names.
            "MUSTER_VOLUNTEER_SERVICE_URL": running.urls.get("volunteer", ""),
            "MUSTER_JWT_JWKS_FILE": str(logs / "jwks.json"),
            "MUSTER_KEK_FILE": str(logs / "kek.json"),
            # Dispatch: the check-in QR code links to the pages service.
            "MUSTER_VOLUNTEER_PAGE_URL": running.urls[PAGES],
            **(settings or {}),
        }
        running.urls[name] = f"http://127.0.0.1:{port}"
        running.start(name)
    running.environments[PAGES] = running.environments["notify"] | {
        "MUSTER_HTTP_PORT": str(pages_port),
        "MUSTER_TRACE_FILE": str(logs / "pages.traces.jsonl"),
        **{f"MUSTER_{name.upper()}_SERVICE_URL": running.urls[name] for name in SERVICES},
    }
    try:
        running.wait_ready(list(SERVICES))
        yield running
    finally:
        for name in list(running.processes):
            running.processes[name].terminate()
        for name in list(running.processes):
            running.stop(name)
        _drop_databases(running.databases)


def _drop_databases(names: list[str]) -> None:
    from pymongo import MongoClient

    client: MongoClient[dict[str, object]]
    with MongoClient(mongo_url(), serverSelectionTimeoutMS=5000) as client:
        versions = [  # read models' versions a rebuild made (`<database>_v<N>`)
            found
            for found in client.list_database_names()
            if any(found.startswith(f"{name}_v") for name in names)
        ]
        for name in [*names, *versions]:
            client.drop_database(name)
