"""The demo, the report printout and the register→report benchmark, over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from muster_auth.dev_tokens import issue_token
from muster_cli.sample import SampleVolunteers
from muster_contracts.envelope import Role

DISTRICT = "130203"
# Wide enough for the report table when piped (CI logs, `make demo | tee`).
console = Console(width=None if Console().is_terminal else 120)


def service_url(name: str, default_port: int) -> str:
    port = os.environ.get(f"MUSTER_{name.upper()}_PORT", str(default_port))
    return os.environ.get(f"MUSTER_{name.upper()}_URL", f"http://127.0.0.1:{port}")


def _auth(subject: str, role: Role, area: str = DISTRICT) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(subject, role, area)}"}


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    )  # fmt: skip


async def register_batch(count: int, concurrency: int, seed: int = 7) -> list[dict[str, Any]]:
    """Volunteers register themselves, each with their own account (a volunteer token).

    Each result carries the `headers` that act as that volunteer afterwards.
    """
    sample = SampleVolunteers(seed)
    forms = [sample.draw() for _ in range(count)]
    results: list[dict[str, Any]] = []
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=service_url("volunteer", 8001), timeout=30) as client:
        with _progress() as progress:
            task = progress.add_task("registering volunteers", total=count)

            async def one(form: dict[str, Any]) -> None:
                # One account per phone across runs, named without the number itself.
                digest = hashlib.sha256(form["phone"].encode()).hexdigest()[:16]
                account = _auth(f"resident-{digest}", Role.VOLUNTEER)
                async with limit:
                    headers = account | {"Idempotency-Key": str(uuid.uuid4())}
                    response = await client.post("/volunteers", json=form, headers=headers)
                progress.advance(task)
                if response.status_code == 409:
                    return  # this phone number registered in an earlier run
                response.raise_for_status()
                login = f"resident-{digest}"
                results.append(response.json() | {"headers": account, "login": login})

            await asyncio.gather(*(one(f) for f in forms))
    return results


async def fetch_report(area_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=service_url("reporting", 8003), timeout=10) as client:
        response = await client.get(
            "/reports/volunteers",
            params={"area_id": area_id},
            headers=_auth("demo-leader", Role.LEADER),
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


def render_report(report: dict[str, Any]) -> Table:
    area = report["area"]
    categories = ["party_member", "in_service_party_member", "resident", "student", "company_staff"]
    table = Table(
        title=f"Registered volunteers — {area['name']} ({area['area_id']})", show_footer=True
    )
    table.add_column("area", footer="total", no_wrap=True)
    table.add_column("id", style="dim", no_wrap=True)
    table.add_column("registered", justify="right", footer=str(area["registered"]))
    for c in categories:
        header = c.replace("_party_member", "").replace("_", " ")
        table.add_column(header, justify="right", footer=str(area["by_category"].get(c, 0)))
    table.add_column("", footer="", no_wrap=True)
    top = max((row["registered"] for row in report["children"]), default=0) or 1
    for row in sorted(report["children"], key=lambda r: -r["registered"]):
        bar = "█" * round(20 * row["registered"] / top)
        table.add_row(
            row["name"],
            row["area_id"],
            str(row["registered"]),
            *(str(row["by_category"].get(c, 0)) for c in categories),
            f"[green]{bar}[/green]",
        )
    return table


async def print_report(area_id: str) -> int:
    console.print(render_report(await fetch_report(area_id)))
    return 0


async def run_demo(count: int, concurrency: int) -> int:
    before = (await fetch_report(DISTRICT))["area"]["registered"]
    started = time.perf_counter()
    registered = await register_batch(count, concurrency, seed=int(time.time()))
    elapsed = time.perf_counter() - started
    console.print(
        f"registered {len(registered)} volunteers in {elapsed:.1f} s ({len(registered) / elapsed:.0f}/s)"
    )
    deadline = time.monotonic() + 10
    while (await fetch_report(DISTRICT))["area"][
        "registered"
    ] < before + count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await print_report(DISTRICT)
    first = registered[0]
    street = first["home_area_id"][:9]
    console.print(
        f"\ndrill-down into the street of {first['name']} ({' › '.join(first['home_area'])}):"
    )
    await print_report(street)
    teams = await run_drive(registered, places=max(10, count // 4), concurrency=concurrency)
    await run_field_day(registered, teams)
    if teams:
        await print_funnel(teams[0]["drive_id"])
        await print_notifications(teams[0]["drive_id"], registered[0])
    console.print("\n[bold]where to look[/bold]")
    leader_token = issue_token("demo-leader", Role.LEADER, DISTRICT)
    console.print(f"  dashboard  {service_url('reporting', 8003)}/dashboard/?token={leader_token}")
    # The local stack runs the volunteer page with its development sign-in.
    pages = service_url("pages", 8005)
    person = registered[0]
    console.print(
        f"  volunteer page  {pages}/   signed in as {person['name']}: "
        f"{pages}/sign-in/dev?subject={person['login']}&next=/"
    )
    console.print(
        f"  organisers' console  {pages}/console   signed in as demo-organiser of {DISTRICT}: "
        f"{pages}/sign-in/dev?subject=demo-organiser&role=organiser&area={DISTRICT}&next=/console"
    )
    for name, port in (
        ("volunteer", 8001),
        ("dispatch", 8002),
        ("reporting", 8003),
        ("notify", 8004),
    ):
        url = service_url(name, port)
        console.print(f"  {name:<10} API {url}/docs   metrics {url}/metrics   ready {url}/readyz")
    console.print("  tokens: .venv/bin/muster token --subject <you> --role leader --area 130203")
    console.print("  logs:   make logs C=volunteer   (JSON lines with trace_id and correlation_id)")
    show_a_check_in_trace()
    return 0


def show_a_check_in_trace() -> None:
    """The newest check-in's trace, if the services write spans to files (the local stack)."""
    from muster_cli import traces

    directory = traces.default_trace_dir()
    files = traces.trace_files(directory)
    if not files:
        return
    time.sleep(1.0)  # the exporters write every half second
    checked_in = [
        t
        for t in traces.summaries(traces.load_spans(files), "/check-in")
        if len(t.services) > 1 and t.root["attributes"].get("http.status_code") == 200
    ]
    if not checked_in:
        return
    console.print(
        f"\n[bold]one check-in across the services[/bold] "
        f"(.venv/bin/muster trace {checked_in[-1].trace_id[:12]}; muster traces --match check-in)"
    )
    console.print(traces.trace_table(checked_in[-1].spans))


