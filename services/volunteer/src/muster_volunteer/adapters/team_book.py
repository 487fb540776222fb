"""The teams and the leaders each member was told of, on the document store: the teams
as the runtime's `TeamDocuments` (`adapters.mongodb.team_documents`) keeps them, indexed by
member and by leader, and one document per member listing their leaders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from muster_contracts.teams import Team
from muster_runtime.adapters.mongodb.team_documents import TeamDocuments
from muster_runtime.mongo import ASCENDING, Database, update_or_insert
from muster_volunteer.application.ports import TeamBook


class StoredTeamBook(TeamBook):
    COLLECTIONS = ("teams", "leaders_known")

    def __init__(self, db: Database) -> None:
        teams, leaders = self.COLLECTIONS
        self._teams = TeamDocuments(db[teams])
        self._leaders = db[leaders]

    async def read(self, team_ids: Sequence[str]) -> tuple[dict[str, Team], int]:
        return await self._teams.read(team_ids)

    async def keep(self, teams: Mapping[str, Team], version: int) -> None:
        await self._teams.keep(teams, version)

    async def tell(self, member: str, leader_id: str) -> None:
        await update_or_insert(
            self._leaders, member, {"$addToSet": {"leaders": leader_id}}, {"leaders": [leader_id]}
        )

    async def leaders_told(self, volunteer_id: str) -> set[str]:
        doc = await self._leaders.find_one({"_id": volunteer_id})
        return set((doc or {}).get("leaders", []))

    async def teams_of(self, volunteer_id: str, limit: int) -> list[Team]:
        cursor = (
            self._teams.collection.find(
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

    async def create_indexes(self) -> None:
        collection = self._teams.collection
        await collection.create_index([("members", ASCENDING)], name="members")
        await collection.create_index([("leader_id", ASCENDING)], name="leader")
