"""Personal data never rests or travels in clear, and erasure shreds it for good."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from pymongo import MongoClient

from muster_cli.sample import SampleVolunteers
from muster_contracts.envelope import Role
from muster_volunteer.domain.volunteer import id_number_check_digit
from tests.conftest import mongo_url
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_register_to_report import auth
from tests.topic_dump import topic_records


def _id_number(serial: int) -> str:
    first = f"13020319850101{serial:03d}"
    return first + id_number_check_digit(first)


async def _all_topic_bytes(prefix: str) -> list[bytes]:
    """Each record's key, value and header values, joined."""
    return [
        (r.key or b"") + (r.value or b"") + b"".join(v for _, v in r.headers)
        for r in await topic_records(prefix)
    ]


def _all_documents(databases: list[str]) -> list[str]:
    found: list[str] = []
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_url())
    with client:
        for name in databases:
            db = client[name]
            for collection in db.list_collection_names():
                found += [repr(doc) for doc in db[collection].find()]
    return found


def test_names_phones_and_id_numbers_are_nowhere_in_clear_and_erasure_shreds_them(
    system: RunningSystem,
) -> None:
    url = f"{system.urls['volunteer']}/volunteers"
    sample = SampleVolunteers(seed=777)
    people: list[tuple[dict[str, Any], dict[str, str], str]] = []
    for i, name in enumerate(["欧阳娜娜🌸", "王 建国", "Zoë 李"]):
        form = sample.draw() | {"name": name, "id_number": _id_number(i)}
        headers = auth(Role.VOLUNTEER, subject=f"pii-{time.time_ns()}-{i}")
        response = httpx.post(url, json=form, headers=headers | {"Idempotency-Key": f"pii-{i}"})
        assert response.status_code == 201, response.text
        assert response.json()["name"] == name.strip()
        people.append((form, headers, response.json()["volunteer_id"]))

    bad_check_digit = sample.draw() | {
        "id_number": _id_number(9)[:17] + ("0" if _id_number(9)[17] != "0" else "1")
    }
    refused = httpx.post(url, json=bad_check_digit, headers=auth(Role.ORGANISER))
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "id_number"

    erased_form, erased_headers, erased_id = people[0]
    assert httpx.delete(f"{url}/{erased_id}", headers=erased_headers).status_code == 204
    gone = httpx.get(f"{url}/{erased_id}", headers=auth(Role.ORGANISER))
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "erased"
    # The phone is free again: the person may register anew.
    again = httpx.post(url, json=erased_form | {"id_number": None}, headers=auth(Role.ORGANISER))
    assert again.status_code == 201, again.text

    time.sleep(2)  # let the relay publish everything
    haystacks = asyncio.run(_all_topic_bytes(system.topic_prefix))
    documents = _all_documents(system.databases)
    assert haystacks
    assert documents
    for form, _, _ in people:
        for secret in (form["name"], form["phone"], form["id_number"]):
            assert not any(secret.encode() in h for h in haystacks), f"{secret!r} travels in clear"
            assert not any(secret in d for d in documents), f"{secret!r} rests in clear"
