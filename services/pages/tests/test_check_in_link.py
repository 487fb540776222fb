"""What the organiser's QR code encodes: a link a phone's camera opens."""

from __future__ import annotations

import pytest

from muster_contracts.checkin import check_in_link, page_url_problem


def test_the_link_opens_the_volunteer_page_at_the_activity_with_the_code() -> None:
    assert (
        check_in_link("https://muster.example/", "a1b2c3", "042917")
        == "https://muster.example/check-in/a1b2c3?code=042917"
    )
    assert check_in_link("https://x.example/v", "a/b", "1 2") == (
        "https://x.example/v/check-in/a%2Fb?code=1%202"
    )


@pytest.mark.parametrize(
    ("page_url", "fits"),
    [
        ("https://muster.example", True),
        ("https://muster.example/volunteer/", True),
        ("http://127.0.0.1:8005", True),
        ("http://localhost:8005", True),
        ("http://muster.example", False),
        ("muster:check-in", False),
        ("ftp://muster.example", False),
        ("https://", False),
    ],
)
def test_a_phone_needs_an_https_page_except_on_this_machine(page_url: str, fits: bool) -> None:
    assert (page_url_problem(page_url) is None) is fits
