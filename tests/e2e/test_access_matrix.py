"""Role × scope × endpoint over HTTP against the running services.

Every operation in each service's OpenAPI document must have a rule below, or the test
fails: a new endpoint cannot ship without saying who may call it. For every operation it
checks each grant (the caller gets past authentication and authorisation) and each
denial: 401 without a token, with a bad signature, an expired or a revoked token; 403 for
a role not admitted or an area outside the caller's scope (404 where existence itself is
concealed); all with machine-readable bodies. Every POST is sent with an `Idempotency-Key`:
a granted one that succeeds is sent again (the first answer comes back, replayed) and
then with another body (422 `idempotency_key_reused`).

The rules: a volunteer acts only for themself; an organiser only inside their area; a
leader reads only their subtree; an admin reads everything, erases, and manages tokens and
reference data (the area tree).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from muster_auth.auth import TokenIssuer
from muster_auth.dev_tokens import issue_token
from muster_cli.sample import SampleVolunteers
from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Role
from tests.e2e.conftest import SERVICES, RunningSystem
from tests.e2e.test_register_to_report import wait_for

AREAS = load_area_tree()
STREET_A, STREET_B = "130203001", "130203002"
COMMUNITY_A = AREAS.children(STREET_A)[0].id
BUILDING_A = next(a.id for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith(STREET_A))
VOLUNTEER, ORGANISER, LEADER, ADMIN = Role.VOLUNTEER, Role.ORGANISER, Role.LEADER, Role.ADMIN
READERS = frozenset({ORGANISER, LEADER, ADMIN})
EVERY_ROLE = frozenset({VOLUNTEER, ORGANISER, LEADER, ADMIN})
# A building the packaged file lacks (grids hold at most 5), under BUILDING_A's grid.
NEW_BUILDING = f"{BUILDING_A[:-2]}99"


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role
    area: str
    # Outside the scope of the resources (which all live in street A)?
    outside: bool = False
    # A volunteer other than the one who owns the resources?
    other: bool = False


CALLERS = (
    Caller("volunteer", VOLUNTEER, STREET_A),
    Caller("other-volunteer", VOLUNTEER, STREET_A, other=True),
    Caller("organiser-in", ORGANISER, STREET_A),
    Caller("organiser-out", ORGANISER, STREET_B, outside=True),
    Caller("leader-in", LEADER, STREET_A),
    Caller("leader-out", LEADER, STREET_B, outside=True),
    Caller("admin", ADMIN, "130203"),
)


@dataclass(frozen=True)
class Rule:
    """Who may call an operation.

    Args:
        roles: the roles admitted (empty and `public`: anyone, without a token).
        area: organisers and leaders must cover the resource's area.
        own: a volunteer may touch only their own resource.
        concealed: outside the scope answers 404, not 403 (existence is personal data).
        denied_in_body: for operations that answer per item (200 with each item's
            outcome), how a denial shows in the body.
        body / params: what to send (a function of the world's ids).
        replayed: a retry with the same `Idempotency-Key` gets the first answer (False:
            the answer holds a secret shown once, so a retry runs the command again).
    """

    roles: frozenset[Role] = frozenset()
    area: bool = False
    own: bool = False
    concealed: bool = False
    public: bool = False
    denied_in_body: Callable[[dict[str, Any], World], bool] | None = None
    body: Callable[[World], Any] | None = None
    params: Callable[[World], dict[str, str]] | None = None
    replayed: bool = True


@dataclass
class World:
    """The resources every operation is tried on: all in street A."""

    volunteer_id: str = ""
    drive_id: str = ""
    sign_up_id: str = ""
    activity_id: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    revoked: dict[Role, str] = field(default_factory=dict)

    def path(self, template: str) -> str:
        return template.format(
            volunteer_id=self.volunteer_id,
            drive_id=self.drive_id,
            sign_up_id=self.sign_up_id,
            activity_id=self.activity_id,
            area_id=COMMUNITY_A,
        )


def launch_form(area: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "title": "楼道清理",
        "scope_area_id": area,
        "category": "environment",
        "roles": [{"role_id": "general", "skill": "general", "headcount": 20}],
        "signup_closes_at": (now + timedelta(hours=2)).isoformat(),
        "activity_starts_at": (now + timedelta(days=1)).isoformat(),
        "activity_ends_at": (now + timedelta(days=1, hours=3)).isoformat(),
    }


def activity_form(w: World) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "drive_id": w.drive_id,
        "title": "为老服务",
        "place_area_id": COMMUNITY_A,
        "category": "elderly_care",
        "starts_at": (now + timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=3)).isoformat(),
        "capacity": 10,
        "assigned_volunteer_ids": [w.volunteer_id],
    }


def series_form(w: World) -> dict[str, Any]:
    """The activity of `activity_form`, weekly for three weeks."""
    form = activity_form(w)
    first = datetime.fromisoformat(form["starts_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    until = first.date() + timedelta(weeks=2)
    return form | {"repeat": {"weekdays": [first.isoweekday()], "until": until.isoformat()}}


def volunteer_form(_: World) -> dict[str, Any]:
    return SampleVolunteers(seed=uuid.uuid4().int % 10**9).draw(BUILDING_A)


OWN = Rule(frozenset({VOLUNTEER}))
ORGANISE = Rule(frozenset({ORGANISER}), area=True)
READ = Rule(READERS, area=True)
ADMINISTER = Rule(frozenset({ADMIN}))
COMMON: dict[str, Rule] = {
    "GET /healthz": Rule(public=True),
    "GET /readyz": Rule(public=True),
    "GET /debug/tasks": ADMINISTER,
    "GET /admin/token-revocations": ADMINISTER,
    "POST /admin/token-revocations": Rule(
        frozenset({ADMIN}), body=lambda _: {"token_id": f"matrix-{uuid.uuid4().hex}"}
    ),
}
AUDIT = {"GET /audit/events": Rule(frozenset({ADMIN}), params=lambda _: {"actor": "nobody"})}
RULES: dict[str, dict[str, Rule]] = {
    "volunteer": COMMON
    | AUDIT
    | {
        "POST /volunteers": Rule(frozenset({VOLUNTEER, ORGANISER}), area=True, body=volunteer_form),
        # A volunteer is named themself and their team leaders; others show as unknown.
        "GET /volunteers/names": Rule(
            EVERY_ROLE,
            area=True,
            own=True,
            params=lambda w: {"ids": w.volunteer_id},
            denied_in_body=lambda b, _: (
                b["volunteers"][0]
                == {
                    "volunteer_id": b["volunteers"][0]["volunteer_id"],
                    "status": "unknown",
                    "name": None,
                }
            ),
        ),
        "GET /volunteers/{volunteer_id}": Rule(
            frozenset({VOLUNTEER, ORGANISER, LEADER, ADMIN}), area=True, own=True, concealed=True
        ),
        "GET /drives": OWN,
        "POST /drives/{drive_id}/sign-ups": Rule(
            frozenset({VOLUNTEER}), body=lambda _: {"role_id": "general"}
        ),
        "GET /me/sign-ups": OWN,
        "GET /sign-ups/{sign_up_id}": Rule(frozenset({VOLUNTEER}), own=True, concealed=True),
        "POST /sign-ups/{sign_up_id}/withdraw": Rule(
            frozenset({VOLUNTEER}), own=True, concealed=True
        ),
        "POST /activities/{activity_id}/check-in": Rule(
            frozenset({VOLUNTEER}), body=lambda _: {"code": "000000"}
        ),
        "POST /activities/{activity_id}/check-out": OWN,
        "GET /me/service-record": OWN,
        # My activities: the volunteer's list holds the world's activity, another's not.
        "GET /me/activities": Rule(
            frozenset({VOLUNTEER}),
            own=True,
            denied_in_body=lambda b, w: (
                w.activity_id not in {a["activity_id"] for a in b["upcoming"] + b["recent"]}
            ),
        ),
        "GET /me/teams": OWN,
        "GET /me/hours-statement": OWN,
        # Logins: an organiser invites a volunteer of their area; a login claims for itself.
        "POST /volunteers/{volunteer_id}/invitations": Rule(
            frozenset({ORGANISER}), area=True, concealed=True, replayed=False
        ),
        "POST /me/claim": Rule(
            frozenset({VOLUNTEER}), body=lambda _: {"code": "0000-0000-0000-0000"}
        ),
        "GET /me": OWN,
        "GET /me/email": OWN,
        "PUT /me/email": Rule(
            frozenset({VOLUNTEER}), body=lambda _: {"email": "matrix@example.com", "consent": True}
        ),
        "DELETE /me/email": OWN,
        # Rosters: an organiser imports into their area (the area is the query's).
        "POST /rosters/preview": Rule(
            frozenset({ORGANISER, ADMIN}), area=True, params=lambda _: {"area_id": COMMUNITY_A}
        ),
        "POST /rosters/import": Rule(
            frozenset({ORGANISER, ADMIN}), area=True, params=lambda _: {"area_id": COMMUNITY_A}
        ),
        # Last: erasure ends the volunteer the other operations are tried on.
        "DELETE /volunteers/{volunteer_id}": Rule(
            frozenset({VOLUNTEER, ADMIN}), own=True, concealed=True
        ),
    },
    "dispatch": COMMON
    | AUDIT
    | {
        "GET /pool/volunteers/{volunteer_id}": Rule(
            frozenset({ORGANISER, ADMIN}), area=True, concealed=True
        ),
        "POST /drives": Rule(
            frozenset({ORGANISER}), area=True, body=lambda _: launch_form(STREET_A)
        ),
        "GET /drives/{drive_id}": READ,
        "GET /drives/{drive_id}/sign-ups": READ,
        "GET /drives/{drive_id}/teams": READ,
        "POST /drives/{drive_id}/amend": Rule(
            frozenset({ORGANISER}), area=True, body=lambda _: {"headcounts": {"general": 25}}
        ),
        "POST /drives/{drive_id}/accept": Rule(
            frozenset({ORGANISER}), area=True, body=lambda w: {"sign_up_ids": [w.sign_up_id]}
        ),
        "POST /drives/{drive_id}/teams": ORGANISE,
        "POST /drives/{drive_id}/teams/move": Rule(
            frozenset({ORGANISER}),
            area=True,
            body=lambda w: {"volunteer_id": w.volunteer_id, "to_team_id": "t-none"},
        ),
        "POST /drives/{drive_id}/teams/leader": Rule(
            frozenset({ORGANISER}),
            area=True,
            body=lambda w: {"team_id": "t-none", "leader_id": w.volunteer_id},
        ),
        "POST /drives/{drive_id}/teams/split": Rule(
            frozenset({ORGANISER}),
            area=True,
            body=lambda w: {"team_id": "t-none", "members": [w.volunteer_id]},
        ),
        "POST /drives/{drive_id}/teams/merge": Rule(
            frozenset({ORGANISER}),
            area=True,
            body=lambda _: {"team_id": "t-1", "absorbed_team_id": "t-2"},
        ),
        "POST /activities": Rule(frozenset({ORGANISER}), area=True, body=activity_form),
        "POST /activity-series": Rule(frozenset({ORGANISER}), area=True, body=series_form),
        "GET /activities/{activity_id}": READ,
        "GET /activities": Rule(READERS, area=True, params=lambda _: {"area_id": COMMUNITY_A}),
        "GET /drives": Rule(READERS, area=True, params=lambda _: {"area_id": COMMUNITY_A}),
        "GET /activities/{activity_id}/check-in-code": ORGANISE,
        "GET /activities/{activity_id}/never-checked-out": READ,
        "POST /activities/{activity_id}/beneficiaries": Rule(
            frozenset({ORGANISER}), area=True, body=lambda _: {"counts": {"elderly": 3}}
        ),
        "POST /activities/{activity_id}/attendances/{volunteer_id}/correct": Rule(
            frozenset({ORGANISER}), area=True, body=lambda _: {"reason": "补签"}
        ),
        "POST /activities/{activity_id}/close-never-checked-out": ORGANISE,
        "POST /activities/{activity_id}/approve": ORGANISE,
        # Without If-Match the amendment is refused (428) after the access checks.
        "POST /activities/{activity_id}/amend": Rule(
            frozenset({ORGANISER}), area=True, body=lambda _: {"capacity": 10}
        ),
        "POST /activities/{activity_id}/cancel": Rule(
            frozenset({ORGANISER}), area=True, body=lambda _: {"reason": "下雨"}
        ),
        "POST /drives/{drive_id}/close": ORGANISE,
        # Reference data: admins extend the tree (a retry answers 200); everyone reads it.
        "POST /admin/areas": Rule(
            frozenset({ADMIN}), body=lambda _: {"id": NEW_BUILDING, "name": "99号楼"}
        ),
        "GET /areas/{area_id}": Rule(EVERY_ROLE),
        "POST /drives/close": Rule(
            frozenset({ORGANISER}),
            area=True,
            body=lambda w: {"drive_ids": [w.drive_id]},
            denied_in_body=lambda b, w: b["results"][w.drive_id].get("error") == "forbidden",
        ),
    },
    "reporting": COMMON
    | {
        "GET /reports/volunteers": Rule(READERS, area=True, params=lambda _: {"area_id": STREET_A}),
        "GET /reports/service": Rule(READERS, area=True, params=lambda _: {"area_id": STREET_A}),
        "GET /reports/service/series": Rule(
            READERS, area=True, params=lambda _: {"area_id": STREET_A}
        ),
        "GET /reports/funnel": Rule(READERS, area=True, params=lambda _: {"area_id": STREET_A}),
        "GET /reports/areas/{area_id}": READ,
        "GET /reports/top-volunteers": Rule(
            READERS, area=True, params=lambda _: {"area_id": STREET_A}
        ),
        "GET /reports/top-teams": Rule(READERS, area=True, params=lambda _: {"area_id": STREET_A}),
        "GET /reports/stars": Rule(READERS, area=True, params=lambda _: {"area_id": STREET_A}),
    },
    # Notify keeps an event log too (its email requests), with the audit trail over it.
    "notify": COMMON
    | AUDIT
    | {
        "GET /me/notifications": OWN,
        "GET /me/notifications/unread-count": OWN,
        "POST /me/notifications/read": Rule(frozenset({VOLUNTEER}), body=lambda _: {"all": True}),
        "PUT /me/notification-preferences": Rule(
            frozenset({VOLUNTEER}), body=lambda _: {"language": "en"}
        ),
        # A short stream, so that a granted call ends.
        "GET /me/notifications/stream": Rule(
            frozenset({VOLUNTEER}), params=lambda _: {"max_seconds": "1"}
        ),
        "GET /drives/{drive_id}/notifications": READ,
        "GET /activities/{activity_id}/notifications": READ,
        "GET /me/notification-preferences": OWN,
        "PATCH /me/notification-preferences": Rule(
            frozenset({VOLUNTEER}), body=lambda _: {"quiet_start": "22:30"}
        ),
        "POST /webhook-subscriptions": Rule(
            frozenset({ORGANISER, ADMIN}),
            area=True,
            body=lambda _: {"area_id": COMMUNITY_A, "url": "https://8.8.8.8/hook"},
        ),
        "GET /webhook-subscriptions": Rule(frozenset({ORGANISER, ADMIN})),
        "GET /drives/{drive_id}/deliveries": READ,
        "GET /activities/{activity_id}/deliveries": READ,
    },
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def world(system: RunningSystem) -> World:
    run = uuid.uuid4().hex[:6]
    w = World()
    for caller in CALLERS:
        w.tokens[caller.name] = issue_token(f"matrix-{run}-{caller.name}", caller.role, caller.area)
    volunteer_url, dispatch_url = system.urls["volunteer"], system.urls["dispatch"]
    ids = {}
    for name in ("volunteer", "other-volunteer"):
        made = httpx.post(
            f"{volunteer_url}/volunteers",
            json=volunteer_form(w),
            headers=bearer(w.tokens[name]),
        )
        assert made.status_code == 201, made.text
        ids[name] = made.json()["volunteer_id"]
    w.volunteer_id = ids["volunteer"]
    organiser = bearer(w.tokens["organiser-in"])
    drive = httpx.post(f"{dispatch_url}/drives", json=launch_form(STREET_A), headers=organiser)
    assert drive.status_code == 201, drive.text
    w.drive_id = drive.json()["drive_id"]
    mine = bearer(w.tokens["volunteer"])
    assert wait_for(
        lambda: any(
            d["drive_id"] == w.drive_id
            for d in httpx.get(f"{volunteer_url}/drives", headers=mine).json()["drives"]
        ),
        bool,
        timeout=60,
    )
    signed = httpx.post(
        f"{volunteer_url}/drives/{w.drive_id}/sign-ups", json={"role_id": "general"}, headers=mine
    )
    assert signed.status_code == 202, signed.text
    w.sign_up_id = signed.json()["sign_up_id"]
    activity = httpx.post(f"{dispatch_url}/activities", json=activity_form(w), headers=organiser)
    assert activity.status_code == 201, activity.text
    w.activity_id = activity.json()["activity_id"]
    pooled = f"{dispatch_url}/pool/volunteers/{w.volunteer_id}"
    known = wait_for(lambda: httpx.get(pooled, headers=organiser), lambda r: r.is_success, 60)
    assert known.status_code == 200, known.text
    # Notify has seen the drive and the activity (their areas decide who may read them).
    for told in (f"drives/{w.drive_id}", f"activities/{w.activity_id}"):
        url = f"{system.urls['notify']}/{told}/notifications"
        seen = wait_for(lambda u=url: httpx.get(u, headers=organiser), lambda r: r.is_success, 60)
        assert seen.status_code == 200, seen.text

    # The volunteer service has the activity on its volunteer's list.
    def listed(answer: httpx.Response) -> bool:
        upcoming = answer.json().get("upcoming", [])
        return any(a["activity_id"] == w.activity_id for a in upcoming)

    mine_listed = wait_for(
        lambda: httpx.get(f"{volunteer_url}/me/activities", headers=mine), listed, 60
    )
    assert listed(mine_listed), mine_listed.text

    # One revoked token per role, refused by every service before the matrix runs.
    admin = bearer(w.tokens["admin"])
    for role in (VOLUNTEER, ORGANISER, LEADER, ADMIN):
        jti = f"matrix-revoked-{run}-{role.value}"
        w.revoked[role] = issue_token(f"matrix-{run}-revoked", role, STREET_A, token_id=jti)
        answer = httpx.post(
            f"{volunteer_url}/admin/token-revocations", json={"token_id": jti}, headers=admin
        )
        assert answer.status_code == 201, answer.text

    def refused_everywhere() -> bool:
        return all(
            httpx.get(f"{url}/debug/tasks", headers=bearer(token)).status_code == 401
            for url in (system.urls[name] for name in SERVICES)
            for token in w.revoked.values()
        )

    assert wait_for(refused_everywhere, bool)
    return w


def operations(system: RunningSystem, service: str) -> list[str]:
    document = httpx.get(f"{system.urls[service]}/openapi.json").json()
    return [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_every_operation_has_a_declared_rule_and_every_rule_an_operation(
    system: RunningSystem,
) -> None:
    for service, rules in RULES.items():
        served = set(operations(system, service))
        assert served - set(rules) == set(), f"{service}: operations without an access rule"
        assert set(rules) - served == set(), f"{service}: rules for operations that do not exist"


def test_every_post_documents_its_idempotency_key_and_answers(system: RunningSystem) -> None:
    posts = 0
    for service in RULES:
        document = httpx.get(f"{system.urls[service]}/openapi.json").json()
        for path, item in document["paths"].items():
            if "post" not in item:
                continue
            posts += 1
            operation = item["post"]
            keys = [p for p in operation.get("parameters", []) if p["name"] == "Idempotency-Key"]
            assert [(k["in"], k["required"]) for k in keys] == [("header", False)], path
            for status in ("409", "422"):
                answer = operation["responses"][status]["content"]["application/json"]
                assert answer["schema"] == {"$ref": "#/components/schemas/ErrorAnswer"}, path
            successes = [s for s in operation["responses"] if s.startswith("2")]
            assert successes, path
            for status in successes:
                assert "Idempotent-Replayed" in operation["responses"][status]["headers"], path
    assert posts >= 25


def expected(rule: Rule, caller: Caller) -> str:
    """`grant`, or the denial: `wrong_role`, `outside_scope`, `concealed`, `in_body`."""
    if caller.role not in rule.roles:
        return "wrong_role"
    denied = (rule.area and caller.outside and caller.role in (ORGANISER, LEADER)) or (
        rule.own and caller.other
    )
    if not denied:
        return "grant"
    if rule.denied_in_body:
        return "in_body"
    return "concealed" if rule.concealed else "outside_scope"


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert isinstance(body.get("error"), dict), response.text
    assert isinstance(body["error"].get("code"), str), response.text
    assert body["error"].get("message"), response.text
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize("service", ["notify", "reporting", "dispatch", "volunteer"])
def test_role_scope_endpoint_matrix(system: RunningSystem, world: World, service: str) -> None:
    rules = RULES[service]
    served = operations(system, service)
    # Erasure last: it ends the volunteer the other operations are tried on.
    served.sort(key=lambda op: op.startswith("DELETE"))
    bad_signature = TokenIssuer("not-the-configured-secret-0123456789-abcdef").issue(
        "forger", ADMIN, "13"
    )
    failures: list[str] = []
    checked = {"grant": 0, "denial": 0, "401": 0, "replayed": 0, "reused": 0}
    with httpx.Client(base_url=system.urls[service], timeout=30) as client:

        def call(
            operation: str, rule: Rule, headers: dict[str, str], body: Any = None
        ) -> httpx.Response:
            method, template = operation.split(" ", 1)
            if method == "POST" and "Idempotency-Key" not in headers:
                headers = headers | {"Idempotency-Key": str(uuid.uuid4())}
            return client.request(
                method,
                world.path(template),
                json=body if body is not None else rule.body(world) if rule.body else None,
                params=rule.params(world) if rule.params else None,
                headers=headers,
            )

        def retried(operation: str, rule: Rule, caller: Caller) -> list[str]:
            """A granted POST that succeeds: the same key and body again get its first
            answer, replayed; the same key with another body gets 422."""
            body = rule.body(world) if rule.body else None
            headers = bearer(world.tokens[caller.name]) | {"Idempotency-Key": str(uuid.uuid4())}
            first = call(operation, rule, headers, body)
            if not first.is_success:
                return []
            again = call(operation, rule, headers, body)
            checked["replayed"] += 1
            label = f"{operation} as {caller.name} retried"
            problems = []
            if not rule.replayed:
                if not again.is_success or "Idempotent-Replayed" in again.headers:
                    problems.append(f"{label}: {again.status_code}, not run again")
                return problems
            if (again.status_code, again.content) != (first.status_code, first.content):
                problems.append(f"{label}: {again.status_code} {again.text[:200]}")
            if again.headers.get("Idempotent-Replayed") != "true":
                problems.append(f"{label}: not marked Idempotent-Replayed")
            other = (body if isinstance(body, dict) else {}) | {"another": "request"}
            reused = call(operation, rule, headers, other)
            checked["reused"] += 1
            code = error_of(reused)["code"] if reused.status_code >= 400 else None
            if (reused.status_code, code) != (422, "idempotency_key_reused"):
                problems.append(f"{label} with another body: {reused.status_code} {code}")
            return problems

        for operation in served:
            rule = rules.get(operation)
            if rule is None:
                failures.append(f"{operation}: no access rule declared")
                continue
            if rule.public:
                response = call(operation, rule, {})
                if response.status_code != 200:
                    failures.append(f"{operation} without a token: {response.status_code}")
                continue
            # 401: no token, a forged one, an expired one, a revoked one.
            some_role = sorted(rule.roles)[0]
            expired = issue_token("matrix-expired", some_role, STREET_A, hours=-1)
            for reason, headers in (
                ("missing", {}),
                ("invalid", bearer(bad_signature)),
                ("expired", bearer(expired)),
                ("revoked", bearer(world.revoked[some_role])),
            ):
                response = call(operation, rule, headers)
                checked["401"] += 1
                if response.status_code != 401:
                    failures.append(f"{operation} {reason} token: {response.status_code}")
                elif (error_of(response)["code"], error_of(response)["reason"]) != (
                    "unauthenticated",
                    reason,
                ):
                    failures.append(f"{operation} {reason} token: {response.text}")
            # Denials before grants: a grant may change what later calls see.
            ordered = sorted(CALLERS, key=lambda c: expected(rule, c) == "grant")
            for caller in ordered:
                outcome = expected(rule, caller)
                response = call(operation, rule, bearer(world.tokens[caller.name]))
                label = f"{operation} as {caller.name} (expected {outcome})"
                status = response.status_code
                if outcome == "grant":
                    checked["grant"] += 1
                    if status in (401, 403) or (rule.concealed and status == 404):
                        failures.append(f"{label}: {status} {response.text[:200]}")
                    elif rule.denied_in_body and rule.denied_in_body(response.json(), world):
                        failures.append(f"{label}: denied in the body {response.text[:200]}")
                    elif operation.startswith("POST"):
                        failures.extend(retried(operation, rule, caller))
                    continue
                checked["denial"] += 1
                if outcome == "in_body":
                    if status != 200 or not rule.denied_in_body(response.json(), world):  # type: ignore[misc]
                        failures.append(f"{label}: {status} {response.text[:200]}")
                    continue
                want = {
                    "wrong_role": (403, "forbidden", "wrong_role"),
                    "outside_scope": (403, "forbidden", "outside_scope"),
                    "concealed": (404, "not_found", None),
                }[outcome]
                error = error_of(response) if status >= 400 else {}
                got = (status, error.get("code"), error.get("reason"))
                if got != want:
                    failures.append(f"{label}: {got} {response.text[:200]}")
    print(
        f"\n{service}: {len(served)} operations, {checked['grant']} grants, "
        f"{checked['denial']} denials (403/404), {checked['401']} refusals (401), "
        f"{checked['replayed']} replayed POSTs and {checked['reused']} reused keys checked"
    )
    assert not failures, "\n".join(failures)
