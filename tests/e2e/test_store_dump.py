"""An attacker with a dump of every service database and every topic, and nothing else,
recovers no name and no phone number, while the service still reads them.

The attack tries every key-like value in the dump (raw bytes, base64 and hex strings, and
every 32-byte window of longer binary values) as an AES-GCM key against every sealed blob,
with and without each volunteer id as additional data. A control run with the
key-encryption key, which lives outside the dump, opens the same blobs: the harness can
succeed, and only the missing KEK stops it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pymongo import MongoClient

from muster_auth.keys import LocalKeyFile
from muster_cli.sample import SampleVolunteers
from muster_contracts.envelope import Role
from tests.conftest import mongo_url
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_register_to_report import auth
from tests.topic_dump import topic_records

NONCE = 12
TAG = 16
KEY_SIZES = (16, 24, 32)
BASE64ISH = re.compile(rb"[A-Za-z0-9+/_-]{20,}={0,2}")
HEXISH = re.compile(rb"\b[0-9a-fA-F]{32,64}\b")


@dataclass
class Dump:
    documents: list[Any] = field(default_factory=list)
    records: list[bytes] = field(default_factory=list)


@dataclass
class Loot:
    """What the dump offers an attacker: sealed blobs, each with the id beside it (the
    volunteer's, or the id of the document holding it) to try as additional data, and
    candidate keys."""

    sealed: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    personal: list[tuple[bytes, bytes]] = field(default_factory=list)  # the sealed personal data
    keys: set[bytes] = field(default_factory=set)

    def take_key_material(self, value: bytes) -> None:
        if len(value) in KEY_SIZES:
            self.keys.add(value)
        if 32 < len(value) <= 256:
            self.keys.update(value[i : i + 32] for i in range(len(value) - 31))

    def take_text(self, text: bytes) -> None:
        for token in BASE64ISH.findall(text):
            for decode in (base64.urlsafe_b64decode, base64.b64decode):
                with contextlib.suppress(binascii.Error, ValueError):
                    self.take_key_material(decode(token + b"=" * (-len(token) % 4)))
        for token in HEXISH.findall(text):
            if len(token) % 2 == 0:
                self.take_key_material(bytes.fromhex(token.decode()))

    def take(self, value: Any, owner: bytes | None = None) -> None:
        """Walk a document or record; `owner` is the id of the document a value is in."""
        if isinstance(value, dict):
            if "_id" in value:
                owner = str(value["_id"]).encode()
            if {"key_id", "ciphertext"} <= value.keys():
                raw = base64.urlsafe_b64decode(str(value["ciphertext"]))
                self.sealed.append((raw, str(value["key_id"]).encode()))
                self.personal.append((str(value["key_id"]).encode(), raw))
            for item in value.values():
                self.take(item, owner)
        elif isinstance(value, list | tuple):
            for item in value:
                self.take(item, owner)
        elif isinstance(value, bytes):
            self.take_key_material(value)
            if len(value) >= NONCE + TAG + 1:  # binary that may be sealed (a wrapped key)
                self.sealed.append((value, owner))
        elif isinstance(value, str):
            self.take_text(value.encode())
            if value.startswith(("{", "[")):
                with contextlib.suppress(ValueError):
                    self.take(json.loads(value), owner)


async def _dump_topics(prefix: str) -> list[bytes]:
    """Each record's key, value and header values."""
    return [
        part
        for r in await topic_records(prefix)
        for part in (r.key or b"", r.value or b"", *(v for _, v in r.headers))
    ]


def _dump(system: RunningSystem) -> Dump:
    dump = Dump(records=asyncio.run(_dump_topics(system.topic_prefix)))
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_url())
    with client:
        for name in system.databases:
            db = client[name]
            for collection in db.list_collection_names():
                dump.documents += list(db[collection].find())
    return dump


def _loot(dump: Dump) -> Loot:
    loot = Loot()
    for document in dump.documents:
        loot.take(document)
    for record in dump.records:
        loot.take_text(record)
        with contextlib.suppress(ValueError):
            loot.take(json.loads(record))
    return loot


def _open_any(loot: Loot, keys: set[bytes]) -> list[bytes]:
    opened: list[bytes] = []
    for blob, own_id in loot.sealed:
        nonce, body = blob[:NONCE], blob[NONCE:]
        contexts = [own_id, None] if own_id is not None else [None]
        for key in keys:
            aead = AESGCM(key)
            for context in contexts:
                try:
                    opened.append(aead.decrypt(nonce, body, context))
                except InvalidTag:
                    continue
    return opened


