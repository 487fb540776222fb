"""End-to-end: the three services run as real processes on fresh ports, databases and topics."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import kafka_bootstrap, mongo_url

SERVICES = ("volunteer", "dispatch", "reporting")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.path) or "/faults/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class RunningSystem:
    urls: dict[str, str]
    logs: Path
    topic_prefix: str
    databases: list[str]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    run_id = f"e{os.getpid()}{int(time.time()) % 100000}"
    logs = tmp_path_factory.mktemp("service-logs")
    processes: list[subprocess.Popen[bytes]] = []
    urls: dict[str, str] = {}
    # Verification keys by kid, beside the development secret: tests rotate them on disk.
    (logs / "jwks.json").write_text('{"keys": []}')
    for name in SERVICES:
        port = _free_port()
        env = os.environ | {
            "MUSTER_HTTP_PORT": str(port),
            "MUSTER_KAFKA_BOOTSTRAP": kafka_bootstrap(),
            "MUSTER_MONGO_URL": mongo_url(),
            "MUSTER_MONGO_DB": f"muster_{run_id}_{name}",
            "MUSTER_TOPIC_PREFIX": f"muster-{run_id}",
            "MUSTER_TOPIC_PARTITIONS": "3",
            # Every service writes its spans beside its log: tests read traces back.
            "MUSTER_TRACE_EXPORTER": "file",
            "MUSTER_TRACE_FILE": str(logs / f"{name}.traces.jsonl"),
            # Started first, so reporting can ask it for display names.
            "MUSTER_VOLUNTEER_SERVICE_URL": urls.get("volunteer", ""),
            "MUSTER_JWT_JWKS_FILE": str(logs / "jwks.json"),
        }
        log = (logs / f"{name}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", f"muster_{name}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        urls[name] = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        for name, url in urls.items():
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{name} not ready: {(logs / f'{name}.log').read_text()[-2000:]}"
                    )
                time.sleep(0.1)
        yield RunningSystem(
            urls, logs, f"muster-{run_id}", [f"muster_{run_id}_{n}" for n in SERVICES]
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        _drop_databases([f"muster_{run_id}_{n}" for n in SERVICES])


def _drop_databases(names: list[str]) -> None:
    from pymongo import MongoClient

    client: MongoClient[dict[str, object]]
    with MongoClient(mongo_url(), serverSelectionTimeoutMS=5000) as client:
        for name in names:
            client.drop_database(name)
