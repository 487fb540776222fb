"""Leadership's reports over HTTP after a real field day: the drive funnel, spreadsheet
exports equal to the JSON, and service over time."""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from openpyxl import load_workbook
from PIL import Image, ImageChops, ImageStat

from muster_auth.dev_tokens import issue_token
from muster_contracts.envelope import Role
from muster_contracts.topology import event_topic, revocation_topic
from muster_reporting.entrypoints.exports import COLUMN_LABELS, XLSX_TYPE, flatten
from tests.asyncapi import validator as contract_validator
from tests.conftest import kafka_bootstrap
from tests.e2e.conftest import RunningSystem
from tests.e2e.field_day import COMMUNITY, STREET, FieldDay, run_field_day
from tests.e2e.test_register_to_report import DISTRICT, auth, wait_for

STAGES = ("signed_up", "accepted", "assigned", "checked_in", "hours_approved")


@pytest.fixture(scope="module")
def field_day(system: RunningSystem) -> FieldDay:
    return run_field_day(system)


def get(
    system: RunningSystem,
    path: str,
    *,
    role: Role = Role.LEADER,
    area: str = DISTRICT,
    **params: str,
) -> httpx.Response:
    return httpx.get(
        f"{system.urls['reporting']}{path}",
        params={k.rstrip("_"): v for k, v in params.items()},  # from_ → from
        headers=auth(role, area=area),
        timeout=10,
    )


def funnel_counts(body: dict[str, Any]) -> tuple[int, ...]:
    assert [s["stage"] for s in body["stages"]] == list(STAGES)
    return tuple(s["count"] for s in body["stages"])


def test_the_drive_funnel_counts_each_volunteer_once_per_stage(
    system: RunningSystem, field_day: FieldDay
) -> None:
    expected = field_day.funnel
    by_drive = wait_for(
        lambda: get(system, "/reports/funnel", drive_id=field_day.drive_id).json(),
        lambda body: "stages" in body and funnel_counts(body) == expected,
        timeout=30,
    )
    assert funnel_counts(by_drive) == expected, by_drive
    assert by_drive["drive_id"] == field_day.drive_id
    assert by_drive["area_id"] == DISTRICT
    rates = [s["rate"] for s in by_drive["stages"]]
    assert rates == [None, *(b / a for a, b in itertools.pairwise(expected))]
    # The drive is the only one in this system: its street and the district show it all,
    # another street nothing.
    # (A cell at a time: the areas may trail the drive's own cell by a moment.)
    for area in (STREET, DISTRICT):
        body = wait_for(
            lambda a=area: get(system, "/reports/funnel", area=a, area_id=a).json(),
            lambda body: funnel_counts(body) == expected,
            timeout=10,
        )
        assert (body["area_id"], body["drive_id"], funnel_counts(body)) == (area, None, expected)
    other = get(system, "/reports/funnel", area_id="130203002").json()
    assert funnel_counts(other) == (0, 0, 0, 0, 0)
    assert [s["rate"] for s in other["stages"]] == [None] * 5


def test_the_funnel_as_it_stood_at_past_instants(
    system: RunningSystem, field_day: FieldDay
) -> None:
    wait_for(
        lambda: get(system, "/reports/funnel", drive_id=field_day.drive_id).json(),
        lambda body: "stages" in body and funnel_counts(body) == field_day.funnel,
        timeout=30,
    )
    moments = {
        field_day.started_at: (0, 0, 0, 0, 0),
        field_day.decided_at: (7, 5, 0, 0, 0),  # before the withdrawals and the team
        datetime.now(UTC) + timedelta(minutes=1): field_day.funnel,  # to the minute
    }

    def funnel_at(params: dict[str, str]) -> Any:
        url = f"{system.urls['reporting']}/reports/funnel"
        return httpx.get(url, params=params, headers=auth(Role.LEADER), timeout=10).json()

    for at, expected in moments.items():
        for where in ({"drive_id": field_day.drive_id}, {"area_id": STREET}):
            params = {"as_of": at.isoformat(), **where}
            body = wait_for(  # the history is kept after each batch's cells: a moment later
                lambda p=params: funnel_at(p),
                lambda body, e=expected: funnel_counts(body) == e,
                timeout=10,
            )
            assert funnel_counts(body) == expected, (at, where, body)


