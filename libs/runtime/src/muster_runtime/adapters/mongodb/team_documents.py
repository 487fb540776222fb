"""Teams as a reader of the drives' events keeps them: one document per team by `_id`,
written only by a newer version of the drive's stream (a redelivery changes nothing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from muster_contracts.teams import Team
from muster_runtime.mongo import Collection, update_or_insert


class TeamDocuments:
    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def read(self, team_ids: Sequence[str]) -> tuple[dict[str, Team], int]:
        """The teams known of these ids, and the newest drive stream version among them
        (an event at or below it was applied already)."""
        teams: dict[str, Team] = {}
        version = 0
        async for doc in self.collection.find({"_id": {"$in": list(dict.fromkeys(team_ids))}}):
            teams[doc["_id"]] = Team(
                doc["_id"], doc["drive_id"], doc["leader_id"], tuple(doc.get("members", []))
            )
            version = max(version, int(doc.get("_v", 0)))
        return teams, version

    async def keep(self, teams: Mapping[str, Team], version: int) -> None:
        """Store the teams as of the drive stream's `version`."""
        for team in teams.values():
            fields = {
                "drive_id": team.drive_id,
                "leader_id": team.leader_id,
                "members": list(team.members),
                "_v": version,
            }
            await update_or_insert(
                self.collection,
                team.team_id,
                {"$set": fields},
                fields,
                guard={"_v": {"$lt": version}},
            )
