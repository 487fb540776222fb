"""One contract for where `Idempotency-Key`s are kept: the document store and memory alike."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from muster_http.idempotency import IdempotencyKeys
from muster_runtime.adapters.memory.idempotency_records import InMemoryIdempotencyRecords
from muster_runtime.adapters.mongodb.idempotency_records import StoredIdempotencyRecords
from muster_runtime.errors import RuleViolationError
from muster_runtime.mongo import Database
from muster_runtime.ports.idempotency_records import IdempotencyRecords, KeyRecord

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PEPPER = b"a-test-pepper-0123456789"


@pytest.fixture(params=["store", "memory"])
async def records(request: pytest.FixtureRequest, db: Database) -> IdempotencyRecords:
    kept: IdempotencyRecords = (
        StoredIdempotencyRecords(db) if request.param == "store" else InMemoryIdempotencyRecords()
    )
    await kept.create_indexes()
    return kept


def pending(
    record_id: str, claim: str = "c1", expires_in: timedelta = timedelta(hours=24)
) -> KeyRecord:
    return KeyRecord(record_id, "f1", claim, NOW, NOW + expires_in)


async def test_a_record_is_inserted_once_and_read_back_whole(records: IdempotencyRecords) -> None:
    assert await records.insert(pending("li|POST /drives|k"))
    assert not await records.insert(pending("li|POST /drives|k", claim="c2"))
    answered = replace(
        pending("li|POST /drives|k"),
        status=201,
        body=b'{"drive_id":"d1","title":"\xe6\xa5\xbc"}',
        headers={"location": "/drives/d1", "content-type": "application/json"},
    )
    assert await records.replace("c1", answered)

    assert await records.get("li|POST /drives|k") == answered
    assert await records.get("li|POST /drives|other") is None


async def test_replace_and_delete_hold_only_for_the_current_claim(
    records: IdempotencyRecords,
) -> None:
    await records.insert(pending("k"))
    assert not await records.replace("someone-else", replace(pending("k"), claim="c2"))
    assert await records.replace("c1", replace(pending("k"), claim="c2"))
    await records.delete("k", "c1")
    assert (await records.get("k")) is not None
    await records.delete("k", "c2")
    assert await records.get("k") is None


async def test_expired_records_are_deleted_and_no_others(records: IdempotencyRecords) -> None:
    await records.insert(pending("old", expires_in=timedelta(hours=-1)))
    await records.insert(pending("new"))

    assert await records.delete_expired(NOW) == 1
    assert await records.get("old") is None
    assert await records.get("new") is not None


async def test_concurrent_claims_of_one_key_let_exactly_one_run(
    records: IdempotencyRecords,
) -> None:
    keys = IdempotencyKeys(records, PEPPER, clock=lambda: NOW)

    async def claim() -> str:
        try:
            await keys.claim("li", "POST /drives", "k", "f1")
        except Exception as refused:
            return getattr(refused, "code", repr(refused))
        return "claimed"

    outcomes = await asyncio.gather(*(claim() for _ in range(8)))
    assert sorted(outcomes) == ["claimed"] + ["request_in_progress"] * 7
    with pytest.raises(RuleViolationError):
        await keys.claim("li", "POST /drives", "k", "another body")


async def test_a_key_is_kept_only_as_a_keyed_hash_and_derives_the_same_ids(db: Database) -> None:
    """Clients put phone numbers in their keys: the store holds neither the key nor the
    caller, and only the pepper turns a guessed key into a record id."""
    keys = IdempotencyKeys(StoredIdempotencyRecords(db), PEPPER, clock=lambda: NOW)
    phone_key = "register-13912345678"

    first = await keys.claim("organiser-li", "POST /volunteers", phone_key, "f1")
    await keys.complete(first, 201, b"{}", {})
    # Another process of the service, with the same pepper: the retry finds the first answer.
    again = IdempotencyKeys(StoredIdempotencyRecords(db), PEPPER, clock=lambda: NOW)
    retry = await again.claim("organiser-li", "POST /volunteers", phone_key, "f1")
    same = again.record_id("organiser-li", "POST /volunteers", phone_key)
    other_pepper = IdempotencyKeys(StoredIdempotencyRecords(db), b"another-pepper-9876543210")

    dump = repr(await db["idempotency_keys"].find({}).to_list(None))
    assert "13912345678" not in dump
    assert "organiser-li" not in dump
    assert "POST /volunteers" not in dump
    assert first.record.record_id == same
    assert retry.answer is not None
    assert retry.stable_id("volunteer") == first.stable_id("volunteer")
    assert other_pepper.record_id("organiser-li", "POST /volunteers", phone_key) != same
    assert keys.record_id("organiser-li", "POST /volunteers", "register-13912345679") != same


async def test_the_store_s_expiry_index_is_made_and_made_again(db: Database) -> None:
    """MongoDB gets a TTL index; FerretDB, which refuses one, a plain index the sweep uses."""
    records = StoredIdempotencyRecords(db)
    await records.create_indexes()
    await records.create_indexes()  # every start makes it again

    indexes = await db["idempotency_keys"].index_information()
    (expiry,) = [i for i in indexes.values() if i["key"] == [("expires_at", 1)]]
    assert expiry.get("expireAfterSeconds") in {None, 0}