def test_the_funnel_is_scoped_and_names_what_is_missing(
    system: RunningSystem, field_day: FieldDay
) -> None:
    elsewhere = "130203002"
    assert get(system, "/reports/funnel", area=elsewhere, area_id=STREET).status_code == 403
    outside = get(system, "/reports/funnel", area=elsewhere, drive_id=field_day.drive_id)
    assert outside.status_code == 404
    assert outside.json()["error"]["field"] == "drive_id"
    assert get(system, "/reports/funnel", drive_id="no-such-drive").status_code == 404
    assert get(system, "/reports/funnel", role=Role.VOLUNTEER).status_code == 403
    assert get(system, "/reports/funnel", area_id="99").status_code == 404
    assert get(system, "/reports/funnel", format="pdf").status_code == 422


def test_an_area_comes_with_the_path_from_the_callers_scope(system: RunningSystem) -> None:
    def path(role: Role, scope: str, area_id: str) -> list[str]:
        body = get(system, f"/reports/areas/{area_id}", role=role, area=scope).json()
        assert body["area"] == body["path"][-1], body
        return [step["area_id"] for step in body["path"]]

    assert path(Role.LEADER, DISTRICT, COMMUNITY) == [DISTRICT, STREET, COMMUNITY]
    assert path(Role.LEADER, STREET, COMMUNITY) == [STREET, COMMUNITY]
    assert path(Role.ADMIN, DISTRICT, STREET) == ["1302", DISTRICT, STREET]  # from the root
    outside = get(system, f"/reports/areas/{COMMUNITY}", area="130203002")
    assert (outside.status_code, outside.json()["error"]["reason"]) == (403, "outside_scope")
    unknown = get(system, "/reports/areas/1302039", area=DISTRICT)
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (404, "area_id")


