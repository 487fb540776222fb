"""Heavy report queries: a bounded number at once, the next refused as busy; spreadsheets
built in a worker process, the same file as built in place, a dead worker replaced, and
no worker left behind by a killed service."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from muster_reporting.entrypoints.exports import WORKER_NICENESS, SpreadsheetWorkers, spreadsheet
from muster_reporting.entrypoints.heavy_queries import RETRY_AFTER_SECONDS, HeavyQueries
from muster_runtime.errors import ServiceUnavailableError

ROWS = [
    {"period": "2026-11-27", "hours": 2.5, "beneficiaries_by_group": {"elderly": 3}},
    {"period": "2026-11-28", "hours": 0.0, "beneficiaries_by_group": {}},
]


def test_the_query_over_the_limit_is_refused_as_busy_until_one_ends() -> None:
    gate = HeavyQueries(limit=2)
    with gate.admit(), gate.admit():
        with pytest.raises(ServiceUnavailableError) as refused, gate.admit():
            pytest.fail("admitted over the limit")
        assert refused.value.status == 503
        assert refused.value.code == "reports_busy"
        assert refused.value.details["retry_after_seconds"] == RETRY_AFTER_SECONDS
        with gate.admit(heavy=False):  # a light query is never refused
            assert gate.running == 2
    with pytest.raises(RuntimeError), gate.admit():
        raise RuntimeError("a query that failed")
    assert gate.running == 0  # a failed query gave its slot back
    with gate.admit(), gate.admit():
        assert gate.running == 2


async def test_spreadsheets_from_the_workers_equal_those_built_in_place() -> None:
    workers = SpreadsheetWorkers(processes=1)
    try:
        built = await workers.build("csv", "series", ROWS, ["period"])
        assert built == spreadsheet("csv", "series", ROWS, ["period"])
        assert built[0].decode().splitlines()[0] == (
            "\ufeffperiod,hours,beneficiaries_by_group.elderly"
        )
        content, media_type = await workers.build("xlsx", "series", ROWS, [])
        assert media_type.endswith("spreadsheetml.sheet")
        assert content.startswith(b"PK")  # a zip, as every XLSX file
        # The worker yields the processors to the service (nice: 19 at most).
        niceness = await asyncio.get_running_loop().run_in_executor(workers._started(), os.nice, 0)
        assert niceness == min(os.nice(0) + WORKER_NICENESS, 19)
    finally:
        workers.close()


async def test_a_worker_that_died_is_replaced() -> None:
    workers = SpreadsheetWorkers(processes=1)
    try:
        await workers.warm()
        pool = workers._started()
        for pid in list(pool._processes):  # the worker dies (killed, out of memory)
            os.kill(pid, signal.SIGKILL)
        built = await workers.build("csv", "series", ROWS, [])
        assert built == spreadsheet("csv", "series", ROWS, [])
        assert workers._started() is not pool
    finally:
        workers.close()


def test_the_workers_end_when_the_service_is_killed() -> None:
    # A service process with a warm worker, then SIGKILLed: no shutdown runs.
    service = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import asyncio, sys\n"
            "from muster_reporting.entrypoints.exports import SpreadsheetWorkers\n"
            "async def main():\n"
            "    workers = SpreadsheetWorkers(processes=1)\n"
            "    await workers.warm()\n"
            "    print(*workers._started()._processes, flush=True)\n"
            "    await asyncio.sleep(600)\n"
            "asyncio.run(main())\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert service.stdout is not None
        worker = int(service.stdout.readline())
        assert _alive(worker)
    finally:
        service.kill()
        service.wait()
    deadline = time.monotonic() + 30
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker), "the worker outlived the service"


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
