"""Email on the real store, through a real SMTP server (aiosmtpd) started by the test: the
volunteer service fulfils notify's requests from the sealed address, in zh-CN or English
with a plain-text part, retries a server that refuses for a while, and sends nothing
once the address is withdrawn or the volunteer erased."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from muster_auth.keys import LocalKeyFile
from muster_contracts.envelope import Actor, Role
from muster_contracts.events.contacts import EmailDeliveryRecorded, EmailOutcome, EmailRequested
from muster_contracts.events.volunteer import VOLUNTEER_STREAM
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.mongo import Database
from muster_runtime.ports.event_store import CommandContext
from muster_volunteer.adapters.personal_data import PersonalDataVault
from muster_volunteer.adapters.smtp import SmtpMailer
from muster_volunteer.application.email import Courier, EmailAddresses, EmailOutbox
from muster_volunteer.application.registration import stream_id
from muster_volunteer.domain.volunteer import PersonalData
from tests.integration.test_notify import BUILDINGS, Clock, Log, registered
from tests.smtp_server import smtp_server

VOLUNTEER = Actor(subject="v-login", role=Role.VOLUNTEER)


@dataclass
class MailServer:
    """Accepts every message, or answers 451 (try again later) to the next `refusing`."""

    refusing: int = 0
    received: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.refusing:
            self.refusing -= 1
            return "451 4.3.0 try again later"
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 OK"


@pytest.fixture
def mail_server() -> Iterator[tuple[MailServer, int]]:
    handler = MailServer()
    with smtp_server(handler) as port:
        yield handler, port


@dataclass
class Volunteers:
    """The volunteer service's store, vault and addresses, with a clock and a log."""

    store: MongoEventStore
    vault: PersonalDataVault
    addresses: EmailAddresses
    clock: Clock
    log: Log
    context: CommandContext

    async def register(self, volunteer_id: str, name: str = "李明") -> None:
        personal = await self.vault.seal(volunteer_id, PersonalData(name=name, phone="13800138000"))
        await self.store.append(
            stream_id(volunteer_id),
            VOLUNTEER_STREAM,
            0,
            [registered(volunteer_id, BUILDINGS[0], personal=personal)],
            self.context,
        )

    def outbox(self, db: Database, port: int) -> EmailOutbox:
        return EmailOutbox(
            db,
            self.store,
            self.vault,
            SmtpMailer("127.0.0.1", port, "Muster <noreply@muster.local>", start_tls=False),
            Courier(max_attempts=3, first_retry=timedelta(seconds=10)),
            clock=self.clock,
        )


@pytest.fixture
async def volunteers(db: Database, tmp_path: Path) -> Volunteers:
    assert LocalKeyFile.create(tmp_path / "kek.json")
    vault = PersonalDataVault(db, LocalKeyFile(tmp_path / "kek.json"), cache_seconds=0)
    store = MongoEventStore(db)
    await store.create_indexes()
    clock = Clock()
    return Volunteers(
        store, vault, EmailAddresses(store, vault), clock, Log(clock), CommandContext(VOLUNTEER)
    )


def request(delivery_id: str, volunteer_id: str, language: str, **changes: Any) -> EmailRequested:
    fields: dict[str, Any] = {
        "delivery_id": delivery_id,
        "volunteer_id": volunteer_id,
        "kind": "drive_launched",
        "language": language,
        "subject": "新的志愿招募：楼道清理" if language == "zh-CN" else "New drive: Stairwells",
        "text": "报名截止 2026-12-08 16:00。" if language == "zh-CN" else "Sign up by 16:00.",
        "drive_id": "d-1",
    }
    return EmailRequested.model_validate(fields | changes)


