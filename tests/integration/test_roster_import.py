"""Importing a roster on the real store: the preview registers nobody, the import registers
the ready rows, and uploading the same file again registers nobody twice."""

from __future__ import annotations

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_runtime.mongo import Database
from muster_volunteer.adapters.personal_data import IdentityClaims
from muster_volunteer.application.roster_import import ImportProgress, RosterImport
from tests.integration.test_volunteer_logins import ORGANISER, PEPPER, Desk

AREAS = load_area_tree()
STREET = "130203001"
BUILDINGS = [a.id for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith(STREET)]


def roster(rows: int) -> list[list[str]]:
    table = [["姓名", "手机", "楼栋", "类别"]]
    for n in range(rows):
        table.append([f"志愿者{n}", f"1390000{n:04d}", BUILDINGS[n % len(BUILDINGS)], "居民"])
    table.append(["坏行", "12345", BUILDINGS[0], "居民"])  # a bad phone
    return table


async def run(rosters: RosterImport, table: list[list[str]]) -> list[ImportProgress]:
    return [report async for report in rosters.register(table, STREET, ORGANISER)]


async def test_preview_then_import_then_the_same_file_again(db: Database) -> None:
    desk = Desk(db)
    await desk.store.create_indexes()
    rosters = RosterImport(desk.registry, IdentityClaims(db, PEPPER, "phone_claims"), AREAS)
    already = await desk.register("13900000003")  # registered by other means
    table = roster(120)

    preview = await rosters.preview(table, STREET)
    statuses = [row.errors[0].code.value if row.errors else "ready" for row in preview.rows]
    assert statuses.count("ready") == 119
    assert statuses[3] == "already_registered"
    assert statuses[-1] == "invalid"
    assert not (await desk.registry.load(rosters.volunteer_id("13900000000"))).exists

    first = await run(rosters, table)
    second = await run(rosters, table)

    for reports in (first, second):
        assert [r.done for r in reports] == sorted(r.done for r in reports)  # progress grows
        assert reports[-1].done == reports[-1].of == 121
        assert reports[-1].outcomes is not None
    outcomes = first[-1].outcomes
    assert outcomes is not None
    assert [o.outcome for o in outcomes].count("registered") == 119
    assert outcomes[3].outcome == "already_registered"
    assert outcomes[-1].outcome == "refused"
    again = second[-1].outcomes
    assert again is not None
    assert [o.outcome for o in again].count("registered") == 0
    assert [o.outcome for o in again].count("already_registered") == 120
    # Each registered row is a volunteer with the row's data, once.
    record = await desk.registry.get(rosters.volunteer_id("13900000007"))
    assert (record.personal.name, record.registered.home_area_id) == ("志愿者7", BUILDINGS[7])
    assert (await desk.registry.load(already)).exists
    stream = await desk.store.read_stream(f"volunteer-{outcomes[0].volunteer_id}")
    assert [e.type for e in stream.events] == ["volunteer.registered"]