async def print_funnel(drive_id: str) -> None:
    """The drive's funnel as reporting counts it, once its approved hours have arrived."""
    funnel: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=service_url("reporting", 8003), timeout=10) as reporting:
        for _ in range(100):
            funnel = (
                await reporting.get(
                    "/reports/funnel",
                    params={"drive_id": drive_id},
                    headers=_auth("demo-leader", Role.LEADER),
                )
            ).json()
            counts = [s["count"] for s in funnel.get("stages", [])]
            if counts and 0 < counts[-2] <= counts[-1]:  # every check-in's hours arrived
                break
            await asyncio.sleep(0.1)
    table = Table(title=f"Drive funnel — {drive_id}")
    for column in ("stage", "volunteers", "from the stage before"):
        table.add_column(column, justify="right")
    for stage in funnel.get("stages", []):
        rate = "" if stage["rate"] is None else f"{stage['rate']:.0%}"
        table.add_row(stage["stage"].replace("_", " "), str(stage["count"]), rate)
    console.print(table)


async def print_notifications(drive_id: str, person: dict[str, Any]) -> None:
    """The drive's broadcast as notify counts it, and one volunteer's inbox."""
    organiser = _auth("demo-organiser", Role.ORGANISER)
    async with httpx.AsyncClient(base_url=service_url("notify", 8004), timeout=30) as notify:
        told: dict[str, Any] = {}
        for _ in range(300):  # until the broadcast has walked the whole district
            answer = await notify.get(f"/drives/{drive_id}/notifications", headers=organiser)
            told = answer.json() if answer.status_code == 200 else {}
            if (told.get("broadcast") or {}).get("finished"):
                break
            await asyncio.sleep(0.2)
        console.print(f"\n[bold]notifications of drive {drive_id}[/bold]: {told.get('told', {})}")
        inbox = await notify.get("/me/notifications", headers=person["headers"])
    if inbox.status_code != 200:
        console.print(f"  inbox of {person['name']}: {inbox.status_code} {inbox.text[:200]}")
        return
    table = Table(title=f"inbox of {person['name']} ({inbox.json()['unread']} unread)")
    for column in ("#", "kind", "title", "body"):
        table.add_column(column)
    for message in inbox.json()["messages"]:
        table.add_row(str(message["position"]), message["kind"], message["title"], message["body"])
    console.print(table)


