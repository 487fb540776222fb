"""The volunteer service with its key-encryption keys on a real KMIP server (PyKMIP's,
started by the test): registration wraps the data key there, reading unwraps it, and the
database holds only the wrapped key under the server's key id."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from muster_cli.bench.measure import free_ports
from muster_cli.sample import SampleVolunteers
from muster_contracts.envelope import Role
from tests.conftest import kafka_bootstrap, mongo_url, topic_prefix
from tests.e2e.conftest import ready_by
from tests.e2e.test_register_to_report import auth
from tests.kmip_server import KmipServer, running_kmip_server


@pytest.fixture(scope="module")
def kmip_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KmipServer]:
    with running_kmip_server(tmp_path_factory.mktemp("kmip")) as server:
        yield server


def _start(environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "muster_volunteer"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def test_the_volunteer_service_wraps_and_unwraps_on_the_kmip_server(
    kmip_server: KmipServer, tmp_path: Path
) -> None:
    run = f"k{os.getpid()}{int(time.time()) % 100000}"
    (port,) = free_ports(1)
    database = f"muster_{run}_volunteer"
    environment = (
        os.environ
        | {
            "MUSTER_HTTP_PORT": str(port),
            "MUSTER_KAFKA_BOOTSTRAP": kafka_bootstrap(),
            "MUSTER_MONGO_URL": mongo_url(),
            "MUSTER_MONGO_DB": database,
            "MUSTER_TOPIC_PREFIX": topic_prefix(run),
            "MUSTER_TOPIC_PARTITIONS": "1",
            # Every read unwraps on the server: nothing is kept in memory.
            "MUSTER_DATA_KEY_CACHE_SECONDS": "0",
        }
        | kmip_server.environment(f"kek-{run}")
    )
    environment.pop("MUSTER_KEK_FILE", None)
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "volunteer.log"
    process = _start(environment, log)
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_url())
    try:
        assert ready_by(url, time.monotonic() + 60, "volunteer"), log.read_text()[-2000:]
        form = SampleVolunteers(seed=99).draw() | {"name": "密钥服务器测试"}
        created = httpx.post(
            f"{url}/volunteers",
            json=form,
            headers=auth(Role.VOLUNTEER, subject=f"kmip-{time.time_ns()}"),
        )
        assert created.status_code == 201, created.text
        volunteer_id = created.json()["volunteer_id"]

        (key,) = list(client[database]["volunteer_keys"].find())
        assert key["_id"] == volunteer_id
        assert "key" not in key
        assert len(bytes(key["wrapped_key"])) == 12 + 32 + 16

        shown = httpx.get(f"{url}/volunteers/{volunteer_id}", headers=auth(Role.ORGANISER))
        assert shown.status_code == 200, shown.text
        assert shown.json()["name"] == form["name"]

        rotated = subprocess.run(
            [sys.executable, "-m", "muster_volunteer", "rotate-keys"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert rotated.returncode == 0, rotated.stderr
        assert "re-wrapped 1/1 data keys" in rotated.stdout
        (after,) = list(client[database]["volunteer_keys"].find())
        assert after["kek_id"] != key["kek_id"]
        assert (
            httpx.get(f"{url}/volunteers/{volunteer_id}", headers=auth(Role.ORGANISER)).json()[
                "name"
            ]
            == form["name"]
        )
    finally:
        _stop(process)
        client.drop_database(database)
        client.close()
