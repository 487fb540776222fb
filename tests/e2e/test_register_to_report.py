"""A volunteer registered at the volunteer service is counted by reporting and known to dispatch."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from muster_auth.dev_tokens import issue_token
from muster_cli.sample import SampleVolunteers
from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem

DISTRICT = "130203"


def auth(role: Role, area: str = DISTRICT, subject: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(subject or f'e2e-{role.value}', role, area)}"}


def wait_for(fetch: Any, predicate: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if predicate(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def report(system: RunningSystem, area_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{system.urls['reporting']}/reports/volunteers",
        params={"area_id": area_id},
        headers=auth(Role.LEADER),
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def test_registered_volunteer_shows_in_every_level_of_the_report(system: RunningSystem) -> None:
    form = SampleVolunteers(seed=101).draw()
    building = form["home_area_id"]
    lineage = [building[:n] for n in (6, 9, 12, 14, 16)]
    before = {a: report(system, a)["area"]["registered"] for a in lineage}

    response = httpx.post(
        f"{system.urls['volunteer']}/volunteers",
        json=form,
        headers=auth(Role.ORGANISER) | {"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    volunteer = response.json()
    accepted = time.monotonic()

    district = wait_for(
        lambda: report(system, DISTRICT), lambda r: r["area"]["registered"] > before[DISTRICT]
    )
    latency = time.monotonic() - accepted
    assert district["area"]["registered"] == before[DISTRICT] + 1
    assert latency < 5, f"took {latency:.2f} s to show in the report"
    for area_id in lineage:
        assert report(system, area_id)["area"]["registered"] == before[area_id] + 1
    street_row = next(c for c in district["children"] if c["area_id"] == building[:9])
    assert street_row["registered"] >= 1

    pooled = wait_for(
        lambda: httpx.get(
            f"{system.urls['dispatch']}/pool/volunteers/{volunteer['volunteer_id']}",
            headers=auth(Role.ORGANISER),
        ),
        lambda r: r.status_code == 200,
    )
    assert pooled.status_code == 200
    assert pooled.json()["home_area_id"] == building
    assert "name" not in pooled.json()
    assert "phone" not in pooled.json()


def test_a_retried_registration_returns_the_first_answer_and_counts_once(
    system: RunningSystem,
) -> None:
    form = SampleVolunteers(seed=202).draw()
    headers = auth(Role.ORGANISER) | {"Idempotency-Key": "retry-" + str(uuid.uuid4())}
    url = f"{system.urls['volunteer']}/volunteers"

    first = httpx.post(url, json=form, headers=headers)
    second = httpx.post(url, json=form, headers=headers)
    changed = httpx.post(url, json=form | {"name": "另一个人"}, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert changed.status_code == 422
    assert changed.json()["error"]["field"] == "Idempotency-Key"
    fetched = httpx.get(f"{url}/{first.json()['volunteer_id']}", headers=auth(Role.ORGANISER))
    assert fetched.json()["phone"] == form["phone"]
    building = form["home_area_id"]
    counted = wait_for(lambda: report(system, building), lambda r: r["area"]["registered"] >= 1)
    time.sleep(0.5)
    assert report(system, building)["area"]["registered"] == counted["area"]["registered"] == 1


def test_a_second_registration_with_the_same_phone_is_refused(system: RunningSystem) -> None:
    sample = SampleVolunteers(seed=303)
    form = sample.draw()
    url = f"{system.urls['volunteer']}/volunteers"
    assert httpx.post(url, json=form, headers=auth(Role.ORGANISER)).status_code == 201

    again = sample.draw() | {"phone": "+86 " + form["phone"]}
    response = httpx.post(url, json=again, headers=auth(Role.ORGANISER))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_phone"


def test_bad_input_gets_a_machine_readable_error(system: RunningSystem) -> None:
    url = f"{system.urls['volunteer']}/volunteers"
    form = SampleVolunteers(seed=404).draw()

    bad_phone = httpx.post(url, json=form | {"phone": "12345"}, headers=auth(Role.ORGANISER))
    unknown_area = httpx.post(
        url, json=form | {"home_area_id": "1302039999"}, headers=auth(Role.ORGANISER)
    )

    assert bad_phone.status_code == 422
    assert bad_phone.json()["error"]["code"] == "validation_failed"
    assert [f["field"] for f in bad_phone.json()["error"]["fields"]] == ["phone"]
    assert unknown_area.status_code == 422
    assert unknown_area.json()["error"] | {"message": ""} == {
        "code": "rule_violated",
        "message": "",
        "field": "home_area_id",
        "rule": "known_area",
    }


def test_every_endpoint_checks_who_is_calling(system: RunningSystem) -> None:
    url = f"{system.urls['volunteer']}/volunteers"
    form = SampleVolunteers(seed=505).draw()
    other_street = "130203001" if not form["home_area_id"].startswith("130203001") else "130203002"

    assert httpx.post(url, json=form).status_code == 401
    assert (
        httpx.post(url, json=form, headers={"Authorization": "Bearer not-a-token"}).status_code
        == 401
    )
    assert httpx.post(url, json=form, headers=auth(Role.LEADER)).status_code == 403
    outside = httpx.post(url, json=form, headers=auth(Role.ORGANISER, area=other_street))
    assert outside.status_code == 403
    assert outside.json()["error"]["code"] == "forbidden"
    report_as_volunteer = httpx.get(
        f"{system.urls['reporting']}/reports/volunteers", headers=auth(Role.VOLUNTEER)
    )
    assert report_as_volunteer.status_code == 403


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 if absent)."""
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()) and head.split("{")[0] == name:
            return float(value)
    return 0.0


def test_metrics_move_with_the_traffic(system: RunningSystem) -> None:
    def scrape(service: str) -> str:
        return httpx.get(f"{system.urls[service]}/metrics").text

    before_volunteer, before_reporting = scrape("volunteer"), scrape("reporting")
    form = SampleVolunteers(seed=606).draw()
    created = httpx.post(
        f"{system.urls['volunteer']}/volunteers", json=form, headers=auth(Role.ORGANISER)
    )
    assert created.status_code == 201
    wait_for(lambda: report(system, form["home_area_id"]), lambda r: r["area"]["registered"] >= 1)

    after_volunteer, after_reporting = scrape("volunteer"), scrape("reporting")
    requests = (
        "muster_http_requests_total",
        {"route": "/volunteers", "method": "POST", "status": "201"},
    )
    assert (
        _metric(after_volunteer, requests[0], **requests[1])
        == _metric(before_volunteer, requests[0], **requests[1]) + 1
    )
    appended = _metric(after_volunteer, "muster_events_appended_total", stream_type="volunteer")
    assert (
        appended
        == _metric(before_volunteer, "muster_events_appended_total", stream_type="volunteer") + 1
    )
    assert _metric(after_volunteer, "muster_relay_published_total") >= appended
    topic = f"{system.topic_prefix}.volunteer.events"
    consumed = _metric(after_reporting, "muster_events_consumed_total", topic=topic)
    assert consumed >= _metric(before_reporting, "muster_events_consumed_total", topic=topic) + 1
    assert "muster_relay_backlog" in after_volunteer