async def run_drive(
    volunteers: list[dict[str, Any]], places: int, concurrency: int
) -> list[dict[str, Any]]:
    """An organiser launches a drive; everyone signs up at once; teams are formed."""
    organiser = _auth("demo-organiser", Role.ORGANISER)
    now = datetime.now(UTC)
    form = {
        "title": "周末奉献日：老旧小区楼道清理",
        "scope_area_id": DISTRICT,
        "category": "environment",
        "roles": [
            {"role_id": "general", "skill": "general", "headcount": places - places // 5},
            {"role_id": "first-aid", "skill": "first_aid", "headcount": places // 5},
        ],
        "signup_closes_at": (now + timedelta(hours=6)).isoformat(),
        "activity_starts_at": (now + timedelta(days=2)).isoformat(),
        "activity_ends_at": (now + timedelta(days=2, hours=3)).isoformat(),
        "team_size_min": 4,
        "team_size_max": 8,
    }
    async with (
        httpx.AsyncClient(base_url=service_url("dispatch", 8002), timeout=30) as dispatch,
        httpx.AsyncClient(base_url=service_url("volunteer", 8001), timeout=30) as volunteer,
    ):
        launched = await dispatch.post("/drives", json=form, headers=organiser)
        launched.raise_for_status()
        drive_id = launched.json()["drive_id"]
        console.print(f"\n[bold]drive {drive_id}[/bold] launched: {form['title']}, {places} places")
        # Until the volunteer service has seen this drive (its board may list earlier ones).
        for _ in range(300):
            board = await volunteer.get("/drives", headers=volunteers[0]["headers"])
            if any(d["drive_id"] == drive_id for d in board.json()["drives"]):
                break
            await asyncio.sleep(0.1)
        else:
            raise SystemExit(f"the volunteer service has not seen drive {drive_id} in 30 s")
        limit = asyncio.Semaphore(concurrency)
        with _progress() as progress:
            task = progress.add_task("signing up", total=len(volunteers))

            async def sign_up(person: dict[str, Any]) -> None:
                role = "first-aid" if "first_aid" in person["skills"] else "general"
                headers = person["headers"] | {"Idempotency-Key": str(uuid.uuid4())}
                async with limit:
                    response = await volunteer.post(
                        f"/drives/{drive_id}/sign-ups", json={"role_id": role}, headers=headers
                    )
                response.raise_for_status()
                progress.advance(task)

            await asyncio.gather(*(sign_up(p) for p in volunteers))
        drive: dict[str, Any] = {}
        for _ in range(300):  # until dispatch has decided every sign-up
            drive = (await dispatch.get(f"/drives/{drive_id}", headers=organiser)).json()
            if drive["funnel"]["submitted"] >= len(volunteers):
                break
            await asyncio.sleep(0.2)
        formed = await dispatch.post(f"/drives/{drive_id}/teams", headers=organiser)
        formed.raise_for_status()
        drive = formed.json()
        teams = (await dispatch.get(f"/drives/{drive_id}/teams", headers=organiser)).json()["teams"]
    funnel = Table(title="sign-ups by role")
    for column in ("role", "head-count", "accepted", "waitlisted"):
        funnel.add_column(column, justify="right")
    for role in drive["roles"]:
        funnel.add_row(
            role["role_id"], str(role["headcount"]), str(role["accepted"]), str(role["waitlisted"])
        )
    console.print(funnel)
    console.print(f"funnel: {drive['funnel']}")
    formed_table = Table(
        title=f"{len(teams)} teams formed (members near each other, a leader each)"
    )
    for column in ("team", "members", "leader", "grid", "community"):
        formed_table.add_column(column)
    for team in teams:
        formed_table.add_row(
            team["team_id"], str(len(team["members"])), team["leader_id"][:8],
            team["grid_id"] or "-", team["community_id"] or "-",
        )  # fmt: skip
    console.print(formed_table)
    return [t | {"drive_id": drive_id} for t in teams]


async def run_field_day(volunteers: list[dict[str, Any]], teams: list[dict[str, Any]]) -> None:
    """Each team serves one activity: check-ins on site, beneficiaries, approval of hours."""
    organiser = _auth("demo-organiser", Role.ORGANISER)
    by_id = {v["volunteer_id"]: v for v in volunteers}
    now = datetime.now(UTC)
    started = now - timedelta(hours=3)
    ends = now + timedelta(seconds=20)
    groups = ("elderly", "children", "disabled", "low_income", "outdoor_workers", "residents")
    leader = _auth("demo-leader", Role.LEADER)
    async with httpx.AsyncClient(base_url=service_url("reporting", 8003), timeout=10) as reporting:
        params = {"area_id": DISTRICT}
        before = (await reporting.get("/reports/service", params=params, headers=leader)).json()
    turnouts_before = before["area"]["turnouts"]
    async with (
        httpx.AsyncClient(base_url=service_url("dispatch", 8002), timeout=30) as dispatch,
        httpx.AsyncClient(base_url=service_url("volunteer", 8001), timeout=30) as volunteer,
    ):
        activities = []
        for n, team in enumerate(teams):
            scheduled = await dispatch.post(
                "/activities",
                json={
                    "drive_id": team["drive_id"],
                    "team_id": team["team_id"],
                    "title": f"{team['team_id']} 楼道清理",
                    "place_area_id": team["community_id"] or DISTRICT,
                    "category": "environment",
                    "starts_at": started.isoformat(),
                    "ends_at": ends.isoformat(),
                    "capacity": len(team["members"]) + 5,
                    "assigned_volunteer_ids": team["members"],
                },
                headers=organiser,
            )
            scheduled.raise_for_status()
            activity_id = scheduled.json()["activity_id"]
            activities.append((activity_id, team))
            code = (
                await dispatch.get(f"/activities/{activity_id}/check-in-code", headers=organiser)
            ).json()["code"]
            for member in team["members"]:
                headers = by_id[member]["headers"]
                for _ in range(50):  # until the volunteer service knows the activity
                    response = await volunteer.post(
                        f"/activities/{activity_id}/check-in", json={"code": code}, headers=headers
                    )
                    if response.status_code != 404:
                        break
                    await asyncio.sleep(0.1)
                await volunteer.post(f"/activities/{activity_id}/check-out", headers=headers)
                # The paper sign-in sheet (补签): the real times of a morning's service.
                served = timedelta(minutes=60 + 15 * ((n + len(member)) % 8))
                await dispatch.post(
                    f"/activities/{activity_id}/attendances/{member}/correct",
                    json={
                        "check_in_at": started.isoformat(),
                        "check_out_at": (started + served).isoformat(),
                        "reason": "纸质签到表",
                    },
                    headers=organiser,
                )
            counts = {g: (n * 7 + i * 3) % 11 for i, g in enumerate(groups)}
            await dispatch.post(
                f"/activities/{activity_id}/beneficiaries",
                json={"counts": counts},
                headers=organiser,
            )
        await asyncio.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds() + 0.5))
        approved_at = time.perf_counter()
        for activity_id, _ in activities:
            for _ in range(100):  # until dispatch has every check-out
                response = await dispatch.post(
                    f"/activities/{activity_id}/approve", headers=organiser
                )
                if response.status_code == 200:
                    break
                await asyncio.sleep(0.2)
        member = teams[0]["members"][0]
        record: dict[str, Any] = {}
        for _ in range(200):
            record = (
                await volunteer.get("/me/service-record", headers=by_id[member]["headers"])
            ).json()
            if record["records"]:
                break
            await asyncio.sleep(0.05)
        visible_ms = (time.perf_counter() - approved_at) * 1000
    console.print(
        f"\n{len(activities)} activities held; approval → service record visible to the volunteer "
        f"in {visible_ms:.0f} ms; {by_id[member]['name']}: {record['total_hours']} h, {record['stars']} stars"
    )
    async with httpx.AsyncClient(base_url=service_url("reporting", 8003), timeout=10) as reporting:
        report: dict[str, Any] = {}
        for _ in range(100):
            report = (
                await reporting.get(
                    "/reports/service", params={"area_id": DISTRICT}, headers=leader
                )
            ).json()
            if report["area"]["turnouts"] >= turnouts_before + sum(
                len(t["members"]) for t in teams
            ):
                break
            await asyncio.sleep(0.1)
    table = Table(
        title="Service by street — activities held (approved) and not held yet, turn-outs "
        "(人次), approved hours, beneficiaries of activities held"
    )
    for column in ("street", "held", "not held yet", "turn-outs", "hours", "beneficiaries"):
        table.add_column(column, justify="right")
    area = report["area"]
    rows = [(row["name"], row) for row in report["children"]]
    for name, row in [*rows, ("[bold]路北区[/bold]", area)]:
        if row is area or row["activities"] or row["activities_scheduled"] or row["turnouts"]:
            table.add_row(
                name,
                str(row["activities"]),
                str(row["activities_scheduled"]),
                str(row["turnouts"]),
                f"{row['hours']:.1f}",
                str(row["beneficiaries"]),
            )
    console.print(table)
    console.print(
        f"hours statement of {by_id[member]['name']}: {service_url('volunteer', 8001)}/me/hours-statement?format=html (with their token)"
    )


