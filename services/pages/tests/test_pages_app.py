"""The pages service's own answers: which sign-in exists in which mode, the session cookie,
and what `/api/…` refuses before it forwards anything."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest
from fastapi.testclient import TestClient

from muster_pages.bootstrap import build_app
from muster_pages.settings import PagesSettings
from muster_runtime.settings import InsecureSecretsError

SECRET = "a-test-secret-that-is-long-enough-for-hs256-0123456789"


def client(**settings: object) -> Iterator[TestClient]:
    app = build_app(PagesSettings(jwt_secret=SECRET, log_json=False, **settings))  # type: ignore[arg-type]
    with TestClient(app, base_url="http://127.0.0.1:8005") as test_client:
        yield test_client


@pytest.fixture
def development() -> Iterator[TestClient]:
    yield from client(dev_mode=True)


@pytest.fixture
def production() -> Iterator[TestClient]:
    yield from client(dev_mode=False, oidc_issuer="http://127.0.0.1:9/unreachable")


def test_outside_development_mode_there_is_no_local_sign_in(production: TestClient) -> None:
    assert production.get("/sign-in/dev?subject=anyone").status_code == 404
    assert production.get("/session").json()["development_sign_in"] is False


def test_without_an_identity_provider_only_development_mode_may_start() -> None:
    with pytest.raises(InsecureSecretsError):
        build_app(PagesSettings(jwt_secret=SECRET, log_json=False, dev_mode=False))


def test_the_development_sign_in_holds_a_volunteer_token_in_an_httponly_cookie(
    development: TestClient,
) -> None:
    answer = development.get(
        "/sign-in/dev", params={"subject": "resident-7", "next": "/check-in/a1?code=1"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303
    assert answer.headers["location"] == "/check-in/a1?code=1"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    token = answer.cookies["muster_session"]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="muster")
    assert (claims["sub"], claims["role"], claims["area"]) == ("resident-7", "volunteer", "1302")
    assert development.get("/session").json()["signed_in"] is True


def test_a_development_sign_in_goes_nowhere_but_this_site(development: TestClient) -> None:
    answer = development.get(
        "/sign-in/dev", params={"subject": "x", "next": "//evil.example/"}, follow_redirects=False
    )
    assert answer.headers["location"] == "/"
    refused = development.get("/sign-in/dev", params={"subject": "not a login!"})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "subject"


def test_the_api_needs_a_session_and_refuses_changes_from_other_sites(
    development: TestClient,
) -> None:
    missing = development.get("/api/volunteer/me")
    assert missing.status_code == 401
    assert missing.json()["error"]["reason"] == "missing"
    development.get("/sign-in/dev", params={"subject": "resident-7"})
    forged = development.post(
        "/api/volunteer/activities/a1/check-out", headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "cross_site_request"
    assert development.get("/api/elsewhere/x").status_code == 404


def test_every_screen_is_the_shell_with_a_policy_that_admits_only_this_site(
    development: TestClient,
) -> None:
    for path in ("/", "/register", "/drives", "/record", "/inbox", "/check-in/a1?code=123456"):
        answer = development.get(path)
        assert answer.status_code == 200, path
        assert 'src="/assets/volunteer.js"' in answer.text
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self'" in policy
    assert (
        development.get("/assets/volunteer.js")
        .headers["content-type"]
        .startswith("text/javascript")
    )


def test_every_asset_is_served_here_and_names_no_other_host(development: TestClient) -> None:
    from muster_pages.entrypoints.pages import STATIC

    # Our own, the console's under console/ too (a vendored library is checked by its pin).
    for asset in (p for p in STATIC.rglob("*") if p.is_file() and "vendor" not in p.parts):
        name = asset.relative_to(STATIC).as_posix()
        text = asset.read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), name
        assert "https://" not in text, name
        assert development.get(f"/assets/{name}").status_code == 200


def test_a_callback_this_browser_did_not_start_is_refused(production: TestClient) -> None:
    answer = production.get("/sign-in/callback", params={"code": "c", "state": "s"})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "sign_in_mismatch"
    assert "muster_session" not in answer.cookies


def test_without_a_reachable_provider_the_sign_in_says_it_is_unavailable(
    production: TestClient,
) -> None:
    answer = production.get("/sign-in", follow_redirects=False)
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "idp_unavailable"


def test_every_refusal_is_documented_with_the_error_body(development: TestClient) -> None:
    document = development.get("/openapi.json").json()
    documented = {
        (path, method): set(operation["responses"])
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert {"401", "503"} <= documented[("/sign-in/callback", "get")]
    assert {"403"} <= documented[("/sign-out", "post")]
    assert {"422"} <= documented[("/sign-in/dev", "get")]
    assert {"401", "403", "404", "503"} <= documented[("/api/{service}/{path}", "post")]
    refusal = document["paths"]["/sign-in/callback"]["get"]["responses"]["401"]
    assert refusal["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorAnswer")
