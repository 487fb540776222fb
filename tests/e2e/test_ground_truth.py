"""Ground truth no rule change can fool: a district generated from a seed and driven only
through the public HTTP API (`ground_truth.district`), every report figure computed from the
rules as written by this test's own code (`ground_truth.rules`), compared exactly at every
level of the area hierarchy with data, live and again after the read models are rebuilt.

The seed is printed; `MUSTER_GROUND_TRUTH_SEED=<n>` replays a run (`random`: a fresh one).
The summary line gives the figures compared and matched.
"""

from __future__ import annotations

import ast
import asyncio
import os
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from muster_contracts.envelope import Role
from tests.e2e.conftest import RunningSystem
from tests.e2e.ground_truth import compare as reports
from tests.e2e.ground_truth.district import District, at_local
from tests.e2e.ground_truth.rules import Activity, Attendance, Expected, credited
from tests.e2e.test_register_to_report import auth

DEFAULT_SEED = 1919
SHOWN = 25  # mismatches listed in a failure


def _seed() -> int:
    chosen = os.environ.get("MUSTER_GROUND_TRUTH_SEED", str(DEFAULT_SEED))
    return random.randrange(10**6) if chosen == "random" else int(chosen)


def _tokens(role: str, area: str, subject: str) -> dict[str, str]:
    return auth(Role(role), area=area, subject=subject)


def _settle(system: RunningSystem, expected: Expected, headers: dict[str, str]) -> None:
    """Until the city's all-time row and registrations equal the rules' figures, or stop
    changing for 8 s (a report that disagrees must not cost the whole timeout)."""
    probe = [reports.Query.of("/reports/service", {"area_id": reports.CITY}),
             reports.Query.of("/reports/volunteers", {"area_id": reports.CITY})]  # fmt: skip
    last: Any = None
    since = time.monotonic()
    deadline = since + 60
    while time.monotonic() < deadline:
        answers = asyncio.run(reports.fetch_all(system.urls["reporting"], headers, probe))
        tally = _probe_tally(expected, answers, probe)
        if not tally.mismatches:
            return
        if answers != last:
            last, since = answers, time.monotonic()
        elif time.monotonic() - since > 8:
            return
        time.sleep(0.5)


def _probe_tally(
    expected: Expected, answers: dict[reports.Query, dict[str, Any]], probe: list[reports.Query]
) -> reports.Tally:
    tally = reports.Tally()
    service, volunteers = (answers[q]["area"] for q in probe)
    tally.check("city", expected.service_row(reports.CITY, None, None), service)
    tally.check("city", expected.volunteers_row(reports.CITY), volunteers)
    return tally


def _compare_until_stable(
    system: RunningSystem, expected: Expected, headers: dict[str, str]
) -> reports.Tally:
    """Every report; those that disagree asked again while their answers still change
    (projections catching up)."""
    asks = reports.asks(expected)
    url = system.urls["reporting"]
    answers = asyncio.run(reports.fetch_all(url, headers, [a.query for a in asks]))
    for _ in range(5):
        differing = []
        for ask in asks:
            tally = reports.Tally()
            reports.check(expected, ask, answers[ask.query], tally)
            if tally.mismatches:
                differing.append(ask.query)
        if not differing:
            break
        time.sleep(2)
        again = asyncio.run(reports.fetch_all(url, headers, differing))
        if all(again[q] == answers[q] for q in differing):
            break
        answers |= again
    total = reports.Tally()
    for ask in asks:
        reports.check(expected, ask, answers[ask.query], total)
    return total


def _summary(name: str, tally: reports.Tally) -> str:
    return (
        f"{tally.compared:,} figures compared ({tally.nonzero:,} of them not zero), "
        f"{tally.matched:,} matched ({name})"
    )


def test_every_report_equals_the_rules_computed_independently_and_after_a_rebuild(
    system: RunningSystem,
) -> None:
    seed = _seed()
    print(f"\nground truth: seed {seed} (MUSTER_GROUND_TRUTH_SEED={seed} replays it)")
    started = time.monotonic()
    ledger = asyncio.run(District(system.urls, seed, _tokens).run())
    now = datetime.now(UTC)
    expected = Expected(
        [p.volunteer for p in ledger.people],
        ledger.activities,
        ledger.attendances.values(),
        now,
    )
    print(
        "ground truth: sent "
        + ", ".join(f"{n} {what}" for what, n in ledger.counts.items())
        + f"; {len(expected.records)} service records, {len(expected.turnouts)} turn-outs"
        f" expected; driven in {time.monotonic() - started:.0f} s"
    )
    leader = auth(Role.LEADER, area=reports.CITY, subject=f"gt-leader-{seed}")
    _settle(system, expected, leader)
    live = _compare_until_stable(system, expected, leader)

    system.stop("reporting")
    rebuilt = system.command("reporting", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    system.start("reporting")
    system.wait_ready(["reporting"])
    _settle(system, expected, leader)
    again = _compare_until_stable(system, expected, leader)

    total = reports.Tally(
        live.compared + again.compared, live.nonzero + again.nonzero,
        live.mismatches + again.mismatches, live.by_field + again.by_field,
    )  # fmt: skip
    print(f"ground truth: live: {_summary('reports as served', live)}")
    print(f"ground truth: rebuilt: {_summary('reports after rebuild', again)}")
    if total.mismatches:
        print(f"ground truth: mismatches by figure: {dict(total.by_field.most_common())}")
        for line in total.mismatches[:SHOWN]:
            print(f"  {line}")
    print(
        f"ground truth: {total.compared:,} figures compared, {total.matched:,} matched "
        f"({total.nonzero:,} not zero; seed {seed}, {time.monotonic() - started:.0f} s)"
    )
    assert not total.mismatches, (
        f"seed {seed}: {len(total.mismatches)} of {total.compared} figures differ from the "
        f"rules ({dict(total.by_field.most_common())}):\n" + "\n".join(total.mismatches[:SHOWN])
    )


# --- the ground truth's own rules, on the worked examples ------------------------------------


def _day(
    spans: list[tuple[str, tuple[int, int], tuple[int, int]]],
) -> dict[str, int]:
    day = datetime(2026, 11, 27).date()
    attendances = []
    for n, (key, (h1, m1), (h2, m2)) in enumerate(spans):
        activity = Activity(key, "130203001001", "c", "d", None, at_local(day, h1, m1),
                            at_local(day, h2, m2), activity_id=f"a{n}", approved=True)  # fmt: skip
        attendances.append(Attendance(activity, "v", activity.starts_at, activity.ends_at))
    return {r.activity.key: r.minutes for r in credited(reversed(attendances))}


def test_the_ground_truth_credits_the_worked_examples_as_the_rule_states() -> None:
    assert _day([("A", (8, 58), (12, 26)), ("B", (11, 5), (15, 20))]) == {"A": 180, "B": 180}
    assert _day([("A", (7, 0), (13, 0)), ("B", (13, 30), (19, 30))]) == {"A": 360, "B": 120}
    # Over the cap already: a third activity that day still has its record, of 0 minutes.
    three = _day([("A", (7, 0), (13, 0)), ("B", (13, 30), (19, 30)), ("C", (20, 0), (21, 0))])
    assert three == {"A": 360, "B": 120, "C": 0}


def test_the_ground_truth_imports_nothing_it_checks() -> None:
    """The generator and its rules use none of the services', runtime's or contracts' code."""
    for path in (Path(__file__).parent / "ground_truth").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not [n for n in names if n.startswith("muster")], f"{path.name} imports {names}"
