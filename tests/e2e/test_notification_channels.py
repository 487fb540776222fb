"""A drive broadcast over HTTP and real Kafka reaches the inbox, email (a real SMTP server)
and webhooks (real HTTP receivers checking signatures, one failing on purpose) exactly as
each volunteer's preferences say; notify is killed (SIGKILL) mid-delivery and nothing is
lost or sent twice."""

from __future__ import annotations

import email
import email.policy
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Role
from muster_notify.domain.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from tests.e2e.conftest import RunningSystem, running_system
from tests.e2e.test_notifications import _kinds, _notify_ready, _register, _wait
from tests.e2e.test_register_to_report import auth
from tests.smtp_server import smtp_server

AREAS = load_area_tree()
STREET = "130203004"
HOMES = [a.id for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith(STREET)]


class MailBox:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.append(parsed)
        return "250 OK"

    def recipients(self) -> Counter[str]:
        with self.lock:
            return Counter(str(m["To"]) for m in self.received)


class Receiver:
    """An organisation's system: checks every signature; the flaky one answers 503 to
    each delivery's first try."""

    def __init__(self, flaky: bool) -> None:
        self.flaky = flaky
        self.secret = ""
        self.lock = threading.Lock()
        self.tries: Counter[str] = Counter()
        self.accepted: dict[str, dict[str, Any]] = {}
        self.repeats = 0
        self.bad_signatures = 0

    def handle(self, headers: Any, body: bytes) -> int:
        if not verify(
            self.secret,
            headers.get(TIMESTAMP_HEADER, ""),
            body,
            headers.get(SIGNATURE_HEADER, ""),
            datetime.now(UTC),
        ):
            with self.lock:
                self.bad_signatures += 1
            return 401
        delivery_id = headers[DELIVERY_HEADER]
        with self.lock:
            self.tries[delivery_id] += 1
            if self.flaky and self.tries[delivery_id] == 1:
                return 503
            if delivery_id in self.accepted:
                self.repeats += 1  # acknowledged, not acted on again
                return 200
            self.accepted[delivery_id] = orjson.loads(body)
            return 204

    def volunteers(self) -> Counter[str]:
        with self.lock:
            return Counter(str(b["volunteer_id"]) for b in self.accepted.values())


def serve(receiver: Receiver) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(receiver.handle(self.headers, body))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[MailBox, int]]:
    box = MailBox()
    with smtp_server(box) as port:
        yield box, port


@pytest.fixture(scope="module")
def channel_system(
    tmp_path_factory: pytest.TempPathFactory, mailbox: tuple[MailBox, int]
) -> Iterator[RunningSystem]:
    settings = {
        "MUSTER_EMAIL_ENABLED": "true",
        "MUSTER_WEBHOOK_ALLOW_INTERNAL": "true",  # the receivers run on this machine
        "MUSTER_WEBHOOK_FIRST_RETRY_SECONDS": "1",
        "MUSTER_PUSH_LEASE_SECONDS": "5",  # a killed process's deliveries are taken back soon
        "MUSTER_BROADCAST_AREAS_PER_PAGE": "1",  # a long broadcast: time to kill notify
        "MUSTER_SMTP_HOST": "127.0.0.1",
        "MUSTER_SMTP_PORT": str(mailbox[1]),
        "MUSTER_SMTP_START_TLS": "false",
        "MUSTER_EMAIL_FIRST_RETRY_SECONDS": "1",
    }
    with running_system(tmp_path_factory, settings) as running:
        yield running


