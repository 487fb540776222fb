"""The bench's ground truth against the real services: what it expects at the end is what
dispatch acknowledged, and the report it compares with shows exactly that."""

from __future__ import annotations

import asyncio
import json

import httpx

from muster_cli.bench.workload import DistrictWorkload
from tests.conftest import kafka_bootstrap
from tests.e2e.conftest import RunningSystem


async def test_a_probe_stopped_mid_record_leaves_truth_and_report_equal(
    system: RunningSystem,
) -> None:
    async with DistrictWorkload(system.urls, system.topic_prefix, kafka_bootstrap()) as w:
        _, register = w.registration()
        assert (await register).status_code == 201
        await w.launch_drives(1)
        # Stop the probe while its second record is on its way to dispatch: the moment a
        # truth taken too early (or a cancelled request) gets wrong.
        second_sent = asyncio.Event()

        async def on_request(request: httpx.Request) -> None:
            if (
                request.url.path.endswith("/beneficiaries")
                and json.loads(request.content)["counts"]["elderly"] == 2
            ):
                second_sent.set()

        w.clients["dispatch"].event_hooks["request"].append(on_request)
        stop = asyncio.Event()
        probe = await w.freshness_probe(activities=1, rate=5)
        sending = asyncio.create_task(probe.run(stop))
        watching = asyncio.create_task(probe.watch(stop))
        await asyncio.wait_for(second_sent.wait(), timeout=60)

        report, expected, _ = await w.stop_and_settle(stop, [sending], timeout=60)

        assert sending.done()
        assert expected["beneficiaries"] == 2  # the record in flight was answered and counted
        assert report == expected
        await asyncio.wait_for(watching, timeout=30)
        assert [r.total for r, _ in probe.ledger.seen] == [1, 2]  # each timed until shown
        await asyncio.sleep(1.5)  # nothing recorded after the truth was taken shows up later
        assert await w.reported() == expected
