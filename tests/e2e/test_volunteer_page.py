"""The volunteer's phone page in a real browser (Debian's Chromium, 360 × 740) against the
running services and a real OpenID provider (tools/oidc: oidc-provider): sign in, register,
sign up and be accepted, open the organiser's QR link with the phone's location set, check
in and out, see the hours once approved; a wrong place and an expired code say why; no
console error, and no request leaves the stack (the pages service and the provider)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from muster_auth.dev_tokens import TokenIssuer, development_jwt_secret
from muster_cli.bench.measure import free_ports
from muster_cli.sample import SampleVolunteers
from muster_contracts.checkin import checkin_code, decode_secret
from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem, running_system, served_from
from tests.e2e.field_day import COMMUNITY, STREET
from tests.e2e.test_activities_and_hours import FAR, NEAR, PLACE
from tests.e2e.test_leadership import CHROMIUM, CHROMIUM_FLAGS, needs_chromium
from tests.e2e.test_register_to_report import DISTRICT, wait_for
from tests.topic_dump import topic_records

PHONE = {"width": 360, "height": 740}
# Where the screens are saved: a temporary folder, or docs/screens to refresh the README's.
SCREENS = os.environ.get("MUSTER_SCREENS_DIR")
ROOT = Path(__file__).resolve().parents[2]
PROVIDER = ROOT / "tools" / "oidc"
# What the services accept: tokens for this audience (a URI: OAuth resource indicators are).
AUDIENCE = "urn:muster:api"
IDP_PORT = free_ports(1)[0]
ISSUER = f"http://127.0.0.1:{IDP_PORT}"
# The provider's directory names one organiser, of the street; any other login is a volunteer.
ORGANISER_LOGIN = "desk-of-the-street"


def signed_by_the_tests(subject: str, role: Role, area: str = STREET) -> dict[str, str]:
    """Headers with a development token the services here accept beside the provider's."""
    token = TokenIssuer(development_jwt_secret(), ISSUER, AUDIENCE).issue(subject, role, area)
    return {"Authorization": f"Bearer {token}"}


ORGANISER = signed_by_the_tests("page-organiser", Role.ORGANISER)
needs_identity_provider = pytest.mark.skipif(
    shutil.which("node") is None or not (PROVIDER / "node_modules" / "oidc-provider").exists(),
    reason="no Node or no tools/oidc/node_modules: `make install` installs oidc-provider",
)


class Watched:
    """A phone's browser whose console errors, page errors and requests to anywhere but
    the pages service are written down (the latter also refused)."""

    def __init__(self, playwright: Any, tmp_path: Path, stack: list[str], **options: Any) -> None:
        """`options`: the browser's other settings (a desk's screen rather than a phone's)."""
        self.problems: list[str] = []
        self.elsewhere: list[str] = []
        self.screens = Path(SCREENS) if SCREENS else tmp_path / "screens"
        self.screens.mkdir(parents=True, exist_ok=True)
        phone = {
            "viewport": PHONE,
            "device_scale_factor": 2,
            "is_mobile": True,
            "has_touch": True,
            "locale": "zh-CN",
            "geolocation": {"latitude": NEAR[0], "longitude": NEAR[1]},
            "permissions": ["geolocation"],
        }
        self.context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            **(phone | options),
        )
        own = {urlsplit(url).netloc for url in stack}

        def guard(route: Any) -> None:
            if urlsplit(route.request.url).netloc in own:
                route.continue_()
            else:
                self.elsewhere.append(route.request.url)
                route.abort()

        self.context.route("**/*", guard)
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))

    def _console(self, message: Any) -> None:
        # A refusal the page explains (a 4xx answer) is logged by Chromium as a failed
        # resource; any other error is a fault of the page.
        expected = message.text.startswith(
            "Failed to load resource: the server responded with a status of 4"
        )
        if message.type == "error" and not expected:
            self.problems.append(
                f"{message.text} ({message.location.get('url')}, on {self.page.url})"
            )

    def screen(self, name: str) -> None:
        self.page.screenshot(path=str(self.screens / f"{name}.png"), full_page=False)

    def drawn(self, path: str) -> None:
        self.page.wait_for_selector(f'body[data-ready="{path}"]', timeout=30000)

    def redrawn(self, path: str, selector: str) -> int:
        """Load the screen again and count what `selector` finds on it."""
        self.page.reload()
        self.drawn(path)
        return int(self.page.locator(selector).count())


@contextmanager
def services_trusting_the_provider(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningSystem]:
    """The services, accepting the provider's tokens (its keys by `kid` from its JWKS) and
    development tokens with its issuer and audience (the organiser's, in these tests)."""
    verify = {
        "MUSTER_JWT_ISSUER": ISSUER,
        "MUSTER_JWT_AUDIENCE": AUDIENCE,
        "MUSTER_JWT_JWKS_URL": f"{ISSUER}/jwks",
    }
    with running_system(tmp_path_factory, settings=verify) as running:
        yield running