# Its own target (`make test-channels`, which CI runs after `make test-cluster`), not
# `make test`: it starts its own services and takes 1-3 minutes on a loaded 2-core machine.
@pytest.mark.channels
def test_a_broadcast_reaches_every_channel_as_preferences_say_through_a_kill(
    channel_system: RunningSystem, mailbox: tuple[MailBox, int]
) -> None:
    system, (box, _) = channel_system, mailbox
    notify, volunteer = system.urls["notify"], system.urls["volunteer"]
    organiser = auth(Role.ORGANISER, STREET)
    good, flaky = Receiver(flaky=False), Receiver(flaky=True)
    servers = []
    for receiver in (good, flaky):
        server, url = serve(receiver)
        servers.append(server)
        answer = httpx.post(
            f"{notify}/webhook-subscriptions",
            json={"area_id": STREET, "url": url},
            headers=organiser | {"Idempotency-Key": str(uuid.uuid4())},
        )
        assert answer.status_code == 201, answer.text
        receiver.secret = answer.json()["secret"]

    # all: every channel; no_email_for_drives: email off for drive messages; no_address:
    # no email given, webhooks off for drive messages; quiet: quiet hours now.
    groups = {"all": 8, "no_email_for_drives": 8, "no_address": 8, "quiet": 4}
    people: dict[str, list[tuple[str, dict[str, str]]]] = {g: [] for g in groups}
    for group, size in groups.items():
        for i in range(size):
            people[group].append(_register(system, f"{group}{i}", HOMES[(i * 5) % len(HOMES)]))
    addresses: dict[str, str] = {}
    for group in ("all", "no_email_for_drives", "quiet"):
        for volunteer_id, headers in people[group]:
            address = f"{volunteer_id}@example.com"
            answer = httpx.put(
                f"{volunteer}/me/email",
                json={"email": address, "consent": True},
                headers=headers,
            )
            assert answer.status_code == 200, answer.text
            addresses[volunteer_id] = address
    # Every login known to notify before its preferences are set.
    everyone = [p for group in people.values() for p in group]
    assert _wait(lambda: all(httpx.get(
        f"{notify}/me/notifications/unread-count", headers=h
    ).status_code == 200 for _, h in everyone), timeout=120)  # fmt: skip
    now_utc = datetime.now(UTC)
    for group, members in people.items():
        change: dict[str, Any] = {"quiet_start": "00:00", "quiet_end": "00:00"}  # none
        if group == "quiet":  # quiet from an hour ago to an hour from now, in UTC
            change = {
                "time_zone": "UTC",
                "quiet_start": f"{(now_utc - timedelta(hours=1)):%H}:00",
                "quiet_end": f"{(now_utc + timedelta(hours=2)):%H}:00",
            }
        if group == "no_email_for_drives":
            change["channels"] = {"drive_launched": {"email": False}}
        if group == "no_address":
            change["channels"] = {"drive_launched": {"webhook": False}}
        for _, headers in members:
            answer = httpx.patch(
                f"{notify}/me/notification-preferences", json=change, headers=headers
            )
            assert answer.status_code == 200, answer.text

    form = {
        "title": "社区义诊",
        "scope_area_id": STREET,
        "category": "environment",
        "roles": [{"role_id": "general", "skill": "general", "headcount": 5}],
        "signup_closes_at": (now_utc + timedelta(hours=2)).isoformat(),
        "activity_starts_at": (now_utc + timedelta(days=1)).isoformat(),
        "activity_ends_at": (now_utc + timedelta(days=1, hours=2)).isoformat(),
    }
    launched = httpx.post(f"{system.urls['dispatch']}/drives", json=form, headers=organiser)
    assert launched.status_code == 201, launched.text
    drive_id = launched.json()["drive_id"]

    def deliveries() -> dict[str, Any]:
        try:
            answer = httpx.get(f"{notify}/drives/{drive_id}/deliveries", headers=organiser)
        except httpx.TransportError:
            return {}
        return dict(answer.json()["channels"]) if answer.status_code == 200 else {}

    # Killed as soon as deliveries are planned: the broadcast (a page per building) and
    # the couriers are under way.
    under_way = _wait(lambda: deliveries().get("webhook", {}).get("planned", 0) > 0)
    assert under_way, deliveries()
    system.processes["notify"].kill()  # SIGKILL: no shutdown, no last flush
    system.processes.pop("notify").wait(timeout=15)
    system.start("notify")
    assert _wait(lambda: _notify_ready(system), timeout=60)

    told = {v for g in groups for v, _ in people[g]}
    webhooked = {v for g in ("all", "no_email_for_drives") for v, _ in people[g]}
    emailed = {addresses[v] for v, _ in people["all"]}
    assert _wait(lambda: set(good.volunteers()) == webhooked, timeout=180), good.volunteers()
    assert _wait(lambda: set(flaky.volunteers()) == webhooked, timeout=180)
    assert _wait(lambda: set(box.recipients()) == emailed, timeout=180), box.recipients()
    assert _wait(lambda: deliveries()["email"]["no_address"] == len(people["no_address"]))
    for volunteer_id, headers in everyone:
        assert _kinds(system, headers) == ["drive_launched"], volunteer_id
    assert told == {v for v, _ in everyone}

    # Each once: one email per address, one accepted delivery per volunteer and receiver.
    assert max(box.recipients().values()) == 1
    assert max(good.volunteers().values()) == 1
    assert max(flaky.volunteers().values()) == 1
    assert good.bad_signatures == flaky.bad_signatures == 0
    # Repeats a receiver saw (a delivery the process was killed between sending and
    # recording): at most those in flight at the kill, each recognised by its id.
    print(f"\nrepeats seen by the receivers: {good.repeats + flaky.repeats}")
    assert good.repeats + flaky.repeats <= 64
    # Quiet hours: nothing on email or webhooks yet for the quiet ones; the inbox has it.
    quiet = {v for v, _ in people["quiet"]}
    assert not quiet & set(good.volunteers())
    assert not {addresses[v] for v in quiet} & set(box.recipients())

    # A delivery leased when notify was killed is settled once its lease runs out.
    requested = len(people["all"]) + len(people["no_address"])
    assert _wait(lambda: deliveries()["email"]["sent"] == requested, timeout=120), deliveries()
    assert _wait(lambda: deliveries()["webhook"]["sent"] == 2 * len(webhooked), timeout=120)
    counts = deliveries()
    webhook, mail = counts["webhook"], counts["email"]
    assert webhook["planned"] == 2 * (len(webhooked) + len(quiet))
    assert webhook["sent"] == 2 * len(webhooked)
    assert webhook["failed"] >= len(webhooked)  # the flaky receiver's first tries
    assert mail["planned"] == len(people["all"]) + len(people["no_address"]) + len(quiet)
    assert mail["sent"] == requested
    assert mail["delivered"] == len(people["all"])
    for server in servers:
        server.shutdown()