async def run_bench(count: int, concurrency: int) -> int:
    """Latency from a registration's 201 until the district report counts it."""
    sample = SampleVolunteers(seed=int(time.time()))
    organiser = _auth("bench-organiser", Role.ORGANISER)
    leader = _auth("bench-leader", Role.LEADER)
    latencies: list[float] = []
    limit = asyncio.Semaphore(concurrency)
    async with (
        httpx.AsyncClient(base_url=service_url("volunteer", 8001), timeout=30) as volunteers,
        httpx.AsyncClient(base_url=service_url("reporting", 8003), timeout=30) as reports,
    ):
        with _progress() as progress:
            task = progress.add_task("register → report", total=count)

            async def one() -> None:
                async with limit:
                    # Each volunteer in its own building cell would need 6000 buildings;
                    # instead watch the building's count rise past its value before.
                    form = sample.draw()
                    building = form["home_area_id"]
                    params = {"area_id": building}
                    before = (
                        await reports.get("/reports/volunteers", params=params, headers=leader)
                    ).json()
                    seen = before["area"]["registered"]
                    response = await volunteers.post("/volunteers", json=form, headers=organiser)
                    response.raise_for_status()
                    accepted = time.perf_counter()
                    while True:
                        now = (
                            await reports.get("/reports/volunteers", params=params, headers=leader)
                        ).json()
                        if now["area"]["registered"] > seen:
                            break
                        await asyncio.sleep(0.005)
                    latencies.append(time.perf_counter() - accepted)
                    progress.advance(task)

            await asyncio.gather(*(one() for _ in range(count)))
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    table = Table(
        title=f"register → report latency over {count} registrations (concurrency {concurrency})"
    )
    for col in ("p50", "p90", "p99", "max", "mean"):
        table.add_column(col, justify="right")
    quantiles = statistics.quantiles(ms, n=100)
    table.add_row(
        *(
            f"{v:.0f} ms"
            for v in (quantiles[49], quantiles[89], quantiles[98], ms[-1], statistics.mean(ms))
        )
    )
    console.print(table)
    return 0
