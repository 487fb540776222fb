"""Access over HTTP against the running services: a revoked token is refused everywhere,
oversized bodies get 413, names are served only inside the caller's scope, and names in
any script survive the round trip."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from muster_auth.dev_tokens import issue_token
from muster_cli.sample import SampleVolunteers
from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Role
from muster_runtime.volunteer_names import NamesUnavailableError, VolunteerNames
from muster_volunteer.domain.volunteer import id_number_check_digit
from tests.e2e.conftest import RunningSystem
from tests.e2e.field_day import run_field_day
from tests.e2e.test_register_to_report import wait_for
from tests.signing_keys import ec_key, public_jwk, rsa_key, signed_token

AREAS = load_area_tree()
STREET_A, STREET_B = "130203001", "130203002"
# An endpoint each service answers for an admin: the probe for a revoked token.
ADMIN_PROBE = {
    "volunteer": "/admin/token-revocations",
    "dispatch": "/admin/token-revocations",
    "reporting": "/reports/volunteers",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def auth(role: Role, area: str, subject: str | None = None) -> dict[str, str]:
    return bearer(issue_token(subject or f"access-{role.value}-{area}", role, area))


def building_in(street: str) -> str:
    return next(a.id for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith(street))


def register(system: RunningSystem, area: str, **changes: Any) -> dict[str, Any]:
    form = SampleVolunteers(seed=uuid.uuid4().int % 10**9).draw(building_in(area)) | changes
    response = httpx.post(
        f"{system.urls['volunteer']}/volunteers",
        json=form,
        headers=auth(Role.ORGANISER, area) | {"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def test_a_revoked_token_is_refused_by_every_service_within_seconds(
    system: RunningSystem, http: httpx.Client
) -> None:
    jti = f"leaked-{uuid.uuid4().hex[:8]}"
    leaked = issue_token("admin-wang", Role.ADMIN, "130203", token_id=jti)
    other = issue_token("admin-wang", Role.ADMIN, "130203")
    for service, path in ADMIN_PROBE.items():
        assert http.get(system.urls[service] + path, headers=bearer(leaked)).status_code == 200

    revoked_at = time.monotonic()
    answer = http.post(
        f"{system.urls['dispatch']}/admin/token-revocations",
        json={"token_id": jti, "reason": "posted in a group chat"},
        headers=bearer(other),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["revoked_by"] == {"subject": "admin-wang", "role": "admin"}

    delays: dict[str, float] = {}
    deadline = revoked_at + 10
    while len(delays) < len(ADMIN_PROBE) and time.monotonic() < deadline:
        for service, path in ADMIN_PROBE.items():
            if service in delays:
                continue
            response = http.get(system.urls[service] + path, headers=bearer(leaked))
            if response.status_code == 401:
                assert response.json()["error"] == {
                    "code": "unauthenticated",
                    "message": "this token has been revoked",
                    "reason": "revoked",
                }
                delays[service] = time.monotonic() - revoked_at
        time.sleep(0.02)
    print(f"\nrevocation reached: { ({s: round(d, 3) for s, d in delays.items()}) } s")
    assert set(delays) == set(ADMIN_PROBE), f"not refused everywhere within 10 s: {delays}"
    for service, path in ADMIN_PROBE.items():
        assert http.get(system.urls[service] + path, headers=bearer(other)).status_code == 200
    listed = http.get(f"{system.urls['reporting']}/admin/token-revocations", headers=bearer(other))
    assert jti in [r["token_id"] for r in listed.json()["revoked"]]


def test_signing_keys_rotate_in_the_jwks_file_without_a_restart(
    system: RunningSystem, http: httpx.Client
) -> None:
    jwks = system.logs / "jwks.json"
    old, new = rsa_key(), ec_key()
    probes = {  # a reader's endpoint on each service, and who may read it
        "volunteer": ("/volunteers/names", {"ids": "nobody"}),
        "dispatch": ("/pool/volunteers/nobody", None),
        "reporting": ("/reports/volunteers", {"area_id": STREET_A}),
    }

    def answers(kid: str, key: Any) -> dict[str, int]:
        token = signed_token(kid, key, iss="muster", role="admin", area="130203")
        return {
            service: http.get(
                system.urls[service] + path, params=params, headers=bearer(token)
            ).status_code
            for service, (path, params) in probes.items()
        }

    jwks.write_text(json.dumps({"keys": [public_jwk("2026-10", old)]}))
    assert answers("2026-10", old) == {"volunteer": 200, "dispatch": 404, "reporting": 200}

    # Rotation: the new key is published and the old one retired, no service restarted.
    jwks.write_text(json.dumps({"keys": [public_jwk("2026-11", new)]}))
    assert answers("2026-11", new) == {"volunteer": 200, "dispatch": 404, "reporting": 200}
    assert answers("2026-10", old) == {"volunteer": 401, "dispatch": 401, "reporting": 401}


@pytest.mark.parametrize("service", ["volunteer", "dispatch", "reporting"])
def test_an_oversized_body_gets_413_with_a_machine_readable_body(
    system: RunningSystem, http: httpx.Client, service: str
) -> None:
    path = {"volunteer": "/volunteers", "dispatch": "/drives"}.get(
        service, "/admin/token-revocations"
    )
    big = b'{"name": "' + b"x" * 300_000 + b'"}'

    declared = http.post(
        system.urls[service] + path,
        content=big,
        headers=auth(Role.ORGANISER, STREET_A) | {"content-type": "application/json"},
    )
    # No Content-Length: the body is counted as it streams in.
    chunked = http.post(
        system.urls[service] + path,
        content=(big[i : i + 8192] for i in range(0, len(big), 8192)),
        headers=auth(Role.ORGANISER, STREET_A) | {"content-type": "application/json"},
    )

    for response in (declared, chunked):
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "payload_too_large"
        assert response.json()["error"]["limit_bytes"] == 262144


@pytest.mark.parametrize("name", ["欧阳娜娜", "李🌸", "👨‍👩‍👧 王家", "阿卜杜热合曼·买买提"])
def test_names_in_any_script_and_with_emoji_round_trip(
    system: RunningSystem, http: httpx.Client, name: str
) -> None:
    created = register(system, STREET_A, name=name)
    read = http.get(
        f"{system.urls['volunteer']}/volunteers/{created['volunteer_id']}",
        headers=auth(Role.LEADER, STREET_A),
    )
    assert (created["name"], read.json()["name"]) == (name, name)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "明" * 51}, "name"),
        ({"name": "王\x07芳"}, "name"),
        ({"phone": "12800138000"}, "phone"),
        ({"id_number": "110105194912310021"}, "id_number"),
    ],
)
def test_bad_personal_data_is_refused_naming_the_field(
    system: RunningSystem, http: httpx.Client, changes: dict[str, str], field: str
) -> None:
    form = SampleVolunteers(seed=7).draw(building_in(STREET_A)) | changes
    response = http.post(
        f"{system.urls['volunteer']}/volunteers", json=form, headers=auth(Role.ORGANISER, STREET_A)
    )
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["error"]["fields"]] == [field]


def resident_id(birth: str = "19900101") -> str:
    first_17 = f"130203{birth}{uuid.uuid4().int % 1000:03d}"
    return first_17 + id_number_check_digit(first_17)


def test_one_id_number_one_volunteer_until_erasure(
    system: RunningSystem, http: httpx.Client
) -> None:
    id_number = resident_id()
    first = register(system, STREET_A, id_number=id_number)
    clash = SampleVolunteers(seed=uuid.uuid4().int % 10**9).draw(building_in(STREET_A))
    organiser = auth(Role.ORGANISER, STREET_A)
    volunteers = f"{system.urls['volunteer']}/volunteers"

    refused = http.post(volunteers, json=clash | {"id_number": id_number}, headers=organiser)
    assert refused.status_code == 409
    assert (refused.json()["error"]["code"], refused.json()["error"]["field"]) == (
        "duplicate_id_number",
        "id_number",
    )
    # The refused registration left no claim on its phone behind.
    retried = http.post(volunteers, json=clash | {"id_number": resident_id()}, headers=organiser)
    assert retried.status_code == 201, retried.text
    assert "id_number" not in retried.json()  # sealed: never served back

    admin = auth(Role.ADMIN, "130203")
    assert http.delete(f"{volunteers}/{first['volunteer_id']}", headers=admin).status_code == 204
    again = register(system, STREET_A, id_number=id_number)
    assert again["volunteer_id"] != first["volunteer_id"]


def test_a_refused_registration_leaves_the_account_free_to_try_again(
    system: RunningSystem, http: httpx.Client
) -> None:
    taken = register(system, STREET_A)
    me = auth(Role.VOLUNTEER, STREET_A, subject=f"resident-{uuid.uuid4().hex[:8]}")
    form = SampleVolunteers(seed=uuid.uuid4().int % 10**9).draw(building_in(STREET_A))
    volunteers = f"{system.urls['volunteer']}/volunteers"

    def attempt(body: dict[str, Any]) -> httpx.Response:
        return http.post(volunteers, json=body, headers=me | {"Idempotency-Key": str(uuid.uuid4())})

    assert attempt(form | {"phone": taken["phone"]}).json()["error"]["code"] == "duplicate_phone"
    assert attempt(form | {"home_area_id": STREET_A}).json()["error"]["rule"] == "home_level"
    registered = attempt(form)
    assert registered.status_code == 201, registered.text
    assert attempt(form).json()["error"]["code"] == "already_registered"


def test_the_audit_trail_says_who_registered_and_who_erased_a_volunteer(
    system: RunningSystem, http: httpx.Client
) -> None:
    created = register(system, STREET_A)
    admin = auth(Role.ADMIN, "130203", subject="admin-audit")
    volunteer_url = system.urls["volunteer"]
    erased = http.delete(f"{volunteer_url}/volunteers/{created['volunteer_id']}", headers=admin)
    assert erased.status_code == 204

    about = http.get(
        f"{volunteer_url}/audit/events",
        params={"volunteer_id": created["volunteer_id"]},
        headers=admin,
    )
    by_admin = http.get(
        f"{volunteer_url}/audit/events", params={"actor": "admin-audit"}, headers=admin
    )
    as_leader = http.get(
        f"{volunteer_url}/audit/events",
        params={"actor": "admin-audit"},
        headers=auth(Role.LEADER, STREET_A),
    )

    assert [(e["type"], e["actor"]) for e in about.json()["entries"]] == [
        ("volunteer.erased", {"subject": "admin-audit", "role": "admin"}),
        (
            "volunteer.registered",
            {"subject": f"access-organiser-{STREET_A}", "role": "organiser"},
        ),
    ]
    assert "personal" not in about.json()["entries"][1]["payload"]
    # A position beyond what the store holds is refused, not a 500 (OverflowError).
    for service in ("volunteer", "dispatch"):
        beyond = http.get(
            f"{system.urls[service]}/audit/events", params={"before": 2**63}, headers=admin
        )
        assert beyond.status_code == 422, (service, beyond.text)
    assert [e["stream_id"] for e in by_admin.json()["entries"]] == [
        f"volunteer-{created['volunteer_id']}"
    ]
    assert as_leader.status_code == 403


def test_leaderboards_name_volunteers_as_the_volunteer_service_allows_the_caller(
    system: RunningSystem, http: httpx.Client
) -> None:
    run_field_day(system)  # approved hours at an activity in street 130203001
    reporting, volunteer_url = system.urls["reporting"], system.urls["volunteer"]
    admin = auth(Role.ADMIN, "130203", subject="admin-leaderboard")

    def board(headers: dict[str, str], area: str) -> list[dict[str, Any]]:
        response = http.get(
            f"{reporting}/reports/top-volunteers", params={"area_id": area}, headers=headers
        )
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["volunteers"]
        return rows

    district = wait_for(lambda: board(admin, "130203"), bool, timeout=60)
    assert district, "no approved hours reached the leaderboard"
    homes = {}
    for row in district:
        record = http.get(f"{volunteer_url}/volunteers/{row['volunteer_id']}", headers=admin)
        assert (row["name_status"], row["name"]) == ("active", record.json()["name"])
        homes[row["volunteer_id"]] = record.json()["home_area_id"]

    # A street leader sees the activity's volunteers, named only if they live in the street.
    in_street = board(auth(Role.LEADER, STREET_A), STREET_A)
    assert {r["volunteer_id"] for r in in_street} <= set(homes)
    for row in in_street:
        lives_here = homes[row["volunteer_id"]].startswith(STREET_A)
        assert row["name_status"] == ("active" if lives_here else "unknown"), row
        assert (row["name"] is not None) == lives_here

    gone = district[0]["volunteer_id"]
    assert http.delete(f"{volunteer_url}/volunteers/{gone}", headers=admin).status_code == 204
    after = {r["volunteer_id"]: r for r in board(admin, "130203")}
    assert (after[gone]["name_status"], after[gone]["name"]) == ("erased", None)
    assert after[gone]["hours"] == district[0]["hours"]  # the hours stay


async def test_names_are_served_only_inside_the_callers_scope(system: RunningSystem) -> None:
    http = httpx.AsyncClient(timeout=10)
    in_a = register(system, STREET_A, name="张伟")
    erased = register(system, STREET_A, name="刘洋")
    in_b = register(system, STREET_B, name="陈静")
    admin = auth(Role.ADMIN, "130203")
    gone = await http.delete(
        f"{system.urls['volunteer']}/volunteers/{erased['volunteer_id']}", headers=admin
    )
    assert gone.status_code == 204
    ids = [in_a["volunteer_id"], erased["volunteer_id"], in_b["volunteer_id"], "no-such-id"]
    client = VolunteerNames(system.urls["volunteer"])

    as_leader_a = await client.names(ids, auth(Role.LEADER, STREET_A)["Authorization"])
    as_organiser_b = await client.names(ids, auth(Role.ORGANISER, STREET_B)["Authorization"])
    as_admin = await client.names(ids, admin["Authorization"])

    def seen(names: dict[str, Any]) -> list[tuple[str, str | None]]:
        return [(names[i].status, names[i].name) for i in ids]

    assert seen(as_leader_a) == [
        ("active", "张伟"),
        ("erased", None),
        ("unknown", None),
        ("unknown", None),
    ]
    assert seen(as_organiser_b) == [
        ("unknown", None),
        ("unknown", None),
        ("active", "陈静"),
        ("unknown", None),
    ]
    assert seen(as_admin) == [
        ("active", "张伟"),
        ("erased", None),
        ("active", "陈静"),
        ("unknown", None),
    ]
    # A volunteer is named themself (and the leaders of their teams), nobody else.
    self_registered = auth(Role.VOLUNTEER, STREET_A, subject=f"names-{uuid.uuid4().hex[:8]}")
    mine = await http.post(
        f"{system.urls['volunteer']}/volunteers",
        json=SampleVolunteers(seed=uuid.uuid4().int % 10**9).draw(building_in(STREET_A))
        | {"name": "赵敏"},
        headers=self_registered,
    )
    assert mine.status_code == 201, mine.text
    as_volunteer = await client.names(
        [*ids, mine.json()["volunteer_id"]], self_registered["Authorization"]
    )
    assert [(n.status, n.name) for n in as_volunteer.values()] == [("unknown", None)] * 4 + [
        ("active", "赵敏")
    ]
    with pytest.raises(NamesUnavailableError, match="404"):  # a login bound to nobody
        await client.names(ids, auth(Role.VOLUNTEER, STREET_A)["Authorization"])
    with pytest.raises(NamesUnavailableError, match="401"):
        await client.names(ids, "Bearer not-a-token")
    too_many = await http.get(
        f"{system.urls['volunteer']}/volunteers/names",
        params={"ids": ",".join(f"v{n}" for n in range(201))},
        headers=admin,
    )
    assert too_many.status_code == 422
    assert too_many.json()["error"]["field"] == "ids"
    await http.aclose()