@contextmanager
def running_identity_provider(system: RunningSystem) -> Iterator[str]:
    """The test provider, sending browsers back to the pages service; its issuer."""
    log = (system.logs / "oidc-provider.log").open("ab")
    process = subprocess.Popen(
        ["node", str(PROVIDER / "provider.mjs"), str(IDP_PORT),
         f"{system.urls['pages']}/sign-in/callback", AUDIENCE,
         f"{ORGANISER_LOGIN}=organiser:{STREET}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        until(lambda: _answers(f"{ISSUER}/.well-known/openid-configuration"), timeout=30)
        yield ISSUER
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    with services_trusting_the_provider(tmp_path_factory) as running:
        yield running


@pytest.fixture(scope="module")
def identity_provider(system: RunningSystem) -> Iterator[str]:
    with running_identity_provider(system) as issuer:
        yield issuer


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def pages_signing_in_through(
    system: RunningSystem, identity_provider: str, settings: dict[str, str] | None = None
) -> str:
    """Start the pages service signing in through the provider (`settings`: more of its
    environment); its address."""
    return system.start_pages(
        {
            "MUSTER_OIDC_ISSUER": identity_provider,
            "MUSTER_OIDC_CLIENT_ID": "muster-pages",
            "MUSTER_OIDC_RESOURCE": AUDIENCE,
        }
        | (settings or {})
    )


@pytest.fixture(scope="module")
def pages_url(system: RunningSystem, identity_provider: str) -> str:
    return pages_signing_in_through(system, identity_provider)


def sign_in_with_the_identity_provider(phone: Watched, pages_url: str, login: str) -> None:
    """From the page to the provider's login screen and back, signed in (authorization
    code with PKCE; the provider's development screens take any login)."""
    page = phone.page
    page.goto(f"{pages_url}/")
    phone.drawn("/")
    page.click("#sign-in-link")
    log_in_at_the_provider(phone, pages_url, login)


def log_in_at_the_provider(browser: Watched, pages_url: str, login: str) -> None:
    """On the way to the provider's login screen: sign in as `login`, and back."""
    page = browser.page
    page.wait_for_url(f"{ISSUER}/**")
    page.fill("input[name=login]", login)
    if page.locator("input[name=password]").count():
        page.fill("input[name=password]", "any")
    page.click("button.login-submit")
    page.wait_for_url(f"{pages_url}/**")


def register_on_the_page(phone: Watched) -> None:
    page = phone.page
    phone.drawn("/")
    page.wait_for_selector("#register-form")
    assert page.locator("#register-form h2").text_content() == "志愿者注册"
    page.fill("#name", "李小梅")
    page.fill("#phone", "12345")
    for level, area in enumerate((DISTRICT, STREET, COMMUNITY)):
        page.wait_for_selector(f"#area-{level} option[value='{area}']", state="attached")
        page.select_option(f"#area-{level}", area)
    page.check("input[name=categories][value=in_service_party_member]")
    page.check("input[name=skills][value=first_aid]")
    page.click("#register-form button[type=submit]")
    # Each message stands next to its field, in the page's language.
    assert "11 位大陆手机号" in (page.text_content("#error-phone") or "")
    assert page.get_attribute("#phone", "aria-invalid") == "true"
    assert "工作单位" in (page.text_content("#error-employer_unit") or "")
    page.click("#lang-toggle")
    assert page.locator("#register-form h2").text_content() == "Register as a volunteer"
    page.click("#register-form button[type=submit]")
    assert "mainland mobile number" in (page.text_content("#error-phone") or "")
    phone.screen("register")
    page.click("#lang-toggle")
    page.fill("#phone", "139 0013 8066")
    page.fill("#employer_unit", "路北区人民医院")
    page.click("#register-form button[type=submit]")
    phone.drawn("/")
    page.wait_for_selector("#greeting")
    assert page.text_content("#greeting") == "李小梅，您好"


def launch_drive(dispatch: httpx.Client) -> str:
    now = datetime.now(UTC)
    launched = dispatch.post(
        "/drives",
        json={
            "title": "社区应急救护培训",
            "scope_area_id": STREET,
            "category": "elderly_care",
            "roles": [{"role_id": "first-aid", "skill": "first_aid", "headcount": 3}],
            "signup_closes_at": (now + timedelta(hours=2)).isoformat(),
            "activity_starts_at": (now + timedelta(days=1)).isoformat(),
            "activity_ends_at": (now + timedelta(days=1, hours=3)).isoformat(),
        },
        headers=ORGANISER,
    )
    assert launched.status_code == 201, launched.text
    return str(launched.json()["drive_id"])


def schedule(dispatch: httpx.Client, drive_id: str, volunteer_id: str, ends_in: float) -> str:
    now = datetime.now(UTC)
    starts_at = served_from(now - timedelta(minutes=90), 95)
    scheduled = dispatch.post(
        "/activities",
        json={
            "drive_id": drive_id,
            "title": "应急救护演练",
            "place_area_id": COMMUNITY,
            "latitude": PLACE[0],
            "longitude": PLACE[1],
            "category": "elderly_care",
            "starts_at": starts_at.isoformat(),
            "ends_at": (max(now, starts_at) + timedelta(seconds=ends_in)).isoformat(),
            "capacity": 5,
            "assigned_volunteer_ids": [volunteer_id],
        },
        headers=ORGANISER,
    )
    assert scheduled.status_code == 201, scheduled.text
    return str(scheduled.json()["activity_id"])


def code_shown_minutes_ago(system: RunningSystem, activity_id: str, minutes: int) -> str:
    """The code the organiser's device showed `minutes` ago, from the activity's secret as
    dispatch published it (`activity.scheduled`)."""
    # Playwright's own event loop runs in this thread: read the topics in another.
    with ThreadPoolExecutor(1) as reader:
        records = reader.submit(asyncio.run, topic_records(system.topic_prefix)).result()
    for record in records:
        envelope = json.loads(record.value or b"{}")
        payload = envelope.get("payload", {})
        if (
            envelope.get("type") == "activity.scheduled"
            and payload.get("activity_id") == activity_id
        ):
            secret = decode_secret(payload["checkin_secret"])
            return checkin_code(secret, activity_id, datetime.now(UTC) - timedelta(minutes=minutes))
    raise AssertionError(f"no activity.scheduled for {activity_id}")


def tap_check_in(phone: Watched) -> str:
    page = phone.page
    page.click("#check-in-button")
    page.wait_for_selector("#check-in-result.ok, #check-in-result.bad", timeout=30000)
    return page.text_content("#check-in-result") or ""


def until(check: Callable[[], Any], timeout: float = 60) -> Any:
    return wait_for(check, bool, timeout=timeout)


@pytest.fixture
def phone(playwright_module: Any, tmp_path: Path, pages_url: str) -> Iterator[Watched]:
    watched = Watched(playwright_module, tmp_path, [pages_url, ISSUER])
    try:
        yield watched
    finally:
        watched.context.close()
    assert watched.problems == [], watched.problems
    assert watched.elsewhere == [], watched.elsewhere


@pytest.fixture(scope="module")
def playwright_module() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@needs_chromium
@needs_identity_provider
def test_a_volunteer_signs_up_checks_in_by_scanning_and_sees_the_hours(
    system: RunningSystem, pages_url: str, phone: Watched
) -> None:
    page = phone.page
    dispatch = httpx.Client(base_url=system.urls["dispatch"], timeout=30)
    login = f"page-{int(time.time() * 1000) % 10**9}"
    sign_in_with_the_identity_provider(phone, pages_url, login)
    register_on_the_page(phone)

    drive_id = launch_drive(dispatch)
    page.click("a[data-screen-link=drives]")
    phone.drawn("/drives")
    until(lambda: phone.redrawn("/drives", f"li[data-drive-id='{drive_id}'] button[data-role-id]"))
    page.click(f"li[data-drive-id='{drive_id}'] button[data-role-id='first-aid']")
    page.wait_for_selector("#status.ok")
    accepted = until(lambda: phone.redrawn("/drives", "#sign-up-list .badge.accepted"))
    assert accepted == 1
    assert page.text_content("#sign-up-list .badge") == "已录用"
    phone.screen("drives")
    volunteer_id = next(
        r["volunteer_id"]
        for r in dispatch.get(f"/drives/{drive_id}/sign-ups", headers=ORGANISER).json()["sign_ups"]
    )

    # The organiser shows the QR code; the phone's camera opens its link.
    activity_id = schedule(dispatch, drive_id, volunteer_id, ends_in=60)
    shown = dispatch.get(f"/activities/{activity_id}/check-in-code", headers=ORGANISER).json()
    link = shown["qr_payload"]
    assert link == f"{pages_url}/check-in/{activity_id}?code={shown['code']}"

    # The home screen lists the activity, on now: with a link to its check-in.
    page.goto(f"{pages_url}/")
    listed = f"#home-activities li[data-activity-id='{activity_id}']"
    assert until(lambda: phone.redrawn("/", listed), timeout=30) == 1
    assert page.locator(f"{listed} a[href='/check-in/{activity_id}']").count() == 1

    # An expired code says so (until the volunteer service learns of the activity from
    # dispatch's events, the page says it has not reached it yet: tap again).
    page.goto(link.replace(shown["code"], code_shown_minutes_ago(system, activity_id, 5)))
    phone.drawn(f"/check-in/{activity_id}")
    message = until(lambda: (m := tap_check_in(phone)) and "尚未送达" not in m and m, timeout=30)
    assert "二维码已过期" in message, message

    # Too far away: the distance in words.
    phone.context.set_geolocation({"latitude": FAR[0], "longitude": FAR[1]})
    page.goto(link)
    phone.drawn(f"/check-in/{activity_id}")
    message = tap_check_in(phone)
    assert "距离活动地点约" in message, message
    assert "200 米以内" in message, message
    phone.screen("check-in-too-far")

    # On site: checked in, then out with one tap.
    phone.context.set_geolocation({"latitude": NEAR[0], "longitude": NEAR[1]})
    page.goto(link)
    phone.drawn(f"/check-in/{activity_id}")
    assert page.is_hidden("#check-out-button")
    assert "签到成功" in tap_check_in(phone)
    phone.screen("check-in")
    page.click("#check-out-button")
    page.wait_for_selector("#check-in-result:has-text('签退成功')")
    assert page.is_hidden("#check-out-button")

    # The organiser approves once the activity has ended (the paper sheet corrects the
    # times to 90 minutes, as an organiser does): the volunteer sees the hours.
    corrected = dispatch.post(
        f"/activities/{activity_id}/attendances/{volunteer_id}/correct",
        json={
            "check_in_at": (datetime.now(UTC) - timedelta(minutes=92)).isoformat(),
            "check_out_at": (datetime.now(UTC) - timedelta(minutes=2)).isoformat(),
            "reason": "纸质签到表",
        },
        headers=ORGANISER,
    )
    assert corrected.status_code == 200, corrected.text
    # The messages screen is open when the hours are approved: the message arrives live.
    page.goto(f"{pages_url}/inbox")
    phone.drawn("/inbox")
    before = page.locator("#message-list li[data-message-id]").count()
    approved = until(
        lambda: (
            dispatch.post(f"/activities/{activity_id}/approve", headers=ORGANISER).status_code
            == 200
        ),
        timeout=150,
    )
    assert approved
    page.locator("#message-list li[data-message-id]").nth(before).wait_for(timeout=60000)
    assert "1.5" in (page.text_content("#message-list li[data-message-id]") or "")
    phone.screen("inbox")
    page.goto(f"{pages_url}/record")
    until(lambda: phone.redrawn("/record", "#record-list li[data-record-id]"))
    assert page.text_content("#total-hours") == "1.5"
    assert page.locator("#record-list li[data-record-id]").count() == 1
    assert page.get_attribute("#statement-link", "href") == (
        "/api/volunteer/me/hours-statement?format=html&lang=zh-CN"
    )
    phone.screen("record")
    page.click("#lang-toggle")
    page.wait_for_selector("#statement-link:has-text('Print my hours statement')")
    statement = phone.context.request.get(
        f"{pages_url}/api/volunteer/me/hours-statement?format=html&lang=en"
    )
    assert statement.status == 200
    assert "1.5" in statement.text()

    page.goto(f"{pages_url}/")
    phone.drawn("/")
    phone.screen("home")


@needs_chromium
@needs_identity_provider
def test_a_volunteer_an_organiser_registered_claims_the_record_with_the_invitation(
    system: RunningSystem, pages_url: str, phone: Watched
) -> None:
    volunteer = httpx.Client(base_url=system.urls["volunteer"], timeout=30)
    form = SampleVolunteers(seed=2727).draw(COMMUNITY)
    registered = volunteer.post("/volunteers", json=form, headers=ORGANISER)
    assert registered.status_code == 201, registered.text
    invited = volunteer.post(
        f"/volunteers/{registered.json()['volunteer_id']}/invitations", headers=ORGANISER
    )
    assert invited.status_code == 201, invited.text

    # The development sign-in: a login of its own, registered to nobody yet.
    page = phone.page
    page.goto(f"{pages_url}/sign-in/dev?next=/drives")
    page.wait_for_selector("#subject")
    assert page.locator("h1").text_content() == "开发环境登录"
    page.fill("#subject", f"page-claim-{int(time.time())}")
    page.click("button[type=submit]")
    phone.drawn("/drives")
    page.wait_for_selector("#claim-form")
    page.fill("#claim-code", "0000-0000-0000-0000")
    page.click("#claim-form button[type=submit]")
    page.wait_for_selector("#error-code:has-text('邀请码不正确')")
    assert page.get_attribute("#claim-code", "aria-invalid") == "true"
    page.fill("#claim-code", invited.json()["code"].lower())  # case does not matter
    page.click("#claim-form button[type=submit]")
    phone.drawn("/")
    page.wait_for_selector("#greeting")
    assert page.text_content("#greeting") == f"{form['name']}，您好"
