"""Teams as their events describe them, and who learns which leader: one rule for every
reader (notify tells the members; the volunteer service lets members read their leader's
name).

Team events live on the drive's stream; a reader keeps the teams an event names (as they
were before it) and folds the event into them with `evolve_teams`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from muster_contracts.events.drives import (
    TeamFormed,
    TeamLeaderChanged,
    TeamMemberMoved,
    TeamsMerged,
    TeamSplit,
)

TeamChange = TeamFormed | TeamMemberMoved | TeamLeaderChanged | TeamSplit | TeamsMerged
TEAM_CHANGES = (TeamFormed, TeamMemberMoved, TeamLeaderChanged, TeamSplit, TeamsMerged)


@dataclass(frozen=True)
class Team:
    """A team: who leads, who is in it."""

    team_id: str
    drive_id: str
    leader_id: str
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeaderTold:
    """A member who learns, by a team event, the team they are in and who leads it."""

    member: str
    team_id: str
    leader_id: str


def leaders_told(event: TeamChange, teams: Mapping[str, Team]) -> list[LeaderTold]:
    """Who is newly in a team, or has a new leader, learns the team and its leader (the
    leader too, of their own team), each once.

    `teams` holds the teams the event names (`teams_named`), as they were before it.
    """

    def told(
        members: tuple[str, ...] | list[str], team_id: str, leader_id: str
    ) -> list[LeaderTold]:
        return [LeaderTold(member, team_id, leader_id) for member in dict.fromkeys(members)]

    match event:
        case TeamFormed():
            return told(event.members, event.team_id, event.leader_id)
        case TeamMemberMoved():
            to = teams.get(event.to_team_id)
            return told([event.volunteer_id], event.to_team_id, to.leader_id) if to else []
        case TeamSplit():
            return told(event.moved_members, event.new_team_id, event.new_leader_id)
        case TeamsMerged():
            absorbed = teams.get(event.absorbed_team_id)
            kept = teams.get(event.team_id)
            newcomers = list(absorbed.members) if absorbed else []
            if kept and kept.leader_id != event.leader_id:
                newcomers = [*kept.members, *newcomers]  # the kept team's leader changed too
            return told(newcomers, event.team_id, event.leader_id)
        case TeamLeaderChanged():
            team = teams.get(event.team_id)
            members = list(team.members) if team else [event.leader_id]
            return told(members, event.team_id, event.leader_id)


def evolve_teams(teams: Mapping[str, Team], event: TeamChange) -> dict[str, Team]:
    """The teams the event changes, as they are after it (the others are left out)."""
    match event:
        case TeamFormed():
            return {
                event.team_id: Team(event.team_id, event.drive_id, event.leader_id, event.members)
            }
        case TeamMemberMoved():
            changed: dict[str, Team] = {}
            source, target = teams.get(event.from_team_id), teams.get(event.to_team_id)
            if source:
                left = tuple(m for m in source.members if m != event.volunteer_id)
                changed[source.team_id] = replace(source, members=left)
            if target:
                joined = (*target.members, event.volunteer_id)
                changed[target.team_id] = replace(target, members=tuple(dict.fromkeys(joined)))
            return changed
        case TeamSplit():
            changed = {
                event.new_team_id: Team(
                    event.new_team_id, event.drive_id, event.new_leader_id, event.moved_members
                )
            }
            source = teams.get(event.team_id)
            if source:
                moved = set(event.moved_members)
                left = tuple(m for m in source.members if m not in moved)
                changed[source.team_id] = replace(source, members=left)
            return changed
        case TeamsMerged():
            kept, absorbed = teams.get(event.team_id), teams.get(event.absorbed_team_id)
            members = (*(kept.members if kept else ()), *(absorbed.members if absorbed else ()))
            merged = Team(
                event.team_id, event.drive_id, event.leader_id, tuple(dict.fromkeys(members))
            )
            changed = {event.team_id: merged}
            if absorbed:
                changed[absorbed.team_id] = replace(absorbed, members=())
            return changed
        case TeamLeaderChanged():
            team = teams.get(event.team_id)
            if team is None:
                return {}
            return {team.team_id: replace(team, leader_id=event.leader_id)}


def teams_named(event: TeamChange) -> tuple[str, ...]:
    """The teams an event reads or changes."""
    match event:
        case TeamFormed():
            return (event.team_id,)
        case TeamMemberMoved():
            return (event.from_team_id, event.to_team_id)
        case TeamSplit():
            return (event.team_id, event.new_team_id)
        case TeamsMerged():
            return (event.team_id, event.absorbed_team_id)
        case TeamLeaderChanged():
            return (event.team_id,)
