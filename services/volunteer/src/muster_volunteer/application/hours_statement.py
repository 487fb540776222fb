"""The hours statement (志愿服务证明): a volunteer's approved service records with what a
certificate names — the activity, its drive, where it took place and the organising unit —
from the activities and drives this service already keeps from dispatch's events."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from muster_contracts.areas import AreaLevel, AreaTree
from muster_contracts.events.activities import ActivityScheduled
from muster_volunteer.application.attendance import ActivityBoard
from muster_volunteer.application.sign_ups import DriveBoard
from muster_volunteer.domain.service_categories import Language, category_name


def area_name(areas: AreaTree, area_id: str, below: AreaLevel) -> str:
    """An area's name with its ancestors under `below` (`路北区 乔屯街道`), or its id while
    the tree does not hold it yet (an area added elsewhere whose event is on its way)."""
    if area_id not in areas:
        return area_id
    return " ".join(a.name for a in areas.path(area_id) if a.level.depth > below.depth)


def name_records(
    records: list[dict[str, Any]],
    activities: Mapping[str, Mapping[str, Any]],
    drives: Mapping[str, Mapping[str, Any]],
    areas: AreaTree,
    lang: Language,
) -> list[dict[str, Any]]:
    """Each record with its names: the activity's title, the drive's, the category's in
    `lang`, the place, and the organising unit — the area the drive was launched for (whose
    organisers approve the hours), or the place where no drive is known (a team's activity).
    A name not known yet (its event still on its way) is None."""
    named = []
    for record in records:
        activity = activities.get(record["activity_id"], {})
        drive_id = record.get("drive_id") or activity.get("drive_id")
        drive = drives.get(drive_id, {}) if drive_id else {}
        unit_area = drive.get("scope_area_id") or record["place_area_id"]
        named.append(
            record
            | {
                "activity_title": activity.get("title"),
                "drive_title": drive.get("title"),
                "category_name": category_name(record["category"], lang),
                "place_name": area_name(areas, record["place_area_id"], AreaLevel.DISTRICT),
                "organised_by": {
                    "area_id": unit_area,
                    "name": area_name(areas, unit_area, AreaLevel.CITY),
                },
            }
        )
    return named


def compose_statement(
    volunteer: Mapping[str, str],
    service: Mapping[str, Any],
    activities: Mapping[str, Mapping[str, Any]],
    drives: Mapping[str, Mapping[str, Any]],
    areas: AreaTree,
    issuer: str,
    issued_at: datetime,
    lang: Language,
) -> dict[str, Any]:
    """A numbered statement of `service` (`ActivityBoard.service_record`) for `volunteer`
    (`volunteer_id`, `name`, `home_area_id`), its records named by `name_records`."""
    volunteer_id, home_area_id = volunteer["volunteer_id"], volunteer["home_area_id"]
    records = service["records"]
    digest = hashlib.sha256(
        f"{volunteer_id}:{service['total_minutes']}:{len(records)}".encode()
    ).hexdigest()[:8]
    return {
        "statement_no": f"MUSTER-{issued_at:%Y%m%d}-{digest.upper()}",
        "issued_by": issuer,
        "issued_at": issued_at,
        "lang": lang,
        "volunteer": {
            "volunteer_id": volunteer_id,
            "name": volunteer["name"],
            "home_area": [a.name for a in areas.path(home_area_id)]
            if home_area_id in areas
            else [home_area_id],
        },
        **{k: v for k, v in service.items() if k not in ("volunteer_id", "records")},
        "records": name_records(records, activities, drives, areas, lang),
    }


class HoursStatements:
    """Statements issued by one unit, from the service records and the names kept here."""

    def __init__(
        self, board: ActivityBoard, drives: DriveBoard, areas: AreaTree, issuer: str
    ) -> None:
        self._board = board
        self._drives = drives
        self._areas = areas
        self._issuer = issuer

    async def statement(
        self, volunteer: Mapping[str, str], issued_at: datetime, lang: Language
    ) -> dict[str, Any]:
        """My statement: `volunteer` holds `volunteer_id`, `name` and `home_area_id`."""
        service = await self._board.service_record(volunteer["volunteer_id"])
        records = service["records"]
        activities = await self._activities({r["activity_id"] for r in records})
        drive_ids = {
            r.get("drive_id") or activities.get(r["activity_id"], {}).get("drive_id")
            for r in records
        }
        drives = await self._drives.drives_by_id({d for d in drive_ids if d})
        return compose_statement(
            volunteer, service, activities, drives, self._areas, self._issuer, issued_at, lang
        )

    async def _activities(self, activity_ids: set[str]) -> dict[str, dict[str, Any]]:
        """Each activity's scheduling (title, drive, place), as dispatch announced it."""
        scheduled: dict[str, dict[str, Any]] = {}
        for activity_id, events in (await self._board.events_by_id(activity_ids)).items():
            first = next((e for e in events if e["type"] == ActivityScheduled.event_type), None)
            if first is not None:
                scheduled[activity_id] = first["payload"]
        return scheduled
