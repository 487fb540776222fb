"""Dispatch's own projection of volunteers: who lives where, with which skills."""

from __future__ import annotations

from muster_contracts.areas import AreaTree
from muster_contracts.eligibility import VolunteerProfile
from muster_contracts.events import VolunteerRegistered
from muster_runtime.ports.versioned_documents import Document, VersionedDocuments
from muster_runtime.projections import ConsumedEvent, DocumentChange, of_type


class VolunteerPool:
    COLLECTION = "volunteer_pool"

    def __init__(self, documents: VersionedDocuments, areas: AreaTree) -> None:
        self.documents = documents
        self._areas = areas

    async def create_indexes(self) -> None:
        await self.documents.ensure_index("lineage", [("lineage", False)])

    async def apply(self, events: list[ConsumedEvent]) -> None:
        for consumed, event in of_type(events, VolunteerRegistered):
            envelope = consumed.envelope
            change = DocumentChange.setting(
                {
                    "home_area_id": event.home_area_id,
                    # By the id's prefixes: the area's own event may not be here yet.
                    "lineage": list(self._areas.prefix_lineage_ids(event.home_area_id)),
                    "categories": [c.value for c in event.categories],
                    "skills": [s.value for s in event.skills],
                    "birth_year": event.birth_year,
                    "registered_at": envelope.recorded_at,
                },
                creates=True,
            )
            await self.documents.apply(
                event.volunteer_id, envelope.stream_version, change.update, create=change.creates
            )

    async def profile(self, volunteer_id: str) -> VolunteerProfile | None:
        """What drive rules need to know of a volunteer (None: not registered yet)."""
        doc = await self.get(volunteer_id)
        if doc is None or "home_area_id" not in doc:
            return None
        return VolunteerProfile(
            home_area_id=doc["home_area_id"],
            categories=tuple(doc["categories"]),
            skills=tuple(doc["skills"]),
            birth_year=doc.get("birth_year"),
        )

    async def get(self, volunteer_id: str) -> Document | None:
        return await self.documents.get(volunteer_id)
