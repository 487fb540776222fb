"""Team formation: neighbours together, balanced sizes, required skills and a leader per team.

Deterministic and pure; `formation_quality` measures a result and `naive_teams` is the
first-come baseline it is measured against.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from muster_contracts.events.volunteer import Skill

# Area id lengths: the prefix of a home area id names the areas it lies in.
_GRID_LEN = 14
_COMMUNITY_LEN = 12
_STREET_LEN = 9
# Pools too small for a team are merged upwards: street, district, city, everything.
_MERGE_PREFIXES = (9, 6, 4, 0)
# A team may deviate this much from the pool's even size when that keeps a grid whole.
_SIZE_SLACK = 2
# Cost of one member off the even size, squared, against one member outside the team's grid.
_BALANCE_WEIGHT = 0.6
# The pseudo-trait "has a party member", repaired like a skill so every team can be led by one.
_PARTY = "party"
# Where the size repair looks for members or room, nearest first: community, street, upwards.
_SIZE_SCOPES = (_COMMUNITY_LEN, *_MERGE_PREFIXES)
# Area levels a member can share with a team, finest first, for how close they live.
_LEVELS = (_GRID_LEN, _COMMUNITY_LEN, *_MERGE_PREFIXES[:-1])

Trait = str


@dataclass(frozen=True, slots=True)
class TeamCandidate:
    """An accepted sign-up as team formation sees it."""

    volunteer_id: str
    home_area_id: str
    is_party_member: bool
    skills: frozenset[Skill]
    signed_up_order: int

    @property
    def grid_id(self) -> str | None:
        """The grid the volunteer lives in, or None when only the community is known."""
        return self.home_area_id[:_GRID_LEN] if len(self.home_area_id) >= _GRID_LEN else None

    @property
    def community_id(self) -> str | None:
        home = self.home_area_id
        return home[:_COMMUNITY_LEN] if len(home) >= _COMMUNITY_LEN else None


@dataclass(frozen=True, slots=True)
class TeamPlan:
    """One proposed team: members in sign-up order, its leader and where it lives."""

    members: tuple[str, ...]
    leader_id: str
    grid_id: str | None
    community_id: str | None
    missing_skills: tuple[Skill, ...]


@dataclass(frozen=True, slots=True)
class FormationQuality:
    """How good a formation is; shares are 0..1 and exclude the leaders themselves."""

    teams: int
    members: int
    share_same_grid_as_leader: float
    share_same_community_as_leader: float
    share_teams_all_skills: float
    share_teams_party_leader: float
    size_min: int
    size_max: int
    size_stdev: float
    teams_outside_bounds: int


def form_teams(
    sign_ups: Sequence[TeamCandidate],
    required_skills: Iterable[Skill],
    size_min: int,
    size_max: int,
) -> list[TeamPlan]:
    """Form teams of neighbours from accepted sign-ups.

    Members are pooled by community (small communities merged within their street), each
    pool is cut into ceil(n / size_max) teams of near-even size along grid boundaries, a
    size repair fills teams a pool could not make big enough from the nearest teams (or
    dissolves them into nearby teams with room), a repair pass swaps members inside the
    pool (then the street) to give every team the required skills and a party member where
    the pool allows, and each team is led by a party member from its biggest grid. Every
    team is within the bounds whenever some split of all sign-ups allows it. The result
    does not depend on input order.

    Raises:
        ValueError: bounds out of order, or a volunteer listed twice.
    """
    _check_bounds(size_min, size_max)
    candidates = sorted(sign_ups, key=lambda c: (c.home_area_id, c.signed_up_order, c.volunteer_id))
    if len({c.volunteer_id for c in candidates}) != len(candidates):
        raise ValueError("a volunteer is listed twice")
    if not candidates:
        return []
    required = _required(required_skills)
    teams: list[list[TeamCandidate]] = []
    team_pool: list[int] = []
    for pool_index, pool in enumerate(_pools(candidates, size_min)):
        for team in _partition(pool, size_min, size_max):
            teams.append(team)
            team_pool.append(pool_index)
    wanted = (*required, _PARTY)
    # Sizes first: the skill repair only swaps members, so the sizes it sees are final.
    teams, team_pool = _Sizes(teams, team_pool, wanted, size_min, size_max).run()
    _Repair(teams, team_pool, wanted).run()
    return [_plan(team, required) for team in teams]


def naive_teams(
    sign_ups: Sequence[TeamCandidate],
    required_skills: Iterable[Skill],
    size_min: int,
    size_max: int,
) -> list[TeamPlan]:
    """The first-come baseline: chunks of `size_max` in sign-up order, first member leads."""
    _check_bounds(size_min, size_max)
    required = _required(required_skills)
    ordered = sorted(sign_ups, key=lambda c: (c.signed_up_order, c.volunteer_id))
    plans = []
    for start in range(0, len(ordered), size_max):
        chunk = ordered[start : start + size_max]
        grid, community = _home_of(chunk)
        plans.append(
            TeamPlan(
                members=tuple(c.volunteer_id for c in chunk),
                leader_id=chunk[0].volunteer_id,
                grid_id=grid,
                community_id=community,
                missing_skills=_missing(chunk, required),
            )
        )
    return plans


def formation_quality(
    plans: Sequence[TeamPlan],
    candidates: Sequence[TeamCandidate],
    required_skills: Iterable[Skill],
    *,
    size_min: int | None = None,
    size_max: int | None = None,
) -> FormationQuality:
    """Measure a formation against the candidates it was formed from."""
    by_id = {c.volunteer_id: c for c in candidates}
    required = _required(required_skills)
    same_grid = same_community = others = all_skills = party_led = outside = 0
    sizes: list[int] = []
    for plan in plans:
        leader = by_id[plan.leader_id]
        members = [by_id[m] for m in plan.members]
        sizes.append(len(members))
        for member in members:
            if member.volunteer_id == plan.leader_id:
                continue
            others += 1
            if member.grid_id is not None and member.grid_id == leader.grid_id:
                same_grid += 1
            if member.community_id is not None and member.community_id == leader.community_id:
                same_community += 1
        if not _missing(members, required):
            all_skills += 1
        if leader.is_party_member:
            party_led += 1
        if (size_min is not None and len(members) < size_min) or (
            size_max is not None and len(members) > size_max
        ):
            outside += 1
    teams = len(plans)
    return FormationQuality(
        teams=teams,
        members=sum(sizes),
        share_same_grid_as_leader=same_grid / others if others else 1.0,
        share_same_community_as_leader=same_community / others if others else 1.0,
        share_teams_all_skills=all_skills / teams if teams else 1.0,
        share_teams_party_leader=party_led / teams if teams else 1.0,
        size_min=min(sizes, default=0),
        size_max=max(sizes, default=0),
        size_stdev=statistics.pstdev(sizes) if sizes else 0.0,
        teams_outside_bounds=outside,
    )


def choose_leader(members: Sequence[TeamCandidate]) -> TeamCandidate:
    """A party member if there is one, from the grid most of the team lives in, earliest first."""
    grids = Counter(m.grid_id for m in members if m.grid_id is not None)
    return min(
        members,
        key=lambda m: (
            not m.is_party_member,
            -(grids[m.grid_id] if m.grid_id is not None else 0),
            m.signed_up_order,
            m.volunteer_id,
        ),
    )


def home_of(members: Sequence[TeamCandidate]) -> tuple[str | None, str | None]:
    """The grid most members live in and the community most members live in."""
    return _home_of(members)


def _check_bounds(size_min: int, size_max: int) -> None:
    if size_min < 1 or size_max < size_min:
        raise ValueError(
            f"team size bounds must satisfy 1 <= min <= max, got {size_min}..{size_max}"
        )


def _required(skills: Iterable[Skill]) -> tuple[Skill, ...]:
    # Everyone has the general skill, so asking for it constrains nothing.
    return tuple(dict.fromkeys(s for s in skills if s is not Skill.GENERAL))


def _missing(members: Sequence[TeamCandidate], required: Sequence[Skill]) -> tuple[Skill, ...]:
    return tuple(s for s in required if not any(s in m.skills for m in members))


def _most_common(values: Iterable[str | None]) -> str | None:
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    return min(counts, key=lambda v: (-counts[v], v))


def _home_of(members: Sequence[TeamCandidate]) -> tuple[str | None, str | None]:
    return _most_common(m.grid_id for m in members), _most_common(m.community_id for m in members)


def _plan(team: list[TeamCandidate], required: Sequence[Skill]) -> TeamPlan:
    grid, community = _home_of(team)
    return TeamPlan(
        members=tuple(m.volunteer_id for m in sorted(team, key=lambda m: m.signed_up_order)),
        leader_id=choose_leader(team).volunteer_id,
        grid_id=grid,
        community_id=community,
        missing_skills=_missing(team, required),
    )


def _pools(candidates: list[TeamCandidate], size_min: int) -> list[list[TeamCandidate]]:
    """Communities big enough for a team, and small ones merged with their neighbours.

    Small communities are concatenated in id order within their street until they reach
    `size_min`; a remainder joins the street's smallest pool, or moves up a level.
    """
    groups: dict[str, list[TeamCandidate]] = {}
    for candidate in candidates:
        groups.setdefault(candidate.home_area_id[:_COMMUNITY_LEN], []).append(candidate)
    pools: list[tuple[str, list[TeamCandidate]]] = []
    small: dict[str, list[TeamCandidate]] = {}
    for key, group in groups.items():
        if len(group) >= size_min:
            pools.append((key, group))
        else:
            small[key] = group
    for prefix_len in _MERGE_PREFIXES:
        by_parent: dict[str, list[tuple[str, list[TeamCandidate]]]] = {}
        for key, group in sorted(small.items()):
            by_parent.setdefault(key[:prefix_len], []).append((key, group))
        small = {}
        for parent, items in by_parent.items():
            pending: list[TeamCandidate] = []
            pending_key = ""
            for key, group in items:
                if not pending:
                    pending_key = key
                pending.extend(group)
                if len(pending) >= size_min:
                    pools.append((pending_key, pending))
                    pending = []
            if not pending:
                continue
            hosts = [pool for pool in pools if pool[0].startswith(parent)]
            if hosts:
                min(hosts, key=lambda pool: (len(pool[1]), pool[0]))[1].extend(pending)
            else:
                small[pending_key] = pending
    # Only fewer than size_min candidates in all: they still make one team.
    pools.extend(small.items())
    pools.sort(key=lambda pool: pool[0])
    return [sorted(group, key=lambda c: (c.home_area_id, c.signed_up_order)) for _, group in pools]


def _runs(keys: Sequence[str | None]) -> tuple[list[int], list[int], list[int], list[bool]]:
    """Maximal runs of equal keys: each position's run, run starts and ends, real-key flags."""
    run_of: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    real: list[bool] = []
    previous: object = object()
    for position, key in enumerate(keys):
        if key is None or key != previous:
            starts.append(position)
            ends.append(position)
            real.append(key is not None)
        run_of.append(len(starts) - 1)
        ends[-1] = position + 1
        previous = key
    return run_of, starts, ends, real


