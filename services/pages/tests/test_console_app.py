"""The organisers' console in the pages service: its screens are its own shell under the
same security policy, the development sign-in gives an organiser of an area, and the
session says whom its token names (unverified: the services verify)."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest
from fastapi.testclient import TestClient

from muster_pages.bootstrap import build_app
from muster_pages.domain.sign_in import claims_shown
from muster_pages.settings import PagesSettings

SECRET = "a-test-secret-that-is-long-enough-for-hs256-0123456789"


@pytest.fixture
def development() -> Iterator[TestClient]:
    app = build_app(PagesSettings(jwt_secret=SECRET, log_json=False, dev_mode=True))
    with TestClient(app, base_url="http://127.0.0.1:8005") as test_client:
        yield test_client


@pytest.mark.parametrize(
    "path",
    ["/console", "/console/drives/d1", "/console/activities", "/console/activities/a1",
     "/console/activities/a1/qr", "/console/roster"],
)  # fmt: skip
def test_every_console_screen_is_the_console_shell_admitting_only_this_site(
    development: TestClient, path: str
) -> None:
    answer = development.get(path)
    assert answer.status_code == 200
    assert "/assets/console/console.js" in answer.text
    assert "script-src 'self';" in answer.headers["content-security-policy"]
    assert "http" not in answer.text.split("<body", 1)[1]  # nothing from another host


def test_the_console_scripts_are_served_here(development: TestClient) -> None:
    for asset in ("console/console.js", "console/console.css"):
        answer = development.get(f"/assets/{asset}")
        assert answer.status_code == 200
        assert "https://" not in answer.text


def test_the_development_sign_in_gives_an_organiser_of_the_area_asked_for(
    development: TestClient,
) -> None:
    answer = development.get(
        "/sign-in/dev",
        params={"subject": "desk-1", "role": "organiser", "area": "130203", "next": "/console"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console"
    claims = jwt.decode(
        answer.cookies["muster_session"], SECRET, algorithms=["HS256"], audience="muster"
    )
    assert (claims["sub"], claims["role"], claims["area"]) == ("desk-1", "organiser", "130203")
    shown = development.get("/session").json()["claims"]
    assert shown == {"sub": "desk-1", "role": "organiser", "area": "130203"}


@pytest.mark.parametrize(
    ("name", "value"), [("role", "admin"), ("role", "leader"), ("area", "13x")]
)
def test_the_development_sign_in_gives_no_other_role_and_only_an_area_code(
    development: TestClient, name: str, value: str
) -> None:
    answer = development.get(
        "/sign-in/dev", params={"subject": "desk-1", name: value}, follow_redirects=False
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == name


def test_a_session_token_that_is_not_a_jwt_names_nobody() -> None:
    assert claims_shown(None) == {}
    assert claims_shown("not-a-token") == {}
    assert claims_shown("a.bm90IGpzb24.c") == {}


@pytest.mark.parametrize(
    ("role", "status"), [("volunteer", 403), ("organiser", 200), (None, 200)]
)  # fmt: skip
def test_the_console_refuses_a_session_that_is_not_an_organisers(
    development: TestClient, role: str | None, status: int
) -> None:
    if role is not None:
        development.get(
            "/sign-in/dev", params={"subject": "someone", "role": role}, follow_redirects=False
        )
    answer = development.get("/console/activities")
    assert answer.status_code == status
    assert "/assets/console/console.js" in answer.text  # the script says why, in words
