"""A volunteer an organiser registered claims their record with their own login, over HTTP:
the invitation, the claim, `/me/...` acting for that volunteer, the binding published on
the volunteer topic, every refusal with its code, and erasure ending the binding."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from muster_auth.dev_tokens import issue_token
from muster_cli.sample import SampleVolunteers
from muster_contracts.envelope import EventEnvelope, Role
from muster_contracts.topology import event_topic
from tests.conftest import kafka_bootstrap
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_access import building_in, register
from tests.integration.helpers import read_topic

STREET_A, STREET_B = "130203001", "130203002"
ORGANISER = {"Authorization": f"Bearer {issue_token('organiser-li', Role.ORGANISER, STREET_A)}"}


def login(name: str) -> dict[str, str]:
    """A volunteer token of a login the identity provider just created."""
    subject = f"idp|{name}-{uuid.uuid4().hex[:8]}"
    return {"Authorization": f"Bearer {issue_token(subject, Role.VOLUNTEER, STREET_A)}"}


@pytest.fixture(scope="module")
def volunteer(system: RunningSystem) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.urls["volunteer"], timeout=30) as client:
        yield client


def invite(volunteer: httpx.Client, volunteer_id: str) -> str:
    answer = volunteer.post(f"/volunteers/{volunteer_id}/invitations", headers=ORGANISER)
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    code: str = answer.json()["code"]
    return code


def error(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


def test_an_invited_volunteer_claims_their_record_and_acts_as_that_volunteer(
    system: RunningSystem, volunteer: httpx.Client
) -> None:
    registered = register(system, STREET_A)
    volunteer_id = registered["volunteer_id"]
    me = login("wang-fang")
    assert error(volunteer.get("/me/service-record", headers=me)) == (404, "not_registered")
    assert registered["has_login"] is False

    code = invite(volunteer, volunteer_id)
    claimed = volunteer.post("/me/claim", json={"code": code.lower()}, headers=me)

    assert claimed.status_code == 200, claimed.text
    assert claimed.json() == {"volunteer_id": volunteer_id}
    record = volunteer.get("/me/service-record", headers=me)
    assert record.status_code == 200, record.text
    assert record.json()["volunteer_id"] == volunteer_id
    assert volunteer.get("/me", headers=me).json()["volunteer_id"] == volunteer_id
    assert volunteer.get("/me/sign-ups", headers=me).json() == {"sign_ups": []}
    assert volunteer.get(f"/volunteers/{volunteer_id}", headers=me).json()["has_login"] is True

    # Published, with the volunteer's id and the login's subject, and no code.
    token = me["Authorization"].removeprefix("Bearer ")
    topic = event_topic(system.topic_prefix, "volunteer")
    records = asyncio.run(read_topic(kafka_bootstrap(), topic, expected=10_000, timeout=5))
    mine = [
        envelope
        for envelope in (EventEnvelope.from_json(r.value) for r in records)
        if envelope.stream_id == f"volunteer-{volunteer_id}"
    ]
    assert [e.type for e in mine] == [
        "volunteer.registered",
        "volunteer.invited",
        "volunteer.login_bound",
    ]
    bound = mine[-1]
    assert bound.payload["volunteer_id"] == volunteer_id
    assert bound.payload["binding"] == "invitation"
    assert bound.actor.role is Role.VOLUNTEER
    assert bound.payload["subject"].startswith("idp|wang-fang-")
    assert bound.payload["subject"] == bound.actor.subject
    assert token not in bound.to_json().decode()
    assert code.replace("-", "") not in b"".join(r.value for r in records).decode()


def test_every_refused_claim_says_why(system: RunningSystem, volunteer: httpx.Client) -> None:
    first = register(system, STREET_A)["volunteer_id"]
    second = register(system, STREET_A)["volunteer_id"]
    alice, bob = login("alice"), login("bob")

    superseded = invite(volunteer, first)
    current = invite(volunteer, first)
    assert error(volunteer.post("/me/claim", json={"code": superseded}, headers=alice)) == (
        410,
        "invitation_superseded",
    )
    assert volunteer.post("/me/claim", json={"code": current}, headers=alice).status_code == 200
    # The same code again, by another login and by the one that claimed it.
    for who in (bob, alice):
        answer = volunteer.post("/me/claim", json={"code": current}, headers=who)
        assert error(answer) == (409, "invitation_used")
    # A login bound already cannot take a second volunteer.
    code_second = invite(volunteer, second)
    answer = volunteer.post("/me/claim", json={"code": code_second}, headers=alice)
    assert error(answer) == (409, "login_already_bound")
    # A volunteer bound already is not invited again.
    again = volunteer.post(f"/volunteers/{first}/invitations", headers=ORGANISER)
    assert error(again) == (409, "volunteer_already_bound")
    self_registered = volunteer.post(
        "/volunteers", json=_form(), headers=login("carol") | {"Idempotency-Key": str(uuid.uuid4())}
    )
    assert self_registered.json()["has_login"] is True
    own = self_registered.json()["volunteer_id"]
    assert error(volunteer.post(f"/volunteers/{own}/invitations", headers=ORGANISER)) == (
        409,
        "volunteer_already_bound",
    )
    # No such code, and no code at all.
    unknown = volunteer.post("/me/claim", json={"code": "0000-0000-0000-0000"}, headers=bob)
    assert error(unknown) == (404, "invitation_not_found")
    assert unknown.json()["error"]["field"] == "code"
    malformed = volunteer.post("/me/claim", json={"code": "not a code at all"}, headers=bob)
    assert error(malformed) == (422, "validation_failed")
    # Who may invite: an organiser whose area holds the volunteer.
    outside = {"Authorization": f"Bearer {issue_token('org-b', Role.ORGANISER, STREET_B)}"}
    assert error(volunteer.post(f"/volunteers/{second}/invitations", headers=outside)) == (
        404,
        "not_found",
    )
    assert error(volunteer.post(f"/volunteers/{second}/invitations", headers=bob)) == (
        403,
        "forbidden",
    )
    # After all that, bob still claims the second volunteer.
    assert volunteer.post("/me/claim", json={"code": code_second}, headers=bob).status_code == 200


def _form() -> dict[str, Any]:
    return SampleVolunteers(seed=uuid.uuid4().int % 10**9).draw(building_in(STREET_A))


def test_guessing_codes_is_cut_off_per_login(volunteer: httpx.Client) -> None:
    guesser = login("guesser")
    answers = [
        volunteer.post("/me/claim", json={"code": f"{i:04d}-0000-0000-0000"}, headers=guesser)
        for i in range(11)
    ]

    assert [a.status_code for a in answers] == [404] * 10 + [429]
    assert answers[-1].json()["error"]["code"] == "too_many_claim_attempts"
    assert 0 < int(answers[-1].headers["retry-after"]) <= 3600
    assert volunteer.post(
        "/me/claim", json={"code": "0000-0000-0000-0000"}, headers=login("honest")
    ).status_code == 404  # fmt: skip


def test_erasure_ends_the_binding(system: RunningSystem, volunteer: httpx.Client) -> None:
    volunteer_id = register(system, STREET_A)["volunteer_id"]
    me = login("dora")
    code = invite(volunteer, volunteer_id)
    assert volunteer.post("/me/claim", json={"code": code}, headers=me).status_code == 200

    assert volunteer.delete(f"/volunteers/{volunteer_id}", headers=me).status_code == 204

    assert error(volunteer.get("/me", headers=me)) == (404, "not_registered")
    # The login is free again: it may register itself as someone new.
    fresh = volunteer.post(
        "/volunteers", json=_form(), headers=me | {"Idempotency-Key": str(uuid.uuid4())}
    )
    assert fresh.status_code == 201, fresh.text


def test_the_openapi_document_names_every_answer_of_the_login_operations(
    volunteer: httpx.Client,
) -> None:
    paths = volunteer.get("/openapi.json").json()["paths"]

    documented = {
        operation: set(paths[path][method]["responses"])
        for operation, path, method in (
            ("invite", "/volunteers/{volunteer_id}/invitations", "post"),
            ("claim", "/me/claim", "post"),
            ("me", "/me", "get"),
        )
    }
    assert documented["invite"] >= {"201", "401", "403", "404", "409", "410", "422", "503"}
    assert documented["claim"] >= {"200", "401", "403", "404", "409", "410", "422", "429", "503"}
    assert documented["me"] >= {"200", "401", "403", "404", "410"}
