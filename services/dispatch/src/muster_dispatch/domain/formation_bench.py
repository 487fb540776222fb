"""Benchmark of team formation against the first-come baseline on a generated drive.

Run `python -m muster_dispatch.domain.formation_bench [--sign-ups 10000 --communities 100]`.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from muster_contracts.areas import AreaLevel, AreaTree, load_area_tree
from muster_contracts.events.volunteer import Skill
from muster_dispatch.domain.team_formation import (
    FormationQuality,
    TeamCandidate,
    TeamPlan,
    form_teams,
    formation_quality,
    naive_teams,
)

REQUIRED_SKILLS = (Skill.FIRST_AID, Skill.ELDERLY_CARE, Skill.ELECTRICAL_REPAIR)
PARTY_SHARE = 0.30
# How often volunteers offer each skill; independent draws, `general` for everyone.
SKILL_SHARES: dict[Skill, float] = {
    Skill.FIRST_AID: 0.10,
    Skill.MEDICAL: 0.05,
    Skill.ELDERLY_CARE: 0.14,
    Skill.CHILD_CARE: 0.07,
    Skill.TUTORING: 0.08,
    Skill.LEGAL_AID: 0.02,
    Skill.COUNSELLING: 0.03,
    Skill.ELECTRICAL_REPAIR: 0.06,
    Skill.PLUMBING: 0.04,
    Skill.HAIRCUT: 0.03,
    Skill.COOKING: 0.18,
    Skill.DRIVING: 0.12,
    Skill.PHOTOGRAPHY: 0.04,
    Skill.IT_SUPPORT: 0.05,
    Skill.SIGN_LANGUAGE: 0.01,
    Skill.TRANSLATION: 0.02,
    Skill.PATROL: 0.10,
    Skill.ENVIRONMENT: 0.12,
}
# Most volunteers give a building as home; some only their grid or community.
HOME_LEVEL_SHARES = (
    (AreaLevel.BUILDING, 0.92),
    (AreaLevel.GRID, 0.05),
    (AreaLevel.COMMUNITY, 0.03),
)


@dataclass(frozen=True)
class Run:
    name: str
    plans: list[TeamPlan]
    quality: FormationQuality
    seconds: float


def generate_candidates(
    areas: AreaTree, sign_ups: int, communities: int, seed: int
) -> list[TeamCandidate]:
    """Accepted sign-ups spread unevenly over `communities` real communities, in random order."""
    rng = random.Random(seed)
    buildings: dict[str, list[str]] = {}
    grids: dict[str, list[str]] = {}
    for area in areas.at_level(AreaLevel.BUILDING):
        buildings.setdefault(area.id[:12], []).append(area.id)
    for area in areas.at_level(AreaLevel.GRID):
        grids.setdefault(area.id[:12], []).append(area.id)
    eligible = sorted(c for c in buildings if c in grids)
    chosen = sorted(rng.sample(eligible, min(communities, len(eligible))))
    # Communities differ in how many of their residents answer a drive.
    weights = [rng.gammavariate(2.0, 1.0) for _ in chosen]
    levels = [level for level, _ in HOME_LEVEL_SHARES]
    level_weights = [share for _, share in HOME_LEVEL_SHARES]
    order = list(range(sign_ups))
    rng.shuffle(order)
    candidates = []
    for index in range(sign_ups):
        community = rng.choices(chosen, weights)[0]
        level = rng.choices(levels, level_weights)[0]
        if level is AreaLevel.BUILDING:
            home = rng.choice(buildings[community])
        elif level is AreaLevel.GRID:
            home = rng.choice(grids[community])
        else:
            home = community
        skills = frozenset(
            {Skill.GENERAL} | {s for s, share in SKILL_SHARES.items() if rng.random() < share}
        )
        candidates.append(
            TeamCandidate(
                volunteer_id=f"v-{index:06d}",
                home_area_id=home,
                is_party_member=rng.random() < PARTY_SHARE,
                skills=skills,
                signed_up_order=order[index],
            )
        )
    return candidates


def measure(
    name: str,
    algorithm: Callable[[Sequence[TeamCandidate], Sequence[Skill], int, int], list[TeamPlan]],
    candidates: list[TeamCandidate],
    size_min: int,
    size_max: int,
) -> Run:
    started = time.perf_counter()
    plans = algorithm(candidates, REQUIRED_SKILLS, size_min, size_max)
    seconds = time.perf_counter() - started
    quality = formation_quality(
        plans, candidates, REQUIRED_SKILLS, size_min=size_min, size_max=size_max
    )
    return Run(name, plans, quality, seconds)


def skills_bound(candidates: list[TeamCandidate], teams: int) -> float:
    """At most this share of teams can hold every required skill: the scarcest skill's holders."""
    if not teams:
        return 1.0
    return min(1.0, *(sum(1 for c in candidates if s in c.skills) / teams for s in REQUIRED_SKILLS))


def render(runs: list[Run], candidates: list[TeamCandidate], size_min: int, size_max: int) -> Table:
    table = Table(
        title=(
            f"Team formation: {len(candidates):,} accepted sign-ups, "
            f"team size {size_min}..{size_max}, required {', '.join(REQUIRED_SKILLS)}"
        )
    )
    table.add_column("metric")
    for run in runs:
        table.add_column(run.name, justify="right")

    def row(label: str, value: Callable[[Run], str]) -> None:
        table.add_row(label, *(value(run) for run in runs))

    def pct(x: float) -> str:
        return f"{x:.1%}"

    row("teams", lambda r: f"{r.quality.teams:,}")
    row("members in their leader's grid", lambda r: pct(r.quality.share_same_grid_as_leader))
    row(
        "members in their leader's community",
        lambda r: pct(r.quality.share_same_community_as_leader),
    )
    row("teams with every required skill", lambda r: pct(r.quality.share_teams_all_skills))
    row(
        "  (at most possible)",
        lambda r: pct(skills_bound(candidates, r.quality.teams)),
    )
    row("teams led by a party member", lambda r: pct(r.quality.share_teams_party_leader))
    row("team size min / max", lambda r: f"{r.quality.size_min} / {r.quality.size_max}")
    row("team size stdev", lambda r: f"{r.quality.size_stdev:.2f}")
    row("teams outside the size bounds", lambda r: str(r.quality.teams_outside_bounds))
    row("run time", lambda r: f"{r.seconds * 1000:,.0f} ms")
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sign-ups", type=int, default=10_000)
    parser.add_argument("--communities", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--team-min", type=int, default=6)
    parser.add_argument("--team-max", type=int, default=12)
    args = parser.parse_args(argv)
    areas = load_area_tree()
    candidates = generate_candidates(areas, args.sign_ups, args.communities, args.seed)
    runs = [
        measure("muster", form_teams, candidates, args.team_min, args.team_max),
        measure("naive (sign-up order)", naive_teams, candidates, args.team_min, args.team_max),
    ]
    console = Console()
    console.print(render(runs, candidates, args.team_min, args.team_max))
    seconds = runs[0].seconds
    verdict = "[green]within[/green]" if seconds < 2.0 else "[red]over[/red]"
    console.print(f"formation took {seconds:.2f} s, {verdict} the 2 s target")


if __name__ == "__main__":
    main()