async def test_requests_are_emailed_from_the_sealed_address_once_whatever_the_retries(
    db: Database, volunteers: Volunteers, mail_server: tuple[MailServer, int]
) -> None:
    server, port = mail_server
    store, vault, addresses = volunteers.store, volunteers.vault, volunteers.addresses
    clock, log, context = volunteers.clock, volunteers.log, volunteers.context
    for volunteer_id in ("v-zh", "v-en", "v-none", "v-withdrawn"):
        await volunteers.register(volunteer_id)
    await addresses.give("v-zh", "li.ming@example.com", True, context)
    await addresses.give("v-en", "Ming.Li@Example.COM", True, context)
    await addresses.give("v-withdrawn", "gone@example.com", True, context)
    await addresses.withdraw("v-withdrawn", context)
    assert await addresses.read("v-en") == "Ming.Li@example.com"
    # The address is sealed in the stream: never in clear.
    raw = str(await db["events"].find({}).to_list())
    assert "li.ming@example.com" not in raw

    outbox = volunteers.outbox(db, port)
    await outbox.create_indexes()
    requests = [
        request("r-zh", "v-zh", "zh-CN"),
        request("r-en", "v-en", "en"),
        request("r-none", "v-none", "zh-CN"),
        request("r-withdrawn", "v-withdrawn", "zh-CN"),
    ]
    batch = [log(f"email-request-{r.delivery_id}", r) for r in requests]
    await outbox.apply(batch)
    await outbox.apply(batch)  # read twice from Kafka: still one request each

    server.refusing = 1  # the first email meets a server that asks to try again later
    await outbox.work()
    assert len(server.received) == 1
    clock.now += timedelta(minutes=1)
    await outbox.work()
    assert await outbox.work() == 0

    by_address = {str(m["To"]): m for m in server.received}
    assert set(by_address) == {"li.ming@example.com", "Ming.Li@example.com"}
    chinese, english = by_address["li.ming@example.com"], by_address["Ming.Li@example.com"]
    assert chinese["Subject"] == "新的志愿招募：楼道清理"
    assert chinese["Message-ID"] == "<r-zh@muster.local>"
    for message, greeting in ((chinese, "您好"), (english, "Hello")):
        plain = message.get_body(preferencelist=("plain",))
        markup = message.get_body(preferencelist=("html",))
        assert plain is not None
        assert markup is not None
        assert greeting in plain.get_content()
        assert greeting in markup.get_content()
    assert "Sign up by 16:00." in english.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]

    outcomes = await _outcomes(store, [r.delivery_id for r in requests])
    assert {k: outcome for k, (outcome, _) in outcomes.items()} == {
        "r-zh": EmailOutcome.SENT,
        "r-en": EmailOutcome.SENT,
        "r-none": EmailOutcome.NO_ADDRESS,
        "r-withdrawn": EmailOutcome.NO_ADDRESS,
    }
    # One of the two sent took a second try (the server refused once).
    assert sorted(attempts for _, attempts in outcomes.values()) == [1, 1, 1, 2]
    # Read again from Kafka long after (a consumer replay): recognised, not sent again.
    await outbox.apply(batch)
    await outbox.work()
    assert len(server.received) == 2
    assert await outbox.pending() == []

    # Erased: the key is shredded, so the sealed address can never be opened again.
    await vault.shred("v-zh")
    await outbox.apply([log("email-request-r-zh-2", request("r-zh-2", "v-zh", "zh-CN"))])
    await outbox.work()
    assert len(server.received) == 2
    assert (await _outcomes(store, ["r-zh-2"]))["r-zh-2"][0] is EmailOutcome.ERASED


async def test_a_server_that_keeps_refusing_ends_in_a_recorded_failure(
    db: Database, volunteers: Volunteers, mail_server: tuple[MailServer, int]
) -> None:
    server, port = mail_server
    clock, log = volunteers.clock, volunteers.log
    await volunteers.register("v-1", "王芳")
    await volunteers.addresses.give("v-1", "wang.fang@example.com", True, volunteers.context)
    outbox = volunteers.outbox(db, port)
    await outbox.apply([log("email-request-r-1", request("r-1", "v-1", "zh-CN"))])
    server.refusing = 100
    for _ in range(5):
        await outbox.work()
        clock.now += timedelta(minutes=5)
    assert server.received == []
    assert (await _outcomes(volunteers.store, ["r-1"]))["r-1"] == (EmailOutcome.FAILED, 3)
    assert await outbox.pending() == []


async def _outcomes(
    store: MongoEventStore, delivery_ids: list[str]
) -> dict[str, tuple[EmailOutcome, int]]:
    found = {}
    for delivery_id in delivery_ids:
        stream = await store.read_stream(f"email-delivery-{delivery_id}")
        assert stream.version == 1, delivery_id  # recorded once
        recorded = stream.decoded()[0]
        assert isinstance(recorded, EmailDeliveryRecorded)
        found[delivery_id] = (recorded.outcome, recorded.attempts)
    return found