def test_a_dump_of_every_database_and_topic_recovers_no_name_or_phone(
    system: RunningSystem,
) -> None:
    url = f"{system.urls['volunteer']}/volunteers"
    sample = SampleVolunteers(seed=4242)
    people: list[tuple[str, dict[str, Any]]] = []
    for i in range(6):
        form = sample.draw() | {"name": f"{['张', '李', '王'][i % 3]}测试{i}号"}
        if i == 0:  # an in-service party member: the employer unit is sealed too
            form |= {"categories": ["in_service_party_member"], "employer_unit": "测试转储单位"}
        response = httpx.post(
            url,
            json=form,
            headers=auth(Role.VOLUNTEER, subject=f"dump-{time.time_ns()}-{i}")
            # As clients do: the phone number in the key (kept only as a keyed hash).
            | {"Idempotency-Key": f"register-{form['phone']}"},
        )
        assert response.status_code == 201, response.text
        people.append((response.json()["volunteer_id"], form))
    time.sleep(2)  # let the relay publish everything

    dump = _dump(system)
    in_clear = repr(dump.documents).encode() + b"\n".join(dump.records)
    assert [f["phone"] for _, f in people if f["phone"].encode() in in_clear] == []
    assert "测试转储单位".encode() not in in_clear
    loot = _loot(dump)
    ours = {vid.encode() for vid, _ in people}
    sealed_with_ids = {own for _, own in loot.sealed if own is not None}
    assert ours <= sealed_with_ids, "every registration's sealed data is in the dump"
    assert len(loot.keys) >= len(people), "the dump offers key-like values to try"

    print(f"dump: {len(loot.sealed)} sealed blobs, {len(loot.keys)} candidate keys")
    opened = _open_any(loot, loot.keys)
    recovered = [
        secret
        for _, form in people
        for secret in (form["name"], form["phone"])
        if any(secret.encode() in plain for plain in opened)
    ]
    assert recovered == [], f"recovered from the dump alone: {recovered}"
    assert opened == [], "nothing sealed opens with the dump alone"

    # Control: with the key-encryption key (outside the dump) the same harness opens them.
    kek = LocalKeyFile(Path(system.environments["volunteer"]["MUSTER_KEK_FILE"]))
    wrapped = [d for d in dump.documents if "wrapped_key" in d and d["_id"].encode() in ours]
    assert len(wrapped) == len(people)
    assert not [d for d in dump.documents if "key" in d and d.get("_id", "").encode() in ours]

    async def unwrap_all() -> set[bytes]:
        return {
            await kek.unwrap(d["kek_id"], bytes(d["wrapped_key"]), d["_id"].encode())
            for d in wrapped
        }

    with_kek = _open_any(loot, asyncio.run(unwrap_all()))
    for _, form in people:
        assert any(form["name"].encode() in plain for plain in with_kek), form["name"]

    # The service still reads them.
    for volunteer_id, form in people:
        shown = httpx.get(f"{url}/{volunteer_id}", headers=auth(Role.ORGANISER))
        assert shown.status_code == 200, shown.text
        assert shown.json()["name"] == form["name"]
        assert shown.json()["phone"] == form["phone"]
        assert shown.json()["employer_unit"] == form["employer_unit"]


def _register(system: RunningSystem, tag: str) -> tuple[str, dict[str, Any]]:
    form = SampleVolunteers(seed=len(tag)).draw() | {"name": f"轮换{tag}"}
    response = httpx.post(
        f"{system.urls['volunteer']}/volunteers",
        json=form,
        headers=auth(Role.VOLUNTEER, subject=f"{tag}-{time.time_ns()}"),
    )
    assert response.status_code == 201, response.text
    return response.json()["volunteer_id"], form


def _name_shown(system: RunningSystem, volunteer_id: str) -> str:
    shown = httpx.get(
        f"{system.urls['volunteer']}/volunteers/{volunteer_id}", headers=auth(Role.ORGANISER)
    )
    assert shown.status_code == 200, shown.text
    return str(shown.json()["name"])


def _key_documents(system: RunningSystem) -> dict[str, dict[str, Any]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_url())
    with client:
        keys = client[system.environments["volunteer"]["MUSTER_MONGO_DB"]]["volunteer_keys"]
        return {str(d["_id"]): d for d in keys.find()}


def test_rotation_rewraps_every_data_key_and_leaves_the_sealed_data_as_it_is(
    system: RunningSystem,
) -> None:
    volunteer_id, form = _register(system, "rotation")
    before = _key_documents(system)
    dump_before = _dump(system)
    sealed_before = sorted(p for p in _loot(dump_before).personal if p[0] == volunteer_id.encode())
    assert sealed_before

    result = system.command("volunteer", "rotate-keys")
    assert result.returncode == 0, result.stderr
    assert f"re-wrapped {len(before)}/{len(before)} data keys" in result.stdout
    after = _key_documents(system)
    (new_kek,) = {d["kek_id"] for d in after.values()}
    assert new_kek not in {d["kek_id"] for d in before.values()}
    assert all(after[k]["wrapped_key"] != before[k]["wrapped_key"] for k in before)
    sealed_after = sorted(p for p in _loot(_dump(system)).personal if p[0] == volunteer_id.encode())
    assert sealed_after == sealed_before  # the sealed data was not touched
    assert _name_shown(system, volunteer_id) == form["name"]

    again = system.command("volunteer", "rotate-keys")
    assert again.returncode == 0, again.stderr
    assert _name_shown(system, volunteer_id) == form["name"]


def test_data_keys_stored_in_clear_by_earlier_versions_are_wrapped_at_start(
    system: RunningSystem,
) -> None:
    volunteer_id, form = _register(system, "legacy")
    doc = _key_documents(system)[volunteer_id]
    kek = LocalKeyFile(Path(system.environments["volunteer"]["MUSTER_KEK_FILE"]))
    clear = asyncio.run(kek.unwrap(doc["kek_id"], bytes(doc["wrapped_key"]), volunteer_id.encode()))
    system.stop("volunteer")
    # The key document as versions before envelope encryption wrote it.
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_url())
    with client:
        keys = client[system.environments["volunteer"]["MUSTER_MONGO_DB"]]["volunteer_keys"]
        keys.replace_one({"_id": volunteer_id}, {"_id": volunteer_id, "key": clear})
    system.start("volunteer")
    system.wait_ready(["volunteer"])

    migrated = _key_documents(system)[volunteer_id]
    assert "key" not in migrated
    assert migrated["kek_id"] == asyncio.run(kek.current_key_id())
    assert clear not in bytes(migrated["wrapped_key"])
    assert _name_shown(system, volunteer_id) == form["name"]
