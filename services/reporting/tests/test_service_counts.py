"""What an activity's event counts, given its facts so far: a pure rule, no store."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from muster_contracts.areas import load_area_tree
from muster_contracts.events import VolunteerRegistered
from muster_contracts.events.activities import (
    ActivityScheduled,
    HoursApproved,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
)
from muster_reporting.domain.periods import cell_id, periods_of
from muster_reporting.domain.service_counts import count_service, delta_of, spread
from muster_reporting.domain.standing import StandingChange, standing_change

AREAS = load_area_tree()
SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 11, 27, 2, tzinfo=UTC)
FACTS = {
    "_id": "a1", "place_area_id": "1302030010010101", "category": "elderly_care",
    "drive_id": "d1", "team_id": None, "day": "2026-11-27",
}  # fmt: skip


def test_scheduling_counts_an_activity_not_held_yet_on_its_local_start_day() -> None:
    payload = {**FACTS, "activity_id": "a1", "starts_at": "2026-12-31T23:30:00+00:00"}
    counted = count_service(ActivityScheduled.event_type, payload, None, SHANGHAI, AT)
    assert counted.delta is not None
    assert (counted.delta.day, dict(counted.delta.counts)) == (
        date(2027, 1, 1),
        {"activities_scheduled": 1},
    )
    assert counted.delta.breakdowns() == {
        "category.elderly_care.activities_scheduled": 1,
        "drives.d1.activities_scheduled": 1,
    }
    assert counted.facts is not None
    assert (counted.create, counted.listed, counted.facts["day"]) == (True, True, "2027-01-01")


def test_the_approval_counts_the_activity_held_with_the_beneficiaries_recorded_before() -> None:
    facts = {**FACTS, "beneficiaries": {"elderly": 12, "children": 3}}
    counted = count_service(HoursApproved.event_type, {"activity_id": "a1"}, facts, SHANGHAI, AT)
    assert counted.delta is not None
    assert dict(counted.delta.counts) == {
        "activities": 1, "activities_scheduled": -1, "beneficiaries.children": 3,
        "beneficiaries.elderly": 12, "beneficiaries_total": 15,
    }  # fmt: skip
    assert (counted.stored, counted.listed) == ({"approved": True}, False)
    again = count_service(
        HoursApproved.event_type, {"activity_id": "a1"}, counted.facts, SHANGHAI, AT
    )
    assert again.delta is None  # settled already


def test_a_second_record_of_a_volunteer_adds_minutes_but_no_turnout() -> None:
    record = {
        "activity_id": "a1",
        "volunteer_id": "v1",
        "minutes": 60,
        "service_date": "2026-11-28",
    }
    first = count_service(ServiceRecordIssued.event_type, record, FACTS, SHANGHAI, AT)
    assert first.delta is not None
    assert first.facts is not None
    assert dict(first.delta.counts) == {"minutes": 60, "turnouts": 1}
    assert first.delta.day == date(2026, 11, 28)  # the day served
    second = count_service(ServiceRecordIssued.event_type, record, first.facts, SHANGHAI, AT)
    assert second.delta is not None
    assert (dict(second.delta.counts), second.stored) == ({"minutes": 60}, None)


def test_an_activity_scheduled_before_the_history_began_counts_nothing() -> None:
    record = {"activity_id": "a0", "volunteer_id": "v1", "minutes": 60}
    assert count_service(ServiceRecordIssued.event_type, record, None, SHANGHAI, AT).delta is None


def test_a_change_spreads_to_every_area_up_the_tree_and_every_period_of_its_day() -> None:
    delta = delta_of(FACTS, "2026-11-27", {"minutes": 30})
    spread_cells = spread(AREAS, delta)
    lineage = AREAS.prefix_lineage_ids(delta.place_area_id)
    assert {cell for _, cell, _ in spread_cells} == {
        cell_id(area, period) for area in lineage for period in periods_of(date(2026, 11, 27))
    }
    by_cell = {cell: counts for _, cell, counts in spread_cells}
    parent, child = lineage[-2], lineage[-1]
    assert by_cell[cell_id(parent, "2026-11")] == {
        "minutes": 30,
        "category.elderly_care.minutes": 30,
        "drives.d1.minutes": 30,
        f"children.{child}.minutes": 30,
        f"children.{child}.category.elderly_care.minutes": 30,
        f"children.{child}.drives.d1.minutes": 30,
    }
    assert not any(name.startswith("children.") for name in by_cell[cell_id(child, None)])


def test_a_volunteer_s_standing_changes_by_registration_and_approved_minutes() -> None:
    registered = standing_change(
        VolunteerRegistered.event_type, {"volunteer_id": "v1", "home_area_id": "130203"}
    )
    issued = standing_change(ServiceRecordIssued.event_type, {"volunteer_id": "v1", "minutes": 90})
    adjusted = standing_change(
        ServiceRecordAdjusted.event_type, {"volunteer_id": "v1", "delta_minutes": -15}
    )
    assert registered == StandingChange("v1", home_area_id="130203")
    assert registered.rises
    assert issued == StandingChange("v1", minutes=90)
    assert issued.rises
    assert adjusted == StandingChange("v1", minutes=-15)
    assert not adjusted.rises
    assert standing_change(HoursApproved.event_type, {"activity_id": "a1"}) is None
