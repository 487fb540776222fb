"""Envelope encryption of the volunteers' data keys, on the real store, with both
key-management adapters: the local key file and a real KMIP server (PyKMIP's)."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from muster_auth.keys import KeyEncryptionKeys, KeyUnavailableError, LocalKeyFile
from muster_auth.kmip_keys import KmipKeys
from muster_cli.bench.measure import free_ports
from muster_contracts.events import SealedPersonalData
from muster_runtime.mongo import Database
from muster_volunteer.adapters.personal_data import PersonalDataVault
from muster_volunteer.application.ports import PersonalDataErasedError
from muster_volunteer.domain.volunteer import PersonalData
from tests.kmip_server import KmipServer, running_kmip_server

ALICE = PersonalData(name="欧阳娜娜", phone="13800138000", id_number=None)
BOB = PersonalData(name="王建国", phone="13900139000", id_number=None)


@pytest.fixture(scope="module")
def kmip_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KmipServer]:
    with running_kmip_server(tmp_path_factory.mktemp("kmip")) as server:
        yield server


@pytest.fixture
def key_file(tmp_path: Path) -> LocalKeyFile:
    assert LocalKeyFile.create(tmp_path / "kek.json")
    return LocalKeyFile(tmp_path / "kek.json")


@pytest.fixture
async def kmip_keys(kmip_server: KmipServer, isolation: str) -> AsyncIterator[KmipKeys]:
    keys = KmipKeys(
        kmip_server.host,
        kmip_server.port,
        certificate=str(kmip_server.client_certificate),
        private_key=str(kmip_server.client_key),
        ca=str(kmip_server.ca),
        key_name=f"kek-{isolation}",
    )
    yield keys
    keys.close()


def test_the_key_file_is_created_once_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "kek.json"
    assert LocalKeyFile.create(path)
    before = path.read_bytes()
    assert not LocalKeyFile.create(path)
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def _sealed_round_trip(db: Database, keks: KeyEncryptionKeys) -> None:
    vault = PersonalDataVault(db, keks, cache_seconds=0)
    alice = await vault.seal("v-alice", ALICE)
    bob = await vault.seal("v-bob", BOB)
    stored = await db["volunteer_keys"].find_one({"_id": "v-alice"})
    assert stored is not None
    assert "key" not in stored
    first_kek = await keks.current_key_id()
    assert stored["kek_id"] == first_kek
    assert await vault.unseal(alice) == ALICE

    # A wrapped key is bound to its volunteer: swapping two wrapped keys opens nothing.
    bob_doc = await db["volunteer_keys"].find_one({"_id": "v-bob"})
    assert bob_doc is not None
    await db["volunteer_keys"].update_one(
        {"_id": "v-alice"}, {"$set": {"wrapped_key": bob_doc["wrapped_key"]}}
    )
    with pytest.raises(KeyUnavailableError):
        await vault.unseal(alice)
    await db["volunteer_keys"].update_one(
        {"_id": "v-alice"}, {"$set": {"wrapped_key": stored["wrapped_key"]}}
    )

    # Rotation: a new KEK, the data keys re-wrapped under it, the sealed data untouched.
    second_kek = await keks.rotate()
    assert second_kek != first_kek
    assert await keks.current_key_id() == second_kek
    seen: list[tuple[int, int]] = []
    result = await vault.rewrap(lambda done, found: seen.append((done, found)))
    assert (result.rewrapped, result.found, result.key_id) == (2, 2, second_kek)
    assert seen[-1] == (2, 2)
    async for doc in db["volunteer_keys"].find():
        assert doc["kek_id"] == second_kek
    assert await vault.unseal(alice) == ALICE
    assert await vault.unseal(bob) == BOB
    assert (await vault.rewrap()).found == 0  # nothing left under the earlier KEK

    # Erasure deletes the wrapped key: the sealed data opens no more.
    await vault.shred("v-alice")
    with pytest.raises(PersonalDataErasedError):
        await vault.unseal(alice)
    assert await vault.unseal(bob) == BOB


async def test_data_keys_rest_wrapped_rotate_and_shred_with_the_key_file(
    db: Database, key_file: LocalKeyFile
) -> None:
    await _sealed_round_trip(db, key_file)


async def test_data_keys_rest_wrapped_rotate_and_shred_on_a_kmip_server(
    db: Database, kmip_keys: KmipKeys
) -> None:
    await _sealed_round_trip(db, kmip_keys)


async def test_a_kmip_kek_is_found_again_by_name_and_wraps_only_its_own(
    kmip_server: KmipServer, kmip_keys: KmipKeys, isolation: str
) -> None:
    first = await kmip_keys.current_key_id()
    wrapped = await kmip_keys.wrap(first, b"k" * 32, b"v-1")
    assert b"k" * 32 not in wrapped
    again = KmipKeys(
        kmip_server.host,
        kmip_server.port,
        certificate=str(kmip_server.client_certificate),
        private_key=str(kmip_server.client_key),
        ca=str(kmip_server.ca),
        key_name=f"kek-{isolation}",
    )
    try:
        assert await again.current_key_id() == first
        assert await again.unwrap(first, wrapped, b"v-1") == b"k" * 32
        with pytest.raises(KeyUnavailableError):
            await again.unwrap(first, wrapped, b"v-2")
    finally:
        again.close()


async def test_keys_stored_in_clear_by_earlier_versions_still_open_and_get_wrapped(
    db: Database, key_file: LocalKeyFile
) -> None:
    # As versions before envelope encryption stored them: the data key itself.
    clear_key = AESGCM.generate_key(bit_length=256)
    await db["volunteer_keys"].insert_one({"_id": "v-old", "key": clear_key})
    nonce = os.urandom(12)
    sealed = SealedPersonalData(
        key_id="v-old",
        ciphertext=base64.urlsafe_b64encode(
            nonce + AESGCM(clear_key).encrypt(nonce, ALICE.model_dump_json().encode(), b"v-old")
        ).decode(),
    )
    vault = PersonalDataVault(db, key_file, cache_seconds=0)
    assert await vault.unseal(sealed) == ALICE
    await vault.seal("v-new", BOB)

    migrated = await vault.rewrap(clear_only=True)
    assert (migrated.rewrapped, migrated.found) == (1, 1)
    doc = await db["volunteer_keys"].find_one({"_id": "v-old"})
    assert doc is not None
    assert "key" not in doc
    assert clear_key not in bytes(doc["wrapped_key"])
    assert doc["kek_id"] == await key_file.current_key_id()
    assert await vault.unseal(sealed) == ALICE
    assert (await vault.rewrap(clear_only=True)).found == 0


async def test_an_unreachable_kmip_server_is_a_503_not_a_crash(kmip_server: KmipServer) -> None:
    (closed,) = free_ports(1)
    keys = KmipKeys(
        "127.0.0.1",
        closed,
        certificate=str(kmip_server.client_certificate),
        private_key=str(kmip_server.client_key),
        ca=str(kmip_server.ca),
        key_name="kek-nowhere",
    )
    with pytest.raises(KeyUnavailableError, match="unreachable") as refused:
        await keys.current_key_id()
    assert refused.value.status == 503
    assert refused.value.code == "keys_unavailable"