def _majority(
    runs: tuple[list[int], list[int], list[int], list[bool]], start: int, end: int
) -> int:
    """How many of the positions start..end-1 share the commonest key (keys are sorted)."""
    run_of, starts, ends, real = runs
    best = 0
    for run in range(run_of[start], run_of[end - 1] + 1):
        if real[run]:
            best = max(best, min(ends[run], end) - max(starts[run], start))
    return best


def _partition(
    pool: list[TeamCandidate], size_min: int, size_max: int
) -> list[list[TeamCandidate]]:
    """Cut a pool (sorted by home) into near-even contiguous teams, along grid boundaries.

    A dynamic programme over cut points minimises members living outside their team's
    commonest grid and community plus a squared penalty for sizes off the even size.
    """
    n = len(pool)
    k = max(1, math.ceil(n / size_max))
    if k == 1:
        return [pool]
    even = n / k
    # When the bounds leave no even split (max < 2·min - 1), max wins: teams stay capped.
    low = max(min(size_min, n // k), math.floor(even) - _SIZE_SLACK, 1)
    high = min(size_max, math.ceil(even) + _SIZE_SLACK)
    grid_runs = _runs([c.grid_id for c in pool])
    community_runs = _runs([c.community_id for c in pool])

    cost_cache: dict[tuple[int, int], float] = {}

    def cost(start: int, end: int) -> float:
        cached = cost_cache.get((start, end))
        if cached is None:
            size = end - start
            outside_grid = size - _majority(grid_runs, start, end)
            outside_community = size - _majority(community_runs, start, end)
            cached = outside_grid + outside_community + _BALANCE_WEIGHT * (size - even) ** 2
            cost_cache[(start, end)] = cached
        return cached

    infinity = math.inf
    best: list[list[float]] = [[infinity] * (n + 1) for _ in range(k + 1)]
    cut: list[list[int]] = [[0] * (n + 1) for _ in range(k + 1)]
    best[0][0] = 0.0
    for team in range(1, k + 1):
        # Leave room for the remaining teams at their smallest and largest sizes.
        first = max(team * low, n - (k - team) * high)
        last = min(team * high, n - (k - team) * low)
        previous = best[team - 1]
        for end in range(first, last + 1):
            best_here = infinity
            best_cut = 0
            for size in range(low, high + 1):
                start = end - size
                if start < 0 or previous[start] == infinity:
                    continue
                total = previous[start] + cost(start, end)
                if total < best_here:
                    best_here, best_cut = total, start
            best[team][end] = best_here
            cut[team][end] = best_cut
    teams: list[list[TeamCandidate]] = []
    end = n
    for team in range(k, 0, -1):
        start = cut[team][end]
        teams.append(pool[start:end])
        end = start
    teams.reverse()
    return teams


def _traits(candidate: TeamCandidate, wanted: Sequence[Trait]) -> tuple[Trait, ...]:
    return tuple(
        t
        for t in wanted
        if (t == _PARTY and candidate.is_party_member) or (t != _PARTY and t in candidate.skills)
    )


class _Repair:
    """Swaps members between teams so each holds every wanted trait where the pool allows.

    A swap never costs a team a trait it already has, so coverage only grows; among the
    possible swaps the one that keeps most members in their team's grid and community wins.
    """

    def __init__(
        self, teams: list[list[TeamCandidate]], team_pool: list[int], wanted: Sequence[Trait]
    ) -> None:
        self.teams = teams
        self.wanted = wanted
        self.team_of: dict[str, int] = {}
        self.counts: list[Counter[Trait]] = []
        self.traits: dict[str, tuple[Trait, ...]] = {}
        for index, team in enumerate(teams):
            counter: Counter[Trait] = Counter()
            for member in team:
                self.team_of[member.volunteer_id] = index
                self.traits[member.volunteer_id] = _traits(member, wanted)
                counter.update(self.traits[member.volunteer_id])
            self.counts.append(counter)
        # Holders of each trait per pool and per street, the places donors are sought in.
        self.pool_of_team = team_pool
        self.holders_by_pool: dict[tuple[int, Trait], list[TeamCandidate]] = {}
        self.holders_by_street: dict[tuple[str, Trait], list[TeamCandidate]] = {}
        for index, team in enumerate(teams):
            for member in team:
                for trait in self.traits[member.volunteer_id]:
                    self.holders_by_pool.setdefault((team_pool[index], trait), []).append(member)
                    street = member.home_area_id[:_STREET_LEN]
                    self.holders_by_street.setdefault((street, trait), []).append(member)
        self.homes: dict[int, tuple[str | None, str | None]] = {}

    def run(self) -> None:
        for scope in ("pool", "street"):
            for index in range(len(self.teams)):
                for trait in self.wanted:
                    if self.counts[index][trait] == 0:
                        self._cover(index, trait, scope)

    def _home(self, index: int) -> tuple[str | None, str | None]:
        home = self.homes.get(index)
        if home is None:
            home = _home_of(self.teams[index])
            self.homes[index] = home
        return home

    def _sole_holder(self, candidate: TeamCandidate, index: int) -> bool:
        counts = self.counts[index]
        return any(counts[t] == 1 for t in self.traits[candidate.volunteer_id])

    def _fit(self, candidate: TeamCandidate, index: int) -> int:
        grid, community = self._home(index)
        return int(candidate.grid_id is not None and candidate.grid_id == grid) + int(
            candidate.community_id is not None and candidate.community_id == community
        )

    def _cover(self, needy: int, trait: Trait, scope: str) -> None:
        if scope == "pool":
            donors = self.holders_by_pool.get((self.pool_of_team[needy], trait), [])
        else:
            street = _most_common(m.home_area_id[:_STREET_LEN] for m in self.teams[needy]) or ""
            donors = self.holders_by_street.get((street, trait), [])
        outgoing = [m for m in self.teams[needy] if not self._sole_holder(m, needy)]
        if not outgoing:
            return
        best: tuple[int, int, int] | None = None
        best_pair: tuple[TeamCandidate, TeamCandidate] | None = None
        for donor in donors:
            source = self.team_of[donor.volunteer_id]
            if source == needy or self.counts[source][trait] < 2:
                continue
            if self._sole_holder(donor, source):
                continue
            for leaving in outgoing:
                gain = (
                    self._fit(donor, needy)
                    - self._fit(leaving, needy)
                    + self._fit(leaving, source)
                    - self._fit(donor, source)
                )
                # Prefer bringing the source a trait it lacks, then the earliest sign-ups.
                bonus = sum(
                    1 for t in self.traits[leaving.volunteer_id] if self.counts[source][t] == 0
                )
                key = (gain + bonus, -donor.signed_up_order, -leaving.signed_up_order)
                if best is None or key > best:
                    best, best_pair = key, (donor, leaving)
        if best_pair is not None:
            self._swap(*best_pair)

    def _swap(self, donor: TeamCandidate, leaving: TeamCandidate) -> None:
        source = self.team_of[donor.volunteer_id]
        needy = self.team_of[leaving.volunteer_id]
        self.teams[source].remove(donor)
        self.teams[needy].remove(leaving)
        self.teams[source].append(leaving)
        self.teams[needy].append(donor)
        self.team_of[donor.volunteer_id] = needy
        self.team_of[leaving.volunteer_id] = source
        self.counts[source].subtract(self.traits[donor.volunteer_id])
        self.counts[source].update(self.traits[leaving.volunteer_id])
        self.counts[needy].subtract(self.traits[leaving.volunteer_id])
        self.counts[needy].update(self.traits[donor.volunteer_id])
        self.homes.pop(source, None)
        self.homes.pop(needy, None)


class _Sizes:
    """Brings teams below `size_min` up to it, moving as few members as little as possible.

    A pool of an awkward size (9 sign-ups for teams of 5..8) cannot be cut within the
    bounds, so its teams are repaired across pools. Each undersized team, smallest first,
    looks in its community, then its street, then ever wider: it takes members from teams
    there that are above `size_min`, or is dissolved into teams there with room, whichever
    moves fewer people. Moved members are the ones living nearest their new team and
    furthest from their old one. No team is pushed outside the bounds, so whenever the
    sign-ups can be split within the bounds at all, the widest scope always succeeds:
    either the other teams hold enough spare members, or there are more teams than the
    sign-ups need and they have room for this one's members.
    """

    def __init__(
        self,
        teams: list[list[TeamCandidate]],
        team_pool: list[int],
        wanted: Sequence[Trait],
        size_min: int,
        size_max: int,
    ) -> None:
        self.teams = teams
        self.team_pool = team_pool
        self.size_min = size_min
        self.size_max = size_max
        self.traits = {m.volunteer_id: _traits(m, wanted) for team in teams for m in team}
        self.counts: list[Counter[Trait]] = [
            Counter(t for m in team for t in self.traits[m.volunteer_id]) for team in teams
        ]
        self.anchors: dict[int, dict[int, str | None]] = {}

    def run(self) -> tuple[list[list[TeamCandidate]], list[int]]:
        stuck: set[int] = set()
        while True:
            undersized = [
                index
                for index, team in enumerate(self.teams)
                if team and len(team) < self.size_min and index not in stuck
            ]
            if not undersized:
                break
            needy = min(undersized, key=lambda index: (len(self.teams[index]), index))
            if not self._mend(needy):
                # Only when no split within the bounds exists; the team stays as it is.
                stuck.add(needy)
        kept = [index for index, team in enumerate(self.teams) if team]
        return [self.teams[index] for index in kept], [self.team_pool[index] for index in kept]

    def _anchor(self, index: int) -> dict[int, str | None]:
        """The commonest area of the team's members at each level (scope prefix lengths)."""
        anchor = self.anchors.get(index)
        if anchor is None:
            homes = [m.home_area_id for m in self.teams[index]]
            anchor = {
                length: _most_common(h[:length] for h in homes if len(h) >= length)
                for length in {*_LEVELS, *_SIZE_SCOPES}
            }
            self.anchors[index] = anchor
        return anchor

    def _closeness(self, candidate: TeamCandidate, index: int) -> int:
        """How many area levels, grid to city, the candidate shares with the team's anchor."""
        anchor = self._anchor(index)
        home = candidate.home_area_id
        return sum(
            1 for length in _LEVELS if len(home) >= length and home[:length] == anchor[length]
        )

    def _in_scope(self, needy: int, length: int) -> list[int]:
        area = self._anchor(needy)[length]
        if area is None:
            return []
        return [
            index
            for index, team in enumerate(self.teams)
            if team and index != needy and self._anchor(index)[length] == area
        ]

    def _mend(self, needy: int) -> bool:
        size = len(self.teams[needy])
        deficit = self.size_min - size
        for length in _SIZE_SCOPES:
            scope = self._in_scope(needy, length)
            spare = sum(max(0, len(self.teams[i]) - self.size_min) for i in scope)
            room = sum(max(0, self.size_max - len(self.teams[i])) for i in scope)
            can_fill = spare >= deficit
            can_dissolve = room >= size
            if can_fill and (deficit <= size or not can_dissolve):
                self._fill(needy, scope, deficit)
                return True
            if can_dissolve:
                self._dissolve(needy, scope)
                return True
        return False

    def _trait_gain(self, candidate: TeamCandidate, source: int, target: int) -> int:
        """Traits the move brings a team lacking them, less traits it takes from their sole holder."""
        traits = self.traits[candidate.volunteer_id]
        brought = sum(1 for t in traits if self.counts[target][t] == 0)
        lost = sum(1 for t in traits if self.counts[source][t] == 1)
        return brought - lost

    def _fill(self, needy: int, scope: list[int], deficit: int) -> None:
        for _ in range(deficit):
            best: tuple[int, int, str] | None = None
            best_move: tuple[TeamCandidate, int] | None = None
            for source in scope:
                if len(self.teams[source]) <= self.size_min:
                    continue
                for member in self.teams[source]:
                    gain = self._closeness(member, needy) - self._closeness(member, source)
                    key = (
                        gain + self._trait_gain(member, source, needy),
                        member.signed_up_order,
                        member.volunteer_id,
                    )
                    if best is None or key > best:
                        best, best_move = key, (member, source)
            assert best_move is not None  # the scope was checked to hold enough spare members
            self._move(best_move[0], best_move[1], needy)

    def _dissolve(self, needy: int, scope: list[int]) -> None:
        while self.teams[needy]:
            best: tuple[int, int, int, str] | None = None
            best_move: tuple[TeamCandidate, int] | None = None
            for member in self.teams[needy]:
                for target in scope:
                    if len(self.teams[target]) >= self.size_max:
                        continue
                    key = (
                        self._closeness(member, target) + self._trait_gain(member, needy, target),
                        # Then the smallest team, to keep sizes even.
                        -len(self.teams[target]),
                        -target,
                        member.volunteer_id,
                    )
                    if best is None or key > best:
                        best, best_move = key, (member, target)
            assert best_move is not None  # the scope was checked to have room for everyone
            self._move(best_move[0], needy, best_move[1])

    def _move(self, member: TeamCandidate, source: int, target: int) -> None:
        self.teams[source].remove(member)
        self.teams[target].append(member)
        traits = self.traits[member.volunteer_id]
        self.counts[source].subtract(traits)
        self.counts[target].update(traits)
        self.anchors.pop(source, None)
        self.anchors.pop(target, None)
