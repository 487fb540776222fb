"""Whose names a volunteer may read: their own, and the leaders of the teams they were put
in. Kept from dispatch's team events by the contracts' rule of who learns which leader
(`leaders_told`, the rule notify tells members by), so a member whose message names a
leader can read that leader's name, and nobody else's."""

from __future__ import annotations

from muster_contracts.events import decode_payload
from muster_contracts.teams import TEAM_CHANGES, Team, evolve_teams, leaders_told, teams_named
from muster_runtime.projections import ConsumedEvent
from muster_volunteer.application.ports import TeamBook

TEAM_EVENT_TYPES = frozenset(kind.event_type for kind in TEAM_CHANGES)


class TeamLeaders:
    """The teams (one document each) and, per volunteer, every leader they were told of."""

    def __init__(self, teams: TeamBook) -> None:
        self.teams = teams

    async def apply(self, events: list[ConsumedEvent]) -> None:
        for consumed in events:
            envelope = consumed.envelope
            if envelope.type not in TEAM_EVENT_TYPES:
                continue
            event = decode_payload(envelope.type, envelope.schema_version, envelope.payload)
            assert isinstance(event, TEAM_CHANGES)
            teams, seen = await self.teams.read(teams_named(event))
            if seen >= envelope.stream_version:
                continue  # applied before
            # Members first, the teams after: a redelivery after a stop between them
            # finds the teams as they were and tells the same leaders again ($addToSet).
            for told in leaders_told(event, teams):
                await self.teams.tell(told.member, told.leader_id)
            await self.teams.keep(evolve_teams(teams, event), envelope.stream_version)

    async def create_indexes(self) -> None:
        """A volunteer's teams (`teams_of`) by member and by leader."""
        await self.teams.create_indexes()

    async def teams_of(self, volunteer_id: str, limit: int) -> list[Team]:
        """Up to `limit` teams `volunteer_id` is in or leads, by drive then team (a team
        merged into another, left with no members, is not one)."""
        return await self.teams.teams_of(volunteer_id, limit)

    async def nameable_by(self, volunteer_id: str) -> frozenset[str]:
        """The volunteers whose names `volunteer_id` may read: themself and their leaders."""
        return frozenset({volunteer_id, *await self.teams.leaders_told(volunteer_id)})
