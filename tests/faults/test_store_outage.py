"""The document store goes away and comes back: clear 503s meanwhile, nothing half-kept."""

from __future__ import annotations

import time

import httpx
import pytest

from muster_cli.sample import SampleVolunteers
from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_register_to_report import auth, report, wait_for
from tests.integration.helpers import stack

# It stops the store the tests run on: with the faults, never among the tests that share it.
pytestmark = pytest.mark.faults


def test_while_the_store_is_down_the_api_answers_503_and_acknowledges_nothing(
    system: RunningSystem,
) -> None:
    url = f"{system.urls['volunteer']}/volunteers"
    sample = SampleVolunteers(seed=8080)
    before = report(system, "130203")["area"]["registered"]
    refused_form = sample.draw()

    stack("down", "ferretdb")
    try:
        started = time.monotonic()
        refused = httpx.post(url, json=refused_form, headers=auth(Role.ORGANISER), timeout=30)
        elapsed = time.monotonic() - started
        ready = httpx.get(f"{system.urls['volunteer']}/readyz", timeout=30)
    finally:
        stack("up", "ferretdb")

    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "store_unavailable"
    assert refused.headers["Retry-After"]
    assert elapsed < 15, "a request must fail fast, not hang"
    assert ready.status_code == 503
    assert ready.json()["checks"]["store"] != "ok"

    accepted_form = sample.draw()
    accepted = wait_for(
        lambda: httpx.post(url, json=accepted_form, headers=auth(Role.ORGANISER), timeout=30),
        lambda r: r.status_code == 201,
        timeout=30,
    )
    assert accepted.status_code == 201, accepted.text
    # Exactly the acknowledged registration counts; the refused one left no trace.
    after = wait_for(
        lambda: report(system, "130203"), lambda r: r["area"]["registered"] >= before + 1
    )
    time.sleep(1)
    assert (
        report(system, "130203")["area"]["registered"] == before + 1 == after["area"]["registered"]
    )
    retry = httpx.post(url, json=refused_form, headers=auth(Role.ORGANISER))
    assert retry.status_code == 201, "the refused registration must not have claimed the phone"
