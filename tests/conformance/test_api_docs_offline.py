"""Each service's `/docs` (Swagger UI) and `/redoc` (ReDoc) render in Chromium from what the
service itself serves: every request the pages make goes to the service, none leaves the
stack (no CDN, no web fonts, no public validator), and the operations are drawn. What the
pages' Content-Security-Policy refused (ReDoc's logo from its CDN) is never requested."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import SERVICES, RunningSystem
from tests.e2e.test_leadership import _browser, _page, needs_chromium

# What each page draws once it has read the service's OpenAPI document.
DRAWN = {
    "/docs": ".swagger-ui .opblock-summary-path",
    "/redoc": "[data-section-id^='operation/'], [data-section-id^='tag/']",
}


@needs_chromium
@pytest.mark.parametrize("service", SERVICES)
def test_the_api_docs_render_with_no_request_leaving_the_stack(
    system: RunningSystem, service: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    own = urlsplit(system.urls[service]).netloc
    outside: list[str] = []
    problems: list[str] = []

    def only_the_service(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).scheme in {"data", "blob"} or urlsplit(url).netloc == own:
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    with sync_playwright() as playwright:
        browser = _browser(playwright, tmp_path)
        try:
            browser.route("**/*", only_the_service)
            page = _page(browser, problems)
            for path, drawn in DRAWN.items():
                page.goto(f"{system.urls[service]}{path}")
                page.wait_for_selector(drawn, timeout=60_000)
                assert page.locator(drawn).count() > 0, path
                assert service in page.title(), page.title()
        finally:
            browser.close()

    assert outside == []
    refused = [p for p in problems if "Content Security Policy" in p]
    print(f"\n{service}: refused by the pages' policy, never requested: {refused}")
    assert [p for p in problems if p not in refused] == []