def _read_xlsx(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX_TYPE
    assert response.headers["content-disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows, "not even a header"
    keys = {label: key for key, label in COLUMN_LABELS.items()}
    header = [keys.get(str(h), str(h)) for h in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def _expected_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat = [flatten(r) for r in rows]
    columns = list(dict.fromkeys(k for r in flat for k in r))
    return [{c: r.get(c) for c in columns} for r in flat]


@pytest.mark.parametrize("report", ["/reports/volunteers", "/reports/service"])
def test_xlsx_exports_hold_the_json_figures(
    system: RunningSystem, field_day: FieldDay, report: str
) -> None:
    body = get(system, report, area_id=STREET).json()
    exported = _read_xlsx(get(system, report, area_id=STREET, format="xlsx"))
    assert exported == _expected_rows([*body["children"], body["area"]])
    assert any(row["area_id"] == COMMUNITY for row in exported)


@pytest.mark.parametrize(
    ("report", "rows", "expected"),
    [("/reports/top-volunteers", "volunteers", 4), ("/reports/top-teams", "teams", None),
     ("/reports/stars", "volunteers", None)],
)  # fmt: skip
def test_rankings_export_as_xlsx_and_csv(
    system: RunningSystem, field_day: FieldDay, report: str, rows: str, expected: int | None
) -> None:
    body = wait_for(
        lambda: get(system, report, area_id=STREET).json(),
        lambda b: expected is None or len(b[rows]) == expected,
        timeout=30,
    )
    exported = _read_xlsx(get(system, report, area_id=STREET, format="xlsx"))
    assert exported == _expected_rows(body[rows])
    if expected is not None:
        assert len(exported) == expected
    csv_export = get(system, report, area_id=STREET, format="csv")
    assert csv_export.headers["content-type"].startswith("text/csv")
    assert len(csv_export.text.strip().splitlines()) == len(body[rows]) + 1


def test_the_funnel_and_series_export_as_xlsx_too(
    system: RunningSystem, field_day: FieldDay
) -> None:
    funnel = get(system, "/reports/funnel", drive_id=field_day.drive_id).json()
    exported = _read_xlsx(
        get(system, "/reports/funnel", drive_id=field_day.drive_id, format="xlsx")
    )
    assert exported == _expected_rows(funnel["stages"])
    series = get(system, "/reports/service/series", area_id=STREET, granularity="month").json()
    exported = _read_xlsx(
        get(system, "/reports/service/series", area_id=STREET, granularity="month", format="xlsx")
    )
    assert exported == _expected_rows(series["points"])


def test_the_series_adds_up_to_the_period_reports(
    system: RunningSystem, field_day: FieldDay
) -> None:
    for granularity in ("day", "month"):
        series = get(
            system, "/reports/service/series", area_id=COMMUNITY, granularity=granularity
        ).json()
        assert len(series["points"]) == (30 if granularity == "day" else 12)
        for point in series["points"]:
            if not point["turnouts"] and not point["activities"]:
                continue
            period = get(
                system, "/reports/service", area_id=COMMUNITY, period=point["period"]
            ).json()
            for measure in ("activities", "turnouts", "hours", "beneficiaries"):
                assert point[measure] == period["area"][measure]
        whole = get(system, "/reports/service", area_id=COMMUNITY).json()["area"]
        assert sum(p["turnouts"] for p in series["points"]) == whole["turnouts"] == 4
        assert sum(p["activities"] for p in series["points"]) == whole["activities"] == 1


def test_series_ranges_are_checked(system: RunningSystem) -> None:
    path = "/reports/service/series"
    backwards = get(system, path, from_="2026-11-02", to="2026-11-01")
    assert (backwards.status_code, backwards.json()["error"]["code"]) == (422, "invalid_range")
    too_long = get(system, path, from_="2020-01-01", to="2026-11-01")
    assert too_long.json()["error"]["code"] == "range_too_long"
    assert get(system, path, granularity="month", from_="2026-11-01").status_code == 422
    assert get(system, path, granularity="week").status_code == 422
    assert get(system, path, from_="2026-02-30").status_code == 422


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _pixel_spread(png: bytes) -> float:
    """Standard deviation of the grey levels: a blank chart is one flat colour."""
    grey = Image.open(io.BytesIO(png)).convert("L")
    return float(ImageStat.Stat(grey).stddev[0])


needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: Debian's chromium package is not installed (.ci/run installs it)",
)


def _browser(playwright: Any, tmp_path: Path) -> Any:
    return playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport={"width": 1280, "height": 1400},
        accept_downloads=True,
    )


def _page(browser: Any, problems: list[str]) -> Any:
    """A new page whose console errors and uncaught exceptions land in `problems`."""
    page = browser.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page


@needs_chromium
def test_the_dashboard_drills_down_draws_its_charts_and_speaks_both_languages(
    system: RunningSystem, field_day: FieldDay, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    token = issue_token("e2e-leader", Role.LEADER, DISTRICT)
    problems: list[str] = []
    wait_for(  # reporting has counted the whole field day
        lambda: get(system, "/reports/service", area_id=COMMUNITY).json()["area"]["turnouts"],
        lambda turnouts: turnouts == 4,
        timeout=30,
    )

    def shown(page: Any, selector: str) -> dict[str, float]:
        cells = page.locator(f"{selector} [data-measure]")
        return {
            cells.nth(i).get_attribute("data-measure"): float(
                cells.nth(i).locator(".value").text_content()
                if selector == "#totals"
                else cells.nth(i).text_content()
            )
            for i in range(cells.count())
        }

    def from_api(area_id: str, child: str | None = None) -> dict[str, float]:
        service = get(system, "/reports/service", area_id=area_id).json()
        volunteers = get(system, "/reports/volunteers", area_id=area_id).json()
        pick = (lambda rows: next(r for r in rows if r["area_id"] == child)) if child else None
        s = pick(service["children"]) if pick else service["area"]
        v = pick(volunteers["children"]) if pick else volunteers["area"]
        return {
            "registered": v["registered"], "activities": s["activities"], "turnouts": s["turnouts"],
            "hours": round(s["hours"], 2), "beneficiaries": s["beneficiaries"],
        }  # fmt: skip

    with sync_playwright() as playwright:
        browser = _browser(playwright, tmp_path)
        try:
            page = _page(browser, problems)
            page.goto(f"{system.urls['reporting']}/dashboard/?token={token}")
            page.wait_for_selector(f'body[data-ready="{DISTRICT}"]', timeout=15000)
            assert "token=" not in page.url  # taken out of the address bar
            assert shown(page, "#totals") == from_api(DISTRICT)
            assert page.locator("h1").text_content() == "志愿服务数据看板"

            # District → street → community, each showing the API's figures.
            page.click(f'#children tr[data-area-id="{STREET}"] a.drill')
            page.wait_for_selector(f'body[data-ready="{STREET}"]', timeout=15000)
            assert shown(page, "#totals") == from_api(STREET)
            row = f'#children tr[data-area-id="{COMMUNITY}"]'
            assert shown(page, row) == from_api(STREET, child=COMMUNITY)
            page.click(f"{row} a.drill")
            page.wait_for_selector(f'body[data-ready="{COMMUNITY}"]', timeout=15000)
            community = shown(page, "#totals")
            assert community == from_api(COMMUNITY)
            assert community["turnouts"] == 4
            with page.expect_download() as download:  # the table as the API exports it
                page.click("#export-xlsx")
            saved = tmp_path / download.value.suggested_filename
            download.value.save_as(saved)
            assert saved.name == f"muster-service-{COMMUNITY}.xlsx"
            sheet = load_workbook(saved).active
            assert sheet is not None
            header, *rows = list(sheet.iter_rows(values_only=True))
            assert rows[-1][header.index(COLUMN_LABELS["turnouts"])] == 4  # the area's total row
            crumbs = page.locator("#breadcrumb [data-area-id]")
            assert [crumbs.nth(i).get_attribute("data-area-id") for i in range(3)] == [
                DISTRICT, STREET, COMMUNITY,
            ]  # fmt: skip

            # Every chart drew something: a flat, blank canvas has no spread of grey levels.
            # (Not the funnel: the drive was launched for the street, so the community's is
            # empty; the next test checks it draws at the street.)
            for chart in ("series", "beneficiaries", "categories"):
                element = page.locator(f"#chart-{chart}")
                assert element.locator("canvas").count() == 1, chart
                assert _pixel_spread(element.screenshot()) > 10, f"{chart} chart is blank"
            assert page.locator("#chart-funnel").get_attribute("data-empty") == "true"

            page.click("#lang-toggle")
            assert page.locator("h1").text_content() == "Volunteer service dashboard"
            assert "Turn-outs" in (page.locator("#children thead").text_content() or "")
            assert (
                page.locator("#totals [data-measure=hours] .label").text_content()
                == "Service hours"
            )
            page.click("#lang-toggle")
            assert page.locator("h1").text_content() == "志愿服务数据看板"

            # Back up through the breadcrumb.
            page.click(f'#breadcrumb a[data-area-id="{DISTRICT}"]')
            page.wait_for_selector(f'body[data-ready="{DISTRICT}"]', timeout=15000)
            assert page.locator("#breadcrumb [data-area-id]").count() == 1
        finally:
            browser.close()
    assert problems == [], problems


# A street where no drive was launched: its funnel is empty.
STREET_WITHOUT_DRIVES = "130203002"
# What the page draws, read from ECharts' scene: each text with its box on the canvas, and
# each value axis's ticks.
SCENE = """(id) => {
  const chart = echarts.getInstanceByDom(document.getElementById(id));
  const texts = chart.getZr().storage.getDisplayList(true)
    .filter((el) => el.style && typeof el.style.text === "string" && el.style.text !== "")
    .map((el) => {
      const box = el.getBoundingRect().clone();
      el.updateTransform();
      if (el.transform) box.applyTransform(el.transform);
      return { text: el.style.text, left: box.x, right: box.x + box.width };
    });
  const model = chart.getModel();
  const ticks = ["xAxis", "yAxis"].flatMap((kind) => model.findComponents({ mainType: kind })
    .filter((axis) => axis.axis.type === "value")
    .map((axis) => ({ name: axis.get("name"), values: axis.axis.scale.getTicks().map((t) => t.value) })));
  const option = chart.getOption();
  const axisOf = (s) => ((option.yAxis ?? [])[s.yAxisIndex ?? 0] ?? {}).name;
  return { width: chart.getWidth(), texts, ticks,
           series: option.series.map((s) => ({ name: s.name, axis: axisOf(s), index: s.yAxisIndex ?? 0 })) };
}"""


def _every_label_fits(page: Any) -> None:
    """No chart cuts a label off: each lies inside its canvas, none ends in an ellipsis."""
    for chart in ("chart-series", "chart-beneficiaries", "chart-categories", "chart-funnel"):
        scene = page.evaluate(SCENE, chart)
        for text in scene["texts"]:
            assert not text["text"].endswith(("...", "…")), (chart, text)
            assert text["left"] >= 0, (chart, text)
            assert text["right"] <= scene["width"], (chart, text, scene["width"])


def _coloured_share(png: bytes) -> float:
    """The share of strongly coloured pixels: bars and slices, not text, grid or ground."""
    _, saturation, value = Image.open(io.BytesIO(png)).convert("RGB").convert("HSV").split()
    strong = ImageChops.multiply(
        saturation.point(lambda s: 255 if s > 80 else 0),
        value.point(lambda v: 255 if v > 80 else 0),
    )
    return strong.histogram()[255] / (strong.width * strong.height)


@needs_chromium
def test_the_dashboard_opened_at_a_street_leads_back_up_and_draws_what_it_counts(
    system: RunningSystem, field_day: FieldDay, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    token = issue_token("e2e-leader", Role.LEADER, DISTRICT)
    problems: list[str] = []
    wait_for(  # the field day's drive shows in its street's funnel
        lambda: get(system, "/reports/funnel", area_id=STREET).json(),
        lambda body: funnel_counts(body) == field_day.funnel,
        timeout=30,
    )
    street = get(system, "/reports/service", area_id=STREET_WITHOUT_DRIVES).json()["area"]
    district = get(system, "/reports/service", area_id=DISTRICT).json()["area"]
    with sync_playwright() as playwright:
        browser = _browser(playwright, tmp_path)
        try:
            page = _page(browser, problems)
            # A deep link, in English: the breadcrumb holds the whole path from the
            # leader's district down.
            page.goto(
                f"{system.urls['reporting']}/dashboard/?token={token}&lang=en"
                f"#{STREET_WITHOUT_DRIVES}"
            )
            page.wait_for_selector(f'body[data-ready="{STREET_WITHOUT_DRIVES}"]', timeout=15000)
            crumbs = page.locator("#breadcrumb [data-area-id]")
            assert [
                (crumbs.nth(i).get_attribute("data-area-id"), crumbs.nth(i).text_content())
                for i in range(crumbs.count())
            ] == [(DISTRICT, district["name"]), (STREET_WITHOUT_DRIVES, street["name"])]

            # Its funnel: whose it is and why it is empty, in words; and no bars.
            note = page.locator("#funnel-note").text_content() or ""
            assert street["name"] in note, note
            assert "empty" in note, note
            funnel = page.locator("#chart-funnel").screenshot()
            assert _coloured_share(funnel) < 0.001, "an empty funnel draws bars"

            # Counts of people tick in whole numbers; each series of the time chart has
            # an axis named for it.
            for chart in ("chart-categories", "chart-series"):
                scene = page.evaluate(SCENE, chart)
                for axis in scene["ticks"]:
                    if axis["name"] in ("Service hours",):
                        continue
                    assert all(float(v).is_integer() for v in axis["values"]), (chart, axis)
            series = page.evaluate(SCENE, "chart-series")["series"]
            assert [s["axis"] for s in series] == [s["name"] for s in series], series
            assert len({s["index"] for s in series}) == len(series), series

            # The English category names are drawn whole, inside the chart.
            scene = page.evaluate(SCENE, "chart-categories")
            names = ["Party members", "In-service party members", "Residents", "Students",
                     "Company staff"]  # fmt: skip
            drawn = {t["text"]: t for t in scene["texts"]}
            for name in names:
                assert name in drawn, (name, sorted(drawn))
                assert drawn[name]["left"] >= 0, (name, drawn[name])
                assert drawn[name]["right"] <= scene["width"], (name, drawn[name], scene["width"])
            _every_label_fits(page)

            # Up to the district through the breadcrumb, then down to the street whose
            # drive it is: its funnel draws, as wide as its largest stage.
            page.click(f'#breadcrumb a[data-area-id="{DISTRICT}"]')
            page.wait_for_selector(f'body[data-ready="{DISTRICT}"]', timeout=15000)
            assert page.locator("#breadcrumb [data-area-id]").count() == 1
            page.click(f'#children tr[data-area-id="{STREET}"] a.drill')
            page.wait_for_selector(f'body[data-ready="{STREET}"]', timeout=15000)
            assert "empty" not in (page.locator("#funnel-note").text_content() or "")
            assert _coloured_share(page.locator("#chart-funnel").screenshot()) > 0.02
            _every_label_fits(page)  # in English, with slices and bars drawn
        finally:
            browser.close()
    assert problems == [], problems


def test_every_message_the_services_wrote_matches_the_asyncapi_document(
    system: RunningSystem, field_day: FieldDay
) -> None:
    """Each record read back from the system's topics (the field day's events, relayed by
    the services, and a revocation) validates against the AsyncAPI document's message for
    its `event-type` header: headers and payload."""
    admin = {"Authorization": f"Bearer {issue_token('admin-contract', Role.ADMIN, DISTRICT)}"}
    revoked = httpx.post(
        f"{system.urls['volunteer']}/admin/token-revocations",
        json={"token_id": f"contract-{field_day.drive_id}"},
        headers=admin,
        timeout=10,
    )
    assert revoked.status_code == 201, revoked.text
    topics = [event_topic(system.topic_prefix, c) for c in ("volunteer", "dispatch")]
    records = asyncio.run(_read_to_the_end([*topics, revocation_topic(system.topic_prefix)]))

    seen: Counter[str] = Counter()
    for record in records:
        headers = {name: value.decode() for name, value in record.headers}
        event_type = headers.get("event-type", "")
        assert event_type, f"a record on {record.topic} without an event-type header: {headers}"
        contract_validator(event_type, "headers").validate(headers)
        contract_validator(event_type, "payload").validate(orjson.loads(record.value))
        seen[event_type] += 1
    assert seen["access.token_revoked"] >= 1
    assert {"volunteer.registered", "drive.launched", "attendance.checked_in"} <= set(seen)
    # Traced like every other record: the revocation continues the admin request's trace.
    revocation = next(r for r in records if r.topic.endswith(".access.revocations"))
    assert "traceparent" in dict(revocation.headers)


async def _read_to_the_end(topics: list[str]) -> list[Any]:
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=kafka_bootstrap(), auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[Any] = []
    try:
        ends: dict[TopicPartition, int] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                records.extend(batch)
            assignment = consumer.assignment()
            if len(assignment) and not ends:
                ends = await consumer.end_offsets(list(assignment))
            if ends and all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                return records
        raise AssertionError(f"could not read {topics} to their end within 60 s")
    finally:
        await consumer.stop()
