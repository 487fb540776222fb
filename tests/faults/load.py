"""A modest concurrent stream of registrations, and the ground truth of what was acknowledged.

Every registration carries an `Idempotency-Key` and is retried with the same key, as a
client following `Retry-After` would, until the API gives a definite answer: 201 (then it
is acknowledged and must be counted exactly once) or a 4xx (then it must not count). A 503
or a lost connection is not an answer, nor is a 409 `request_in_progress` (the key's first
request is still pending: the client waits `Retry-After` and asks again); a request that takes longer than the request
timeout is a hang and is recorded as such.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from muster_cli.sample import SampleVolunteers
from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Role
from tests.e2e.test_register_to_report import auth

REQUEST_TIMEOUT = 10.0  # an answer slower than this is a hang
RETRY_PAUSE = 0.3
MAX_REGISTRATIONS = 1000  # a bound on each load run, whatever happens
PACE = 0.1  # seconds between one client's registrations: a modest stream


@dataclass
class LoadRecord:
    """What the API answered, as the clients saw it."""

    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> form
    refused: Counter[int] = field(default_factory=Counter)  # definite 4xx answers
    unavailable: Counter[str] = field(default_factory=Counter)  # 503 error codes
    unavailable_at: list[float] = field(default_factory=list)  # when each 503 came (monotonic)
    unavailable_without_body: int = 0
    unavailable_without_retry_after: int = 0
    server_errors: list[str] = field(default_factory=list)  # 5xx other than 503
    transport_errors: int = 0  # connection refused or reset (a process was killed)
    hangs: int = 0  # no answer within REQUEST_TIMEOUT
    in_progress: int = 0  # 409 `request_in_progress`: asked again after Retry-After
    slowest_answer: float = 0.0
    unresolved: int = 0  # still no definite answer when the run ended


class RegistrationLoad:
    """Registrations into one street's buildings from a few concurrent clients."""

    def __init__(self, volunteer_url: str, street: str, seed: int, clients: int = 3) -> None:
        self._url = f"{volunteer_url}/volunteers"
        self._sample = SampleVolunteers(seed=seed)
        self._buildings = [
            a.id for a in load_area_tree().at_level(AreaLevel.BUILDING) if a.id.startswith(street)
        ]
        self._lock = threading.Lock()
        self._issued = 0
        self._stop_issuing = threading.Event()
        self._give_up_at = float("inf")
        self.record = LoadRecord()
        self._threads = [
            threading.Thread(target=self._client, name=f"load-{n}", daemon=True)
            for n in range(clients)
        ]

    def __enter__(self) -> RegistrationLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.finish(resolve_within=5)

    @property
    def unavailable_window(self) -> float:
        """Seconds from the first 503 to the last (0 without any)."""
        at = self.record.unavailable_at
        return max(at) - min(at) if at else 0.0

    @property
    def acknowledged(self) -> int:
        with self._lock:
            return len(self.record.acknowledged)

    def wait_acknowledged(self, count: int, timeout: float, why: str) -> None:
        deadline = time.monotonic() + timeout
        while self.acknowledged < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{why}: only {self.acknowledged} of {count} registrations acknowledged "
                    f"within {timeout:.0f} s; answers so far: {self.record}"
                )
            time.sleep(0.05)

    def finish(self, resolve_within: float = 60) -> LoadRecord:
        """Stop issuing new registrations; give those in flight time to get an answer."""
        self._stop_issuing.set()
        self._give_up_at = time.monotonic() + resolve_within
        for thread in self._threads:
            thread.join(timeout=resolve_within + REQUEST_TIMEOUT + 5)
        return self.record

    def _next_form(self) -> dict[str, Any] | None:
        with self._lock:
            if self._stop_issuing.is_set() or self._issued >= MAX_REGISTRATIONS:
                return None
            self._issued += 1
            form = self._sample.draw(self._sample_building())
        return form

    def _sample_building(self) -> str:
        return self._buildings[self._issued * 7919 % len(self._buildings)]

    def _client(self) -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
            while (form := self._next_form()) is not None:
                self._register(client, form)
                time.sleep(PACE)

    def _register(self, client: httpx.Client, form: dict[str, Any]) -> None:
        headers = auth(Role.ORGANISER) | {"Idempotency-Key": f"load-{uuid.uuid4()}"}
        while time.monotonic() < self._give_up_at:
            started = time.monotonic()
            try:
                response = client.post(self._url, json=form, headers=headers)
            except httpx.TimeoutException:
                with self._lock:
                    self.record.hangs += 1
                continue
            except httpx.TransportError:
                with self._lock:
                    self.record.transport_errors += 1
                time.sleep(RETRY_PAUSE)
                continue
            with self._lock:
                self._note(response, form, time.monotonic() - started)
            if _in_progress(response):
                time.sleep(float(response.headers.get("Retry-After", RETRY_PAUSE)))
                continue
            if response.status_code < 500:
                return
            time.sleep(RETRY_PAUSE)
        with self._lock:
            self.record.unresolved += 1

    def _note(self, response: httpx.Response, form: dict[str, Any], took: float) -> None:
        record = self.record
        record.slowest_answer = max(record.slowest_answer, took)
        status = response.status_code
        if status == 201:
            record.acknowledged[response.json()["volunteer_id"]] = form
        elif status == 503:
            record.unavailable_at.append(time.monotonic())
            try:
                record.unavailable[response.json()["error"]["code"]] += 1
            except (ValueError, KeyError, TypeError):
                record.unavailable_without_body += 1
            if "Retry-After" not in response.headers:
                record.unavailable_without_retry_after += 1
        elif status >= 500:
            record.server_errors.append(f"{status} {response.text[:200]}")
        elif _in_progress(response):
            record.in_progress += 1
        else:
            record.refused[status] += 1


def _in_progress(response: httpx.Response) -> bool:
    if response.status_code != 409:
        return False
    try:
        return bool(response.json()["error"]["code"] == "request_in_progress")
    except (ValueError, KeyError, TypeError):
        return False


def expected_report(acknowledged: dict[str, dict[str, Any]], street: str) -> dict[str, Any]:
    """The street's volunteer report as the acknowledged registrations determine it."""
    registered: Counter[str] = Counter()
    categories: dict[str, Counter[str]] = {}
    for form in acknowledged.values():
        for area in (street, form["home_area_id"][: len(street) + 3]):
            registered[area] += 1
            categories.setdefault(area, Counter()).update(form["categories"])
    return {
        area: {"registered": registered[area], "by_category": dict(categories[area])}
        for area in registered
    }
