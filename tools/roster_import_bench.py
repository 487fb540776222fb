"""A roster import of many rows, on a store of your choosing (a database of its own,
dropped after; no Kafka): the volunteer service's roster import as the service wires it,
in one process.

    python -m tools.roster_import_bench [ROWS] [--url mongodb://127.0.0.1:27017/]

It writes a CSV of ROWS (default 10,000) sample volunteers of one street, a few rows
broken on purpose, then times reading it, the preview, the import (with a progress bar)
and the same file imported again, and prints rows per second for each.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from muster_auth.keys import LocalKeyFile
from muster_cli.sample import SampleVolunteers
from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Actor, Role
from muster_runtime.adapters.mongodb.event_store import MongoEventStore
from muster_runtime.mongo import scratch_database
from muster_runtime.ports.event_store import CommandContext
from muster_volunteer.adapters.logins import InvitationCodes, LoginLinks
from muster_volunteer.adapters.personal_data import IdentityClaims, PersonalDataVault
from muster_volunteer.adapters.roster_files import CSV, read_table
from muster_volunteer.application.registration import VolunteerRegistry
from muster_volunteer.application.roster_import import RosterImport

STREET = "130203001"
PEPPER = b"bench-pepper"


def roster_csv(rows: int) -> bytes:
    areas = load_area_tree()
    buildings = [a.id for a in areas.at_level(AreaLevel.BUILDING) if a.id.startswith(STREET)]
    sample = SampleVolunteers(seed=2026)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["姓名", "手机", "楼栋", "类别", "工作单位"])
    for n in range(rows):
        form = sample.draw(buildings[n % len(buildings)])
        phone = "12345" if n % 500 == 499 else form["phone"]  # a few bad phones
        writer.writerow(
            [
                form["name"],
                phone,
                form["home_area_id"],
                ";".join(form["categories"]),
                form.get("employer_unit") or "",
            ]
        )
    return out.getvalue().encode("utf-8")


async def bench(rows: int, url: str) -> None:
    console = Console()
    content = roster_csv(rows)
    context = CommandContext(Actor(subject="bench-organiser", role=Role.ORGANISER))
    async with scratch_database(url, "roster_bench") as db:
        store = MongoEventStore(db)
        await store.create_indexes()
        key_file = Path(tempfile.mkdtemp(prefix="muster-kek-")) / "kek.json"
        LocalKeyFile.create(key_file)
        areas = load_area_tree()
        phones = IdentityClaims(db, PEPPER, "phone_claims")
        registry = VolunteerRegistry(
            store,
            PersonalDataVault(db, LocalKeyFile(key_file)),
            phones,
            areas,
            LoginLinks(db),
            IdentityClaims(db, PEPPER, "id_number_claims"),
            InvitationCodes(db, PEPPER),
        )
        rosters = RosterImport(registry, phones, areas)
        timings: list[tuple[str, float, str]] = []

        started = time.perf_counter()
        table = read_table(content, CSV)
        timings.append(("read the CSV", time.perf_counter() - started, f"{len(content):,} bytes"))

        started = time.perf_counter()
        preview = await rosters.preview(table, STREET)
        ready = sum(1 for row in preview.rows if not row.errors)
        timings.append(("preview", time.perf_counter() - started, f"{ready:,} ready"))

        for label in ("import", "import the same file again"):
            started = time.perf_counter()
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task(label, total=rows)
                async for report in rosters.register(table, STREET, context):
                    bar.update(task, completed=report.done)
                    outcomes = report.outcomes
            assert outcomes is not None
            registered = sum(o.outcome == "registered" for o in outcomes)
            timings.append((label, time.perf_counter() - started, f"{registered:,} registered"))

    result = Table(title=f"Roster import, {rows:,} rows ({url})")
    for column in ("step", "seconds", "rows/s", "outcome"):
        result.add_column(column, justify="right" if column != "step" else "left")
    for step, seconds, outcome in timings:
        result.add_row(step, f"{seconds:.1f}", f"{rows / seconds:,.0f}", outcome)
    console.print(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="?", type=int, default=10_000)
    parser.add_argument("--url", default="mongodb://127.0.0.1:27017/")
    args = parser.parse_args()
    asyncio.run(bench(args.rows, args.url))


if __name__ == "__main__":
    main()
