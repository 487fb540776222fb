"""Events of the area tree: reference data that admins extend beyond the packaged file.

Stream: one `area-tree` stream (dispatch), so every addition reaches a consumer in order
and a parent always before its children.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from muster_contracts.events.registry import DomainEvent

AREA_TREE_STREAM = "area-tree"
# The one stream of the tree's additions: its id is its type.
AREA_TREE_STREAM_ID = AREA_TREE_STREAM


class AreaAdded(DomainEvent):
    """An admin added an area below an existing one (level and parent follow from its id)."""

    event_type: ClassVar[str] = "area.added"
    stream_type: ClassVar[str] = AREA_TREE_STREAM

    area_id: str = Field(min_length=4, max_length=16, pattern=r"^[0-9]+$")
    name: str = Field(min_length=1, max_length=100)
