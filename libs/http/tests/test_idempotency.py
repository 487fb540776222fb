"""Every POST is retry-safe: the `Idempotency-Key` rules, through a service app's HTTP edge
(`create_app` with the keys kept in memory), and its OpenAPI."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import APIRouter, Depends, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel

from muster_auth.access import Access
from muster_auth.auth import Principal, TokenIssuer, require_role
from muster_contracts.envelope import Role
from muster_http.app import create_app, require_retry_safe_posts
from muster_http.idempotency import (
    IN_FLIGHT,
    RETENTION,
    IdempotencyKeys,
    NewIds,
    RetrySafeRoute,
    never_replayed,
    replays_by,
)
from muster_runtime.adapters.memory.idempotency_records import InMemoryIdempotencyRecords
from muster_runtime.errors import ConflictError
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings

SECRET = "a-test-secret-of-sufficient-length-0123456789"
PEPPER = b"a-test-pepper-0123456789"
ISSUER = TokenIssuer(SECRET)
Organiser = Depends(require_role(Role.ORGANISER))


class Launch(BaseModel):
    title: str


class World:
    """What the test routes did: each run of a command counts."""

    def __init__(self) -> None:
        self.launched: list[str] = []
        self.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def build(world: World) -> tuple[TestClient, InMemoryIdempotencyRecords]:
    router = APIRouter(route_class=RetrySafeRoute)

    @router.post("/drives", status_code=201)
    async def launch(
        ids: NewIds, response: Response, form: Launch, _: Principal = Organiser
    ) -> dict[str, Any]:
        if form.title == "taken":
            raise ConflictError("a drive of that title runs already")
        drive_id = ids.of("drive").hex[:12]
        world.launched.append(drive_id)
        response.headers["Location"] = f"/drives/{drive_id}"
        return {"drive_id": drive_id, "title": form.title, "run": len(world.launched)}

    @router.post("/drives/{drive_id}/close")
    async def close(drive_id: str, _: Principal = Organiser) -> dict[str, Any]:
        world.launched.append(f"closed {drive_id}")
        return {"closed": drive_id, "run": len(world.launched)}

    async def read_again(_: Request, kept: Any) -> Any:
        return {"person_id": kept["person_id"], "name": "read again"}

    @router.post("/people", status_code=201)
    @replays_by(keep=lambda body: {"person_id": body["person_id"]}, restore=read_again)
    async def register(_: Principal = Organiser) -> dict[str, Any]:
        world.launched.append("person")
        return {"person_id": "p-1", "name": "王芳"}

    @router.post("/secrets", status_code=201)
    @never_replayed("the secret is shown once")
    async def secret(_: Principal = Organiser) -> dict[str, Any]:
        world.launched.append("secret")
        return {"secret": f"s-{len(world.launched)}"}

    settings = ServiceSettings(
        service_name="idem",
        jwt_secret=SECRET,
        pii_pepper=PEPPER.decode(),
        mongo_url="mongodb://127.0.0.1:1/",
    )
    runtime = ServiceRuntime(settings)
    app = create_app(runtime, access=Access(runtime), title="test", routers=[router])
    records = InMemoryIdempotencyRecords()
    app.state.idempotency = IdempotencyKeys(records, PEPPER, clock=lambda: world.now)
    return TestClient(app, raise_server_exceptions=False), records


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def client(world: World) -> TestClient:
    return build(world)[0]


def organiser(subject: str = "li", key: str | None = "k-1") -> dict[str, str]:
    headers = {"Authorization": f"Bearer {ISSUER.issue(subject, Role.ORGANISER, '130203')}"}
    return headers | ({"Idempotency-Key": key} if key is not None else {})


def test_a_retry_gets_the_first_answer_and_runs_nothing_twice(
    client: TestClient, world: World
) -> None:
    first = client.post("/drives", json={"title": "楼道清理"}, headers=organiser())
    # The same body spelled differently is the same request.
    again = client.post(
        "/drives", content=b'{ "title":"\\u697c\\u9053\\u6e05\\u7406" }', headers=organiser()
    )

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert "Idempotent-Replayed" not in first.headers
    assert len(world.launched) == 1


def test_the_same_key_with_another_body_or_path_is_refused_with_422(
    client: TestClient, world: World
) -> None:
    assert client.post("/drives", json={"title": "a"}, headers=organiser()).status_code == 201
    other = client.post("/drives", json={"title": "b"}, headers=organiser())
    assert client.post("/drives/d1/close", headers=organiser("li", "c")).status_code == 200
    elsewhere = client.post("/drives/d2/close", headers=organiser("li", "c"))

    for refused in (other, elsewhere):
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "idempotency_key_reused"
        assert refused.json()["error"]["field"] == "Idempotency-Key"
    assert len(world.launched) == 2


def test_keys_are_per_caller_and_per_route_and_optional(client: TestClient, world: World) -> None:
    client.post("/drives", json={"title": "a"}, headers=organiser("li"))
    wang = client.post("/drives", json={"title": "a"}, headers=organiser("wang"))
    closed = client.post("/drives/d1/close", headers=organiser("li"))
    unkeyed = [
        client.post("/drives", json={"title": "a"}, headers=organiser(key=None)) for _ in range(2)
    ]

    assert "Idempotent-Replayed" not in wang.headers
    assert (
        wang.json()["drive_id"]
        != client.post("/drives", json={"title": "a"}, headers=organiser("li")).json()["drive_id"]
    )
    assert closed.status_code == 200
    assert "Idempotent-Replayed" not in closed.headers
    assert [r.status_code for r in unkeyed] == [201, 201]
    assert unkeyed[0].json()["drive_id"] != unkeyed[1].json()["drive_id"]
    assert len(world.launched) == 5


def test_an_error_is_not_kept_so_a_retry_runs_again(client: TestClient, world: World) -> None:
    refused = client.post("/drives", json={"title": "taken"}, headers=organiser())
    again = client.post("/drives", json={"title": "taken"}, headers=organiser())
    invalid = client.post("/drives", json={}, headers=organiser("li", "k-2"))
    fixed = client.post("/drives", json={"title": "ok"}, headers=organiser("li", "k-2"))

    assert refused.status_code == again.status_code == 409
    assert "Idempotent-Replayed" not in again.headers
    assert invalid.status_code == 422
    assert fixed.status_code == 201


def test_no_token_and_the_wrong_role_are_refused_before_anything_is_kept(
    client: TestClient, world: World
) -> None:
    volunteer = {
        "Authorization": f"Bearer {ISSUER.issue('li', Role.VOLUNTEER, '130203')}",
        "Idempotency-Key": "k-1",
    }
    assert (
        client.post("/drives", json={"title": "a"}, headers={"Idempotency-Key": "k"}).status_code
        == 401
    )
    assert client.post("/drives", json={"title": "a"}, headers=volunteer).status_code == 403
    assert client.post("/drives", json={"title": "b"}, headers=organiser()).status_code == 201


def test_a_key_too_long_or_empty_is_a_422(client: TestClient) -> None:
    for key in ("", "k" * 201):
        refused = client.post("/drives", json={"title": "a"}, headers=organiser(key=key))
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "idempotency_key_invalid"


def test_a_retry_while_the_first_runs_gets_409_then_takes_over_an_abandoned_claim(
    world: World,
) -> None:
    client, records = build(world)
    first = client.post("/drives", json={"title": "a"}, headers=organiser())
    (record_id,) = records.records
    # As if the first request were still running (its answer not yet kept).
    records.records[record_id] = replace(records.records[record_id], status=None)

    running = client.post("/drives", json={"title": "a"}, headers=organiser())
    world.now += IN_FLIGHT + timedelta(seconds=1)
    taken_over = client.post("/drives", json={"title": "a"}, headers=organiser())

    assert running.status_code == 409
    assert running.json()["error"]["code"] == "request_in_progress"
    assert running.headers["Retry-After"] == "1"
    # The command runs again with the id derived from the key: nothing new is created.
    assert taken_over.status_code == 201
    assert taken_over.json()["drive_id"] == first.json()["drive_id"]


def test_keys_expire_after_the_retention(world: World) -> None:
    client, records = build(world)
    client.post("/drives", json={"title": "a"}, headers=organiser())
    world.now += RETENTION + timedelta(seconds=1)

    reused = client.post("/drives", json={"title": "b"}, headers=organiser())
    assert reused.status_code == 201
    assert "Idempotent-Replayed" not in reused.headers
    world.now += RETENTION + timedelta(seconds=1)
    assert len(records.records) == 1
    asyncio.run(client.app.state.idempotency.forget_expired())
    assert records.records == {}


def test_the_retention_is_the_service_s_own(world: World) -> None:
    client, records = build(world)
    client.app.state.idempotency = IdempotencyKeys(  # type: ignore[attr-defined]
        records, PEPPER, clock=lambda: world.now, retention=timedelta(hours=1)
    )
    client.post("/drives", json={"title": "a"}, headers=organiser())
    world.now += timedelta(minutes=59)
    replayed = client.post("/drives", json={"title": "a"}, headers=organiser())
    world.now += timedelta(minutes=2)
    reused = client.post("/drives", json={"title": "b"}, headers=organiser())

    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert reused.status_code == 201
    assert "Idempotent-Replayed" not in reused.headers


def test_an_answer_kept_in_part_is_restored_on_replay(world: World) -> None:
    client, records = build(world)
    first = client.post("/people", headers=organiser())
    again = client.post("/people", headers=organiser())

    assert first.json() == {"person_id": "p-1", "name": "王芳"}
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == {"person_id": "p-1", "name": "read again"}
    assert b"\xe7\x8e\x8b" not in b"".join(r.body for r in records.records.values())


def test_openapi_documents_the_key_the_replay_header_and_the_errors_on_every_post(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    posts = [(path, item["post"]) for path, item in document["paths"].items() if "post" in item]

    assert len(posts) == 5  # the test's four and token revocations
    for path, operation in posts:
        keys = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert [(k["in"], k["required"]) for k in keys] == [("header", False)], path
        assert {"409", "422"} <= set(operation["responses"]), path
        error = operation["responses"]["422"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorAnswer"}, path
        success = next(s for s in operation["responses"] if s.startswith("2"))
        assert "Idempotent-Replayed" in operation["responses"][success]["headers"], path


def test_a_router_with_a_plain_post_route_is_refused() -> None:
    router = APIRouter()

    @router.post("/plain")
    async def plain() -> None:
        return None

    with pytest.raises(TypeError, match="POST /plain is not retry-safe"):
        require_retry_safe_posts(router)


def test_an_answer_never_replayed_is_not_kept_and_a_retry_runs_again(world: World) -> None:
    client, records = build(world)
    first = client.post("/secrets", headers=organiser())
    again = client.post("/secrets", headers=organiser())

    assert (first.json(), again.json()) == ({"secret": "s-1"}, {"secret": "s-2"})
    assert "Idempotent-Replayed" not in again.headers
    assert records.records == {}
    document = client.get("/openapi.json").json()
    (key,) = document["paths"]["/secrets"]["post"]["parameters"]
    assert "never replayed: the secret is shown once" in key["description"]


class OutcomeLost(InMemoryIdempotencyRecords):
    """Keys whose store takes the claim, then fails to record the outcome."""

    async def replace(self, claim: str, record: Any) -> bool:
        if record.complete:
            raise ConnectionError("the store went away")
        return await super().replace(claim, record)

    async def delete(self, record_id: str, claim: str) -> None:
        raise ConnectionError("the store went away")


@pytest.mark.parametrize("title", ["楼道清理", "taken"])
def test_an_outcome_the_store_cannot_record_leaves_the_answer_and_the_key_pending(
    world: World, title: str
) -> None:
    client, _ = build(world)
    lost = OutcomeLost()
    client.app.state.idempotency = IdempotencyKeys(lost, PEPPER, clock=lambda: world.now)  # type: ignore[attr-defined]

    answer = client.post("/drives", json={"title": title}, headers=organiser())
    retry = client.post("/drives", json={"title": title}, headers=organiser())
    world.now += IN_FLIGHT + timedelta(seconds=1)
    later = client.post("/drives", json={"title": title}, headers=organiser())

    # The command's own answer, not a store error: 201 when it ran, 409 when it broke a rule.
    assert answer.status_code == (201 if title != "taken" else 409)
    assert answer.json().get("error", {}).get("code") != "request_in_progress"
    # The key stays pending, so a retry waits; after IN_FLIGHT it is taken over.
    assert retry.status_code == 409
    assert retry.json()["error"]["code"] == "request_in_progress"
    assert later.status_code == answer.status_code
    assert later.json().get("drive_id") == answer.json().get("drive_id")
