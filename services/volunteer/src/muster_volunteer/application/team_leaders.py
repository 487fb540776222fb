"""Whose names a volunteer may read: their own, and the leaders of the teams they were put
in. Kept from dispatch's team events by the contracts' rule of who learns which leader
(`leaders_told`, the rule notify tells members by), so a member whose message names a
leader can read that leader's name, and nobody else's."""

from __future__ import annotations

from muster_contracts.events import decode_payload
from muster_contracts.teams import TEAM_CHANGES, Team, evolve_teams, leaders_told, teams_named
from muster_runtime.mongo import ASCENDING, Database, update_or_insert
from muster_runtime.projections import ConsumedEvent
from muster_runtime.teams import TeamDocuments

TEAM_EVENT_TYPES = frozenset(kind.event_type for kind in TEAM_CHANGES)


class TeamLeaders:
    """The teams (one document each) and, per volunteer, every leader they were told of."""

    COLLECTIONS = ("teams", "leaders_known")

    def __init__(self, db: Database) -> None:
        teams, leaders = self.COLLECTIONS
        self.teams = TeamDocuments(db[teams])
        self.leaders = db[leaders]

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
                await update_or_insert(
                    self.leaders,
                    told.member,
                    {"$addToSet": {"leaders": told.leader_id}},
                    {"leaders": [told.leader_id]},
                )
            await self.teams.keep(evolve_teams(teams, event), envelope.stream_version)

    async def create_indexes(self) -> None:
        """A volunteer's teams (`teams_of`) by member and by leader."""
        await self.teams.collection.create_index([("members", ASCENDING)], name="members")
        await self.teams.collection.create_index([("leader_id", ASCENDING)], name="leader")

    async def teams_of(self, volunteer_id: str, limit: int) -> list[Team]:
        """Up to `limit` teams `volunteer_id` is in or leads, by drive then team (a team
        merged into another, left with no members, is not one)."""
        cursor = (
            self.teams.collection.find(
                {"$or": [{"members": volunteer_id}, {"leader_id": volunteer_id}]}
            )
            .sort([("drive_id", 1), ("_id", 1)])
            .limit(limit)
        )
        return [
            Team(doc["_id"], doc["drive_id"], doc["leader_id"], tuple(doc.get("members", [])))
            async for doc in cursor
            if doc.get("members")
        ]

    async def nameable_by(self, volunteer_id: str) -> frozenset[str]:
        """The volunteers whose names `volunteer_id` may read: themself and their leaders."""
        doc = await self.leaders.find_one({"_id": volunteer_id})
        return frozenset({volunteer_id, *(doc or {}).get("leaders", [])})
