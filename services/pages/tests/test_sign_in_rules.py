"""The rules of signing in and of changes sent with the session: PKCE, where a sign-in may
return to, which requests may change something."""

from __future__ import annotations

import base64
import hashlib

import pytest

from muster_pages.domain.cross_site import same_site_request
from muster_pages.domain.sign_in import (
    PendingSignIn,
    code_challenge,
    code_verifier,
    safe_return_path,
)


def test_the_challenge_is_the_s256_of_the_verifier_as_rfc_7636_computes_it() -> None:
    # RFC 7636, appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert code_challenge(verifier) == (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def test_each_verifier_is_new_and_of_the_allowed_length() -> None:
    verifiers = {code_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    assert all(43 <= len(v) <= 128 for v in verifiers)


@pytest.mark.parametrize(
    ("asked", "goes_to"),
    [
        ("/check-in/a1?code=123456", "/check-in/a1?code=123456"),
        ("/drives", "/drives"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("drives", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_a_sign_in_returns_only_to_a_path_of_this_site(asked: str | None, goes_to: str) -> None:
    assert safe_return_path(asked) == goes_to


def test_a_pending_sign_in_survives_its_cookie_and_answers_only_its_own_state() -> None:
    pending = PendingSignIn.start("/check-in/a1?code=123456")
    kept = PendingSignIn.from_cookie(pending.cookie_value())
    assert kept == pending
    assert kept.answers(pending.state)
    assert not kept.answers(PendingSignIn.start(None).state)
    assert not kept.answers(None)
    assert PendingSignIn.from_cookie(None) is None
    assert PendingSignIn.from_cookie("too few parts") is None


@pytest.mark.parametrize(
    ("method", "origin", "host", "allowed"),
    [
        ("GET", None, "pages.example", True),
        ("GET", "https://evil.example", "pages.example", True),
        ("POST", "https://pages.example", "pages.example", True),
        ("POST", "http://127.0.0.1:8005", "127.0.0.1:8005", True),
        ("POST", "https://evil.example", "pages.example", False),
        ("POST", None, "pages.example", False),
        ("POST", "null", "pages.example", False),
        ("PUT", "https://pages.example.evil.example", "pages.example", False),
        ("DELETE", "https://evil.example", "pages.example", False),
    ],
)
def test_only_the_sites_own_pages_may_change_something(
    method: str, origin: str | None, host: str, allowed: bool
) -> None:
    assert same_site_request(method, origin, host) is allowed
