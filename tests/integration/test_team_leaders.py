"""Whose names a volunteer may read, kept on the real store from the drives' team events:
their own and their team leaders', by the rule notify tells members by, once under
redelivery."""

from __future__ import annotations

from datetime import UTC, datetime

from muster_contracts.events.drives import (
    TeamFormed,
    TeamLeaderChanged,
    TeamMemberMoved,
    TeamsMerged,
)
from muster_contracts.events.registry import DomainEvent
from muster_runtime.mongo import Database
from muster_runtime.projections import ConsumedEvent
from muster_volunteer.adapters.team_book import StoredTeamBook
from muster_volunteer.application.team_leaders import TeamLeaders
from tests.integration.helpers import organiser_event

AT = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def consumed(version: int, event: DomainEvent) -> ConsumedEvent:
    return organiser_event("drive-d-1", version, event, AT)


async def test_members_may_read_the_names_of_the_leaders_they_were_told_of(db: Database) -> None:
    leaders = TeamLeaders(StoredTeamBook(db))
    await leaders.create_indexes()
    events = [
        consumed(1, TeamFormed(
            drive_id="d-1", team_id="t-1", formation=1, leader_id="v-1", members=("v-1", "v-2")
        )),
        consumed(2, TeamFormed(
            drive_id="d-1", team_id="t-2", formation=1, leader_id="v-3", members=("v-3", "v-4")
        )),
        # v-2 moves to t-2 (led by v-3); t-2's leader becomes v-4; t-1 absorbs t-2 under v-1.
        consumed(3, TeamMemberMoved(
            drive_id="d-1", volunteer_id="v-2", from_team_id="t-1", to_team_id="t-2"
        )),
        consumed(4, TeamLeaderChanged(
            drive_id="d-1", team_id="t-2", leader_id="v-4", previous_leader_id="v-3"
        )),
        consumed(5, TeamsMerged(
            drive_id="d-1", team_id="t-1", absorbed_team_id="t-2", leader_id="v-1"
        )),
    ]  # fmt: skip
    await leaders.apply(events)
    await leaders.apply(events)  # redelivered: nothing changes
    await TeamLeaders(StoredTeamBook(db)).apply(events[2:])  # and after a restart

    assert await leaders.nameable_by("v-1") == {"v-1"}
    assert await leaders.nameable_by("v-2") == {"v-2", "v-1", "v-3", "v-4"}
    assert await leaders.nameable_by("v-3") == {"v-3", "v-4", "v-1"}
    assert await leaders.nameable_by("v-4") == {"v-4", "v-3", "v-1"}
    assert await leaders.nameable_by("v-9") == {"v-9"}  # in no team: themself only
    teams, version = await leaders.teams.read(["t-1", "t-2"])
    assert version == 5
    assert set(teams["t-1"].members) == {"v-1", "v-2", "v-3", "v-4"}
    assert teams["t-2"].members == ()
    # Their teams: the merged-away team, left with no members, is nobody's.
    assert [t.team_id for t in await leaders.teams_of("v-3", 10)] == ["t-1"]
    assert [t.team_id for t in await leaders.teams_of("v-1", 10)] == ["t-1"]
    assert await leaders.teams_of("v-9", 10) == []
